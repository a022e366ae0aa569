"""Checking and storing a knowledge-base upload, with no Discord objects involved.

Uploads come from server admins, but a file name or content is still untrusted: the
name decides where bytes land on disk and whether the indexer sees the file at all
(it skips hidden, `_`-prefixed and README files), and the content decides which parser
runs. So names are rebuilt from safe characters, content must match its type before a
parser sees it, and files appear in the uploads folder only once completely written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rag.errors import LoaderError
from rag.loaders import is_supported, load_bytes

from ...errors import BotError

__all__ = [
    "ALLOWED_SUFFIXES",
    "MAX_UNPACKED_BYTES",
    "UploadRejected",
    "UnreadableUpload",
    "StoredUpload",
    "safe_filename",
    "check_declared",
    "check_content",
    "check_readable",
    "store_upload",
    "count_uploads",
]

log = logging.getLogger(__name__)
ALLOWED_SUFFIXES = (".md", ".txt", ".pdf", ".html", ".htm", ".docx")
TEXT_SUFFIXES = frozenset({".md", ".txt", ".html", ".htm"})
MAX_STEM_BYTES = 150
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
_SEPARATORS = "-_"


class UploadRejected(BotError):
    """An upload that is refused; `reason` picks the message (type, too_large, magic, ...)."""

    code = "kb_upload"

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(f"upload rejected: {reason}", reason=reason, **params)


class UnreadableUpload(BotError):
    """The loader could not turn the file into text; `reason` is the loader's (pdf, empty, ...)."""

    code = "kb_unreadable"


@dataclass(frozen=True)
class StoredUpload:
    """Where an upload lives; `duplicate` when identical content was already there (nothing written)."""

    path: Path
    duplicate: bool = False
    renamed: bool = False

    @property
    def name(self) -> str:
        return self.path.name


def _safe_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category[0] in "LNM" or ch in _SEPARATORS:
        return ch
    return "-"


def _collapse(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _SEPARATORS and out and out[-1] in _SEPARATORS:
            continue
        out.append(ch)
    return "".join(out).strip(_SEPARATORS)


def _clip_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")


def safe_filename(raw: str) -> str:
    """A flat, visible file name the indexer will read, keeping CJK and other letters.

    Only the last path component counts (both `/` and `\\`), so `../../etc/passwd.md`
    becomes `passwd.md`; anything but letters, digits, marks, `-` and `_` becomes `-`
    (dots in the stem too, so `x.php.md` cannot pose as two types). Raises
    `UploadRejected("type")` for other suffixes and `("name")` when nothing usable is left.
    """
    name = unicodedata.normalize("NFKC", raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, dot, suffix = name.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadRejected("type", suffix=_clip_utf8(suffix, 16) or "-", allowed=", ".join(ALLOWED_SUFFIXES))
    clean = _collapse("".join(_safe_char(ch) for ch in stem))
    clean = _collapse(_clip_utf8(clean, MAX_STEM_BYTES))
    if not any(unicodedata.category(ch)[0] in "LN" for ch in clean):
        raise UploadRejected("name")
    candidate = f"{clean}{suffix}"
    if not is_supported(Path(candidate)):  # README.md and the like are skipped by the indexer
        candidate = f"upload-{candidate}"
    return candidate


def check_declared(filename: str, size: int, max_bytes: int) -> str:
    """The safe name, after checking what Discord declares, before downloading anything."""
    name = safe_filename(filename)
    if size > max_bytes:
        raise UploadRejected("too_large", size=_size(size), limit=_size(max_bytes))
    if size <= 0:
        raise UploadRejected("empty")
    return name


def _size(size: int) -> str:
    """A size as members read it: `5.0 MiB`, `4.9 KiB`, `512 B`."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} B"


def _check_docx(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRejected("magic", kind="DOCX") from None
    if not any(m.filename == "word/document.xml" for m in members):
        raise UploadRejected("magic", kind="DOCX")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise UploadRejected("unpacked_too_large", limit=_size(MAX_UNPACKED_BYTES))


def _check_text(data: bytes) -> None:
    if b"\x00" in data:
        raise UploadRejected("encoding")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadRejected("encoding") from None
    if not text.strip():
        raise UploadRejected("empty")


def check_content(data: bytes, name: str, max_bytes: int) -> None:
    """The bytes must be what the suffix claims: %PDF-, a DOCX zip, or UTF-8 text."""
    if len(data) > max_bytes:
        raise UploadRejected("too_large", size=_size(len(data)), limit=_size(max_bytes))
    if not data:
        raise UploadRejected("empty")
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf":
        if not data.startswith(b"%PDF-"):
            raise UploadRejected("magic", kind="PDF")
    elif suffix == ".docx":
        _check_docx(data)
    elif suffix in TEXT_SUFFIXES:
        _check_text(data)
    else:
        raise UploadRejected("type", suffix=suffix, allowed=", ".join(ALLOWED_SUFFIXES))


def check_readable(data: bytes, name: str) -> None:
    """Parse the file as the indexer will (blocking), so an unreadable one is never stored."""
    try:
        load_bytes(data, name)
    except LoaderError as exc:
        raise UnreadableUpload(exc.detail, reason=str(exc.params.get("reason") or "")) from exc
    except Exception as exc:  # noqa: BLE001 - a parser crash on a hostile file is still "unreadable"
        log.warning("parser failed on upload %s: %r", name, exc)
        raise UnreadableUpload(f"{type(exc).__name__}: {exc}") from exc


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return _digest(path.read_bytes())
    except OSError:
        return None


def _numbered(name: str, n: int) -> str:
    stem, suffix = os.path.splitext(name)
    return f"{stem}-{n}{suffix}"


def _place(temporary: Path, target: Path) -> bool:
    """Publish the finished file under `target` unless that name is taken; False when it is.

    A hard link is atomic and never overwrites. Where the file system has no hard links,
    a checked rename is the fallback; the caller's knowledge lock keeps that race-free.
    """
    try:
        os.link(temporary, target)
        return True
    except FileExistsError:
        return False
    except OSError:
        if target.exists():
            return False
        os.replace(temporary, target)
        return True


def store_upload(directory: Path, name: str, data: bytes) -> StoredUpload:
    """Write `data` as `directory/name` atomically, never replacing another file.

    Identical content already in the folder (under any name) is reported, not copied.
    A different file of the same name keeps its place; the upload gets `name-2`, `name-3`...
    The bytes go to a hidden temporary file (which the indexer ignores) and are hard-linked
    into place, which fails rather than overwrites if the name was taken meanwhile.
    """
    if Path(name).name != name or name.startswith("."):
        raise UploadRejected("name")
    directory.mkdir(parents=True, exist_ok=True)
    digest = _digest(data)
    for existing in sorted(directory.iterdir()):
        if existing.is_file() and not existing.name.startswith(".") and _file_digest(existing) == digest:
            return StoredUpload(existing, duplicate=True)
    temporary = directory / f".upload-{secrets.token_hex(8)}.tmp"
    try:
        with temporary.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        for n in range(1, 1000):
            target = directory / (name if n == 1 else _numbered(name, n))
            if _place(temporary, target):
                return StoredUpload(target, renamed=n > 1)
        raise UploadRejected("name")
    finally:
        temporary.unlink(missing_ok=True)


def count_uploads(directory: Path) -> int:
    """Files an admin uploaded under `directory` (all servers' folders when given the root)."""
    if not directory.is_dir():
        return 0
    return sum(1 for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
