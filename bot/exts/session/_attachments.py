"""Candidate images as Discord files that fit the upload limits.

Each file must fit the guild's per-file limit, and one message's body may be at most
25 MiB in all, so a message of n images gives each at most 1/n of that.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import discord

from imaging.output import fit_to_limit

from ...runtime import HuayiRuntime

__all__ = ["image_files", "per_file_limit", "MAX_FILES", "REQUEST_LIMIT"]

MAX_FILES = 10
REQUEST_LIMIT = 24 * 1024 * 1024  # 25 MiB per request, less room for the JSON part and multipart framing


def per_file_limit(filesize_limit: int, count: int) -> int:
    return max(1, min(filesize_limit, REQUEST_LIMIT // max(1, count)))


async def image_files(
    runtime: HuayiRuntime, images: Sequence[tuple[str, str]], filesize_limit: int
) -> list[discord.File]:
    """(path, file name without suffix) pairs, re-encoded off the event loop where too big."""
    limit = per_file_limit(filesize_limit, len(images))
    files = []
    for path, stem in images:
        encoded = await runtime.run_quick(fit_to_limit, path, limit)
        files.append(discord.File(io.BytesIO(encoded.data), filename=f"{stem}{encoded.filename_suffix}"))
    return files
