"""Read knowledge-base files (Markdown, text, PDF, HTML, DOCX) into plain text plus metadata.

Every failure — binary junk, bad encoding, a broken PDF — becomes a `LoaderError`
naming the file, so indexing can skip it and report it instead of crashing.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LoaderError
from .text import detect_lang

__all__ = ["LoadedDocument", "SUPPORTED_SUFFIXES", "load_file", "load_bytes", "is_supported"]

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".pdf", ".html", ".htm", ".docx"})
_SKIP_NAMES = frozenset({"readme.md", "contributing.md"})


@dataclass
class LoadedDocument:
    """One source file as text. `markdown` is True when `text` keeps `#` headings."""

    text: str
    doc_id: str
    title: str
    lang: str
    path: str
    tags: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    markdown: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES and path.name.lower() not in _SKIP_NAMES and not path.name.startswith((".", "_"))


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise LoaderError(f"{name}: looks like a binary file, not text", path=name, reason="binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        bad = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\n\r\t\f")
        if bad > 8:
            break
        return text
    raise LoaderError(f"{name}: not readable as UTF-8 or GB18030 text", path=name, reason="encoding")


def _slug(rel_path: str) -> str:
    stem = re.sub(r"\.[^.]+$", "", rel_path)
    return re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", stem).strip("-").lower() or "document"


def _markdown(data: bytes, rel: str) -> LoadedDocument:
    import frontmatter
    import yaml

    text = _decode(data, rel)
    try:
        post = frontmatter.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise LoaderError(f"{rel}: front matter is not valid YAML ({exc})", path=rel, reason="front_matter") from exc
    meta = dict(post.metadata)
    body = post.content
    heading = re.search(r"^#\s+(.+)$", body, re.M)
    title = str(meta.get("title") or (heading.group(1).strip() if heading else Path(rel).stem))
    return LoadedDocument(
        text=body,
        doc_id=str(meta.get("id") or _slug(rel)),
        title=title,
        lang=str(meta.get("lang") or detect_lang(body)),
        path=rel,
        tags=[str(t) for t in meta.get("tags") or []],
        aliases=[str(a) for a in meta.get("aliases") or []],
        markdown=True,
        extra={k: v for k, v in meta.items() if k in {"latin"}},
    )


def _pdf(data: bytes, rel: str) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoaderError(f"{rel}: not a readable PDF ({exc})", path=rel, reason="pdf") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip()), title


def _html(data: bytes, rel: str) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(data, rel), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    title = soup.title.get_text(strip=True) if soup.title else None
    body = soup.body or soup
    text = body.get_text("\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip(), title


def _docx(data: bytes, rel: str) -> tuple[str, str | None]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, ValueError, KeyError, OSError) as exc:
        raise LoaderError(f"{rel}: not a readable DOCX ({exc})", path=rel, reason="docx") from exc
    except Exception as exc:  # zipfile.BadZipFile and lxml errors vary by version
        raise LoaderError(f"{rel}: not a readable DOCX ({exc})", path=rel, reason="docx") from exc
    lines = []
    for para in document.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if not text:
            continue
        if style.startswith("heading") and style[-1:].isdigit():
            lines.append(f"\n{'#' * int(style[-1])} {text}\n")
        elif style == "title":
            lines.append(f"# {text}\n")
        else:
            lines.append(text)
    title = document.core_properties.title or None
    return "\n".join(lines).strip(), title


def load_bytes(data: bytes, rel_path: str) -> LoadedDocument:
    """Parse `data` as the file named `rel_path` (its suffix picks the loader)."""
    suffix = Path(rel_path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoaderError(f"{rel_path}: unsupported file type {suffix or '(none)'}", path=rel_path, reason="type")
    if suffix in {".md", ".markdown"}:
        doc = _markdown(data, rel_path)
    else:
        title: str | None
        markdown = suffix in {".html", ".htm", ".docx"}
        if suffix == ".pdf":
            text, title = _pdf(data, rel_path)
        elif suffix in {".html", ".htm"}:
            text, title = _html(data, rel_path)
        elif suffix == ".docx":
            text, title = _docx(data, rel_path)
        else:
            text, title = _decode(data, rel_path), None
        doc = LoadedDocument(
            text=text,
            doc_id=_slug(rel_path),
            title=(title or Path(rel_path).stem).strip(),
            lang=detect_lang(text[:4000]),
            path=rel_path,
            markdown=markdown,
        )
    if not doc.text.strip():
        raise LoaderError(f"{rel_path}: contains no text", path=rel_path, reason="empty")
    return doc


def load_file(path: Path, rel_path: str | None = None) -> LoadedDocument:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"{path}: cannot be read ({exc.strerror})", path=str(path), reason="io") from exc
    return load_bytes(data, rel_path or path.name)
