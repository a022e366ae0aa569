"""Domain errors of the RAG layer.

Each error carries a stable `code` and keyword `params`, so a front end (CLI or Discord)
can render a short message in the user's language with `rag.messages.render_error`.
"""

from __future__ import annotations

__all__ = [
    "RagError",
    "InvalidQuestionError",
    "IndexMissingError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexBusyError",
    "LoaderError",
    "GlossaryError",
    "MissingExtraError",
]


class RagError(Exception):
    """Base class: `code` picks the localised message, `params` fill it."""

    code = "rag_error"

    def __init__(self, detail: str = "", **params: object) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.params = params


class InvalidQuestionError(RagError):
    """The question is empty, too long, or not text."""

    code = "invalid_question"


class IndexMissingError(RagError):
    code = "index_missing"


class IndexCorruptError(RagError):
    code = "index_corrupt"


class IndexMismatchError(RagError):
    code = "index_mismatch"


class IndexBusyError(RagError):
    code = "index_busy"


class LoaderError(RagError):
    """A file in the knowledge base could not be read as a document."""

    code = "loader_error"


class GlossaryError(RagError):
    code = "glossary_error"


class MissingExtraError(RagError):
    """An optional dependency is needed; the message names the pip extra."""

    code = "missing_extra"
