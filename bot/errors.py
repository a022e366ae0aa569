"""Errors of the Discord layer and the one place that turns any error into a short reply.

The tree's error handler, button callbacks and the message listener all call
`user_message`; whatever it cannot name is unexpected, logged with context, and answered
with a generic apology, so no traceback ever reaches Discord.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from imaging.errors import ImagingError
from imaging.messages import render_error as render_imaging_error
from rag.errors import RagError
from rag.messages import render_error as render_rag_error

from .i18n import COMMON, Lang, Texts, render

__all__ = [
    "BotError",
    "RateLimitedError",
    "NotAllowedError",
    "GoneError",
    "GuildOnlyError",
    "ShuttingDownError",
    "register_texts",
    "user_message",
]

_TEXTS: dict[str, Mapping[Lang, str]] = dict(COMMON)


def register_texts(texts: Texts) -> None:
    """Features add their own error strings (keys are `code` or `code.reason`)."""
    _TEXTS.update(texts)


class BotError(Exception):
    """A domain error of the Discord layer: `code` picks the message, `params` fill it."""

    code = "unexpected"

    def __init__(self, detail: str = "", **params: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class RateLimitedError(BotError):
    code = "rate_limited"

    def __init__(self, scope: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"{scope} limit", reason=scope, seconds=seconds, minutes=max(1, math.ceil(seconds / 60)))


class NotAllowedError(BotError):
    code = "not_owner"


class GoneError(BotError):
    code = "gone"


class GuildOnlyError(BotError):
    code = "guild_only"


class ShuttingDownError(BotError):
    """Work that would start after the queue and workers closed (the bot is stopping)."""

    code = "restarting"


# Errors whose CLI text names files, settings or commands a member cannot act on.
_ADMIN_ONLY_RAG = frozenset({"index_missing", "index_corrupt", "index_mismatch", "glossary_error", "missing_extra", "rag_error"})
_ADMIN_ONLY_IMAGING = frozenset({"missing_extra", "output_unwritable", "clip_vocabulary_missing", "stability_invalid"})


def _render_bot(error: BotError, lang: Lang) -> str:
    key = error.code
    reason = error.params.get("reason")
    if reason and f"{key}.{reason}" in _TEXTS:
        key = f"{key}.{reason}"
    if key not in _TEXTS:
        key = "unexpected"
    return render(_TEXTS, key, lang, **error.params)


def user_message(error: BaseException, lang: Lang) -> str | None:
    """The member-facing sentence for a known error; None when it is unexpected (log it)."""
    import discord
    from discord import app_commands

    original = getattr(error, "original", None)
    if isinstance(error, app_commands.CommandInvokeError) and original is not None:
        error = original
    if isinstance(error, BotError):
        return _render_bot(error, lang)
    if isinstance(error, RagError):
        if error.code in _ADMIN_ONLY_RAG:
            return None if error.code == "rag_error" else render(_TEXTS, "kb_unavailable", lang)
        return render_rag_error(error, lang)
    if isinstance(error, ImagingError):
        if error.code in _ADMIN_ONLY_IMAGING:
            return render(_TEXTS, "images_unavailable", lang)
        return render_imaging_error(error, lang)
    if isinstance(error, discord.Forbidden):
        return render(_TEXTS, "bot_forbidden", lang)
    if isinstance(error, discord.NotFound):  # the message, thread or interaction was deleted meanwhile
        return render(_TEXTS, "gone", lang)
    if isinstance(error, app_commands.MissingPermissions):
        return render(_TEXTS, "missing_permissions", lang, permissions=", ".join(error.missing_permissions))
    if isinstance(error, app_commands.BotMissingPermissions):
        return render(_TEXTS, "bot_missing_permissions", lang, permissions=", ".join(error.missing_permissions))
    if isinstance(error, app_commands.NoPrivateMessage):
        return render(_TEXTS, "guild_only", lang)
    if isinstance(error, app_commands.CommandOnCooldown):
        return render(_TEXTS, "rate_limited.user", lang, seconds=max(1, math.ceil(error.retry_after)))
    if isinstance(error, app_commands.TransformerError):
        return render(_TEXTS, "invalid_option", lang, value=str(error.value)[:50])
    return None
