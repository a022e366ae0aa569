"""What the dense encoder sees, so an English-only model can still serve Chinese.

With the default English-only embedder, Chinese text is mostly `[UNK]`. A Chinese
question is therefore embedded as the English glossary terms it contains, and a Chinese
chunk as the English terms of its title, heading and body: both sides meet in English.
A multilingual model (`EMBEDDING_MULTILINGUAL=true`) sees the original text instead.
"""

from __future__ import annotations

from .aspects import english_heading
from .chunking import Chunk
from .glossary import Glossary
from .text import Lang

__all__ = ["DenseView"]


class DenseView:
    def __init__(self, glossary: Glossary, multilingual: bool = False) -> None:
        self.glossary = glossary
        self.multilingual = multilingual

    @property
    def key(self) -> str:
        """Recorded in the index manifest: changing the view needs a rebuild."""
        return "original" if self.multilingual else "glossary-english-2"

    def _english_terms(self, text: str) -> str:
        return ", ".join(self.glossary.translate_terms(text, "en"))

    def query(self, text: str, lang: Lang) -> str:
        if self.multilingual or lang != "zh":
            return text
        return self._english_terms(text)

    def document(self, chunk: Chunk) -> str:
        if self.multilingual or chunk.lang != "zh":
            return chunk.index_text
        head = ", ".join(t for t in (self._english_terms(chunk.prefix), english_heading(chunk.heading)) if t)
        body = self._english_terms(chunk.text)
        return f"{head}\n{body}".strip() or chunk.prefix
