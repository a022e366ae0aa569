"""The NumPy encoder's BERT forward pass run by torch, for bulk indexing.

Why: indexing the whole base pushes ~125k word pieces through MiniLM. torch's CPU
kernels are about twice as fast as NumPy in float32, and on CPUs with bfloat16 matrix
units (Intel AMX, AVX-512 BF16) bfloat16 matrix products are several times faster
again, while the vectors still agree with float32 to a cosine above 0.9999 (a test
checks this). Reusing `BertNumpyEncoder`'s weights, tokeniser, batching and pooling
means indexing never imports sentence-transformers, which alone takes 30+ seconds
to import on a small VM.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from .bert_numpy import BertNumpyEncoder, _Linear

__all__ = ["BulkPrecision", "TorchBertForward", "cpu_has_bf16_matrix_units", "resolve_precision"]

BulkPrecision = Literal["auto", "float32", "bfloat16"]
_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_has_bf16_matrix_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises AMX-BF16 or AVX-512 BF16; elsewhere bfloat16 would be slower."""
    if platform.system() != "Linux" or not cpuinfo.is_file():
        return False
    for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("flags"):
            return bool(_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def resolve_precision(precision: BulkPrecision) -> Literal["float32", "bfloat16"]:
    if precision == "auto":
        return "bfloat16" if cpu_has_bf16_matrix_units() else "float32"
    return precision


class TorchBertForward:
    """A callable `(ids, mask) -> mean-pooled vectors` with the encoder's weights held as torch tensors."""

    def __init__(self, encoder: BertNumpyEncoder, precision: BulkPrecision = "auto") -> None:
        import torch

        self.precision = resolve_precision(precision)
        self._torch = torch
        self._dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
        self._heads = encoder.heads
        self._eps = encoder.eps
        self._dimension = encoder.dimension

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self._dtype)

        self._word = tensor(encoder.word_embeddings())
        self._position = tensor(encoder.position)
        self._token_type = tensor(encoder.token_type)
        self._emb_ln = tuple(tensor(p) for p in encoder.emb_ln)
        def linear(layer: _Linear) -> tuple[torch.Tensor, torch.Tensor]:
            return tensor(layer.weight), tensor(layer.bias)

        self._layers = [
            {
                "q": linear(layer.q),
                "k": linear(layer.k),
                "v": linear(layer.v),
                "out": linear(layer.out),
                "ln1": (tensor(layer.ln1[0]), tensor(layer.ln1[1])),
                "up": linear(layer.up),
                "down": linear(layer.down),
                "ln2": (tensor(layer.ln2[0]), tensor(layer.ln2[1])),
            }
            for layer in encoder.layers
        ]

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        functional = torch.nn.functional
        with torch.inference_mode():
            tokens = torch.from_numpy(ids)
            keep = torch.from_numpy(mask).bool()
            batch, length = tokens.shape
            heads, head_dim = self._heads, self._dimension // self._heads
            x = self._word[tokens] + self._position[:length] + self._token_type
            x = functional.layer_norm(x, (self._dimension,), *self._emb_ln, eps=self._eps)
            attend = keep[:, None, None, :]
            for layer in self._layers:
                q, k, v = (
                    functional.linear(x, *layer[name]).view(batch, length, heads, head_dim).transpose(1, 2)
                    for name in ("q", "k", "v")
                )
                context = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
                context = context.transpose(1, 2).reshape(batch, length, self._dimension)
                x = functional.layer_norm(functional.linear(context, *layer["out"]) + x, (self._dimension,), *layer["ln1"], eps=self._eps)
                hidden = functional.gelu(functional.linear(x, *layer["up"]))
                x = functional.layer_norm(functional.linear(hidden, *layer["down"]) + x, (self._dimension,), *layer["ln2"], eps=self._eps)
            weights = keep.unsqueeze(-1).to(torch.float32)
            pooled = (x.to(torch.float32) * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return pooled.numpy()
