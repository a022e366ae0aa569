"""Split documents into retrieval chunks that follow headings and fit the embedder's window.

Each chunk is one section (or a piece of a long section). Its `index_text` is prefixed
with the document title and heading path, so a chunk read alone still says what it is
about — "牡丹 · 毒性" — for both BM25 and the dense encoder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .loaders import LoadedDocument

__all__ = ["Chunk", "chunk_document", "SEPARATORS"]

SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", "、", " ", ""]


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    path: str
    lang: str
    title: str
    heading: str
    text: str
    position: int
    tags: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"{self.title} · {self.heading}" if self.heading else self.title

    @property
    def index_text(self) -> str:
        return f"{self.prefix}\n{self.text}"


def _sections(doc: LoadedDocument) -> list[tuple[str, str]]:
    if not doc.markdown:
        return [("", doc.text)]
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")], strip_headers=True
    )
    out: list[tuple[str, str]] = []
    for part in splitter.split_text(doc.text):
        levels = [part.metadata.get(k, "") for k in ("h2", "h3", "h4")]
        heading = " > ".join(h for h in levels if h)
        if not heading and part.metadata.get("h1", "") not in ("", doc.title):
            heading = part.metadata["h1"]
        out.append((heading, part.page_content))
    return out


def chunk_document(doc: LoadedDocument, count_tokens: Callable[[list[str]], list[int]], max_tokens: int) -> list[Chunk]:
    """Heading-aware chunks of at most `max_tokens` tokens each (prefix included).

    `count_tokens` counts a list of texts at once: each document's prefixes and section
    bodies are tokenised in one batch, and only sections over budget are counted again
    piece by piece while they are split.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    sections = [(heading, body.strip()) for heading, body in _sections(doc) if body.strip()]
    prefixes = [f"{doc.title} · {heading}" if heading else doc.title for heading, _ in sections]
    counts = count_tokens(prefixes + [body for _, body in sections])
    chunks: list[Chunk] = []
    for n, (heading, body) in enumerate(sections):
        budget = max(32, max_tokens - counts[n] - 4)
        if counts[len(sections) + n] <= budget:
            pieces = [body]
        else:
            splitter = RecursiveCharacterTextSplitter(
                chunk_size=budget,
                chunk_overlap=budget // 10,
                length_function=lambda text: count_tokens([text])[0],
                separators=SEPARATORS,
                keep_separator="end",
            )
            pieces = [p.strip() for p in splitter.split_text(body) if p.strip()]
        for piece in pieces:
            digest = hashlib.sha1(f"{doc.path}\0{len(chunks)}\0{piece}".encode()).hexdigest()[:16]
            chunks.append(
                Chunk(
                    chunk_id=digest,
                    doc_id=doc.doc_id,
                    path=doc.path,
                    lang=doc.lang,
                    title=doc.title,
                    heading=heading,
                    text=piece,
                    position=len(chunks),
                    tags=list(doc.tags),
                )
            )
    return chunks
