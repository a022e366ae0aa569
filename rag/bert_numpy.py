"""A NumPy forward pass for plain BERT sentence encoders (the default MiniLM).

Why: on a small CPU, importing torch and sentence-transformers costs far more than
encoding a query does, and a cold `huayi ask` must not pay it. A BERT encoder with
mean pooling is a few matrix products, so for that exact architecture the weights are
read with `safetensors.numpy`, text is tokenised with `tokenizers`, and the forward
pass runs in NumPy. It reproduces sentence-transformers' vectors (tests compare them);
any other architecture is served by sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BertNumpyEncoder", "numpy_compatible"]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def numpy_compatible(model_dir: str | Path) -> bool:
    """True when the directory holds a BERT + mean pooling (+ normalise) sentence-transformers model."""
    root = Path(model_dir)
    if not (root / "model.safetensors").is_file() or not (root / "tokenizer.json").is_file():
        return False
    config = _read_json(root / "config.json")
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        return False
    if config.get("position_embedding_type", "absolute") != "absolute":
        return False
    modules = json.loads((root / "modules.json").read_text(encoding="utf-8")) if (root / "modules.json").is_file() else []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return False
    pooling_dir = next((m.get("path", "") for m in modules if m.get("type", "").endswith("Pooling")), "")
    pooling = _read_json(root / pooling_dir / "config.json")
    flags = {k: v for k, v in pooling.items() if k.startswith("pooling_mode")}
    return flags.get("pooling_mode_mean_tokens") is True and sum(bool(v) for v in flags.values()) == 1


def _gelu(h: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, in place, with erf from Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), so no SciPy.

    Each NumPy operation is a full pass over memory; working in place avoids allocating
    more activation-sized arrays, which is most of GELU's cost on a small machine.
    """
    z = h * np.float32(0.7071067811865476)
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    # Clipping keeps exp() out of denormals, which are two orders of magnitude slower on x86.
    np.maximum(a, np.float32(-80.0), out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(poly, z, out=poly)
    poly += np.float32(1.0)
    poly *= np.float32(0.5)
    h *= poly
    return h


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _batches(order: list[int], lengths: list[int], max_rows: int, max_tokens: int) -> Iterator[list[int]]:
    """Consecutive rows of `order` (sorted by length) with at most `max_rows` rows and ~`max_tokens` tokens.

    A token budget keeps every activation small enough to stay in cache; NumPy makes
    one memory pass per operation, so cache misses, not FLOPs, dominate big batches.
    """
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < max_rows and (end - start + 1) * lengths[order[end]] <= max_tokens:
            end += 1
        yield order[start:end]
        start = end


@dataclass(frozen=True)
class _Linear:
    weight: np.ndarray
    bias: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weight.T
        y += self.bias
        return y


@dataclass(frozen=True)
class _Layer:
    """One encoder layer's weights, as stored: (out, in) matrices used through `.T` views.

    BLAS reads the transposed views directly; copying them into (in, out) order would
    touch ~44 MB of fresh memory at start-up, which costs a second on a small VM.
    """

    q: _Linear
    k: _Linear
    v: _Linear
    out: _Linear
    ln1: tuple[np.ndarray, np.ndarray]
    up: _Linear
    down: _Linear
    ln2: tuple[np.ndarray, np.ndarray]


class BertNumpyEncoder:
    """Mean-pooled, L2-normalised BERT sentence vectors computed with NumPy."""

    def __init__(self, model_dir: str | Path, max_seq_length: int | None = None, batch_tokens: int = 256) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = Path(model_dir)
        config = _read_json(root / "config.json")
        st_config = _read_json(root / "sentence_bert_config.json")
        self.max_seq_length = int(max_seq_length or st_config.get("max_seq_length") or 512)
        self.max_seq_length = min(self.max_seq_length, int(config.get("max_position_embeddings", 512)))
        self.heads = int(config["num_attention_heads"])
        self.batch_tokens = batch_tokens
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        self.normalize = (root / "modules.json").is_file() and "Normalize" in (root / "modules.json").read_text()

        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        # Counting needs no truncation; a second instance keeps the encoder's settings untouched across threads.
        self._counter = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()

        # The file stays memory-mapped: a query reads only the vocabulary rows it uses.
        self._weights = safe_open(str(root / "model.safetensors"), framework="np")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in self._weights.keys() else ""

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(self._weights.get_tensor(prefix + name), dtype=np.float32)

        self._word_rows = self._weights.get_slice(prefix + "embeddings.word_embeddings.weight")
        self._word: np.ndarray | None = None
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))

        def linear(name: str) -> _Linear:
            return _Linear(get(name + ".weight"), get(name + ".bias"))

        def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
            return get(name + ".weight"), get(name + ".bias")

        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            self.layers.append(
                _Layer(
                    linear(p + "attention.self.query"),
                    linear(p + "attention.self.key"),
                    linear(p + "attention.self.value"),
                    linear(p + "attention.output.dense"),
                    norm(p + "attention.output.LayerNorm"),
                    linear(p + "intermediate.dense"),
                    linear(p + "output.dense"),
                    norm(p + "output.LayerNorm"),
                )
            )

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS]/[SEP], before truncation."""
        return len(self._counter.encode(text).ids)

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """`count_tokens` of each text in one call: the tokenizer batches in Rust, off the GIL."""
        return [len(e.ids) for e in self._counter.encode_batch(texts)] if texts else []

    def word_embeddings(self) -> np.ndarray:
        """The whole vocabulary matrix, read once; bulk encoding touches most of it anyway."""
        if self._word is None:
            self._word = np.ascontiguousarray(self._word_rows[:], dtype=np.float32)
        return self._word

    def _embed_words(self, ids: np.ndarray) -> np.ndarray:
        if self._word is not None:
            return self._word[ids]
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = np.concatenate([self._word_rows[int(i) : int(i) + 1] for i in unique]).astype(np.float32)
        return rows[inverse.reshape(ids.shape)]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        heads, head_dim = self.heads, self.dimension // self.heads
        x = self._embed_words(ids) + self.position[:length] + self.token_type
        # Linear layers run on (batch*length, hidden): NumPy's stacked 3-D matmul is an order slower.
        x = _layer_norm(x.reshape(batch * length, self.dimension), *self.emb_ln, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self.layers:
            q, k, v = (
                proj(x).reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)
                for proj in (layer.q, layer.k, layer.v)
            )
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.dimension)
            attended = layer.out(context)
            attended += x
            x = _layer_norm(attended, *layer.ln1, self.eps)
            out = layer.down(_gelu(layer.up(x)))
            out += x
            x = _layer_norm(out, *layer.ln2, self.eps)
        weights = mask.reshape(batch, length, 1).astype(np.float32)
        pooled = (x.reshape(batch, length, self.dimension) * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled.astype(np.float32)

    def encode(
        self,
        texts: list[str],
        batch_size: int = 32,
        forward: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        batch_tokens: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Vectors in input order; batches are formed from similar lengths to limit padding.

        `forward` replaces the NumPy pass (see `rag.bert_torch`); tokenising, batching
        and normalising stay here so every backend yields comparable vectors.
        `progress(done, total)` is called after each batch.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encoded = self.token_ids(texts)
        if forward is None and len({i for e in encoded for i in e}) > 512:
            self.word_embeddings()
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        lengths = [len(e) for e in encoded]
        done = 0
        for rows in _batches(order, lengths, batch_size, batch_tokens or self.batch_tokens):
            length = max(lengths[i] for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encoded[i]
                mask[r, : lengths[i]] = 1
            out[rows] = (forward or self._forward)(ids, mask)
            done += len(rows)
            if progress is not None:
                progress(done, len(texts))
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
