"""Huayi's knowledge layer: loaders, chunking, the FAISS/BM25 index, hybrid retrieval, answers.

Free of Discord and of `bot/`; heavy libraries (torch, faiss, jieba) load lazily.
"""

from .answer import Answer, ExtractiveAnswerer, LLMAnswerer, Source
from .conversation import Turn
from .errors import (
    GlossaryError,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    InvalidQuestionError,
    LoaderError,
    MissingExtraError,
    RagError,
)
from .glossary import Glossary, GlossaryTerm
from .messages import render_error
from .service import Asked, RagService

__all__ = [
    "Answer",
    "Asked",
    "ExtractiveAnswerer",
    "Glossary",
    "GlossaryError",
    "GlossaryTerm",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "InvalidQuestionError",
    "LLMAnswerer",
    "LoaderError",
    "MissingExtraError",
    "RagError",
    "RagService",
    "Source",
    "Turn",
    "render_error",
]
