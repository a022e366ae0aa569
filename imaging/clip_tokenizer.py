"""The real CLIP tokenizer, built offline from the BPE vocabulary in the open_clip_torch wheel.

Why: SDXL's two text encoders read at most 77 CLIP tokens each. Counting with any
other tokenizer would either waste the budget or let the pipeline silently cut the
end of a prompt. The hub copy of the tokenizer is unreachable offline, but the
open_clip_torch wheel ships the same BPE merges; from them we write the
`vocab.json`/`merges.txt` pair transformers' `CLIPTokenizer` reads. open_clip itself
is never imported (it needs torchvision), only located.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ClipVocabularyError

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

__all__ = [
    "CLIP_MAX_TOKENS",
    "BOS_ID",
    "EOS_ID",
    "find_bpe_vocabulary",
    "write_tokenizer_files",
    "load_clip_tokenizer",
    "TokenCounter",
]

CLIP_MAX_TOKENS = 77
BOS_ID = 49406
EOS_ID = 49407
_BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
# open_clip keeps the first 49152 - 256 - 2 merges; with 512 byte symbols and 2 specials that is 49408 ids.
_MERGE_COUNT = 49152 - 256 - 2
_lock = threading.Lock()


def find_bpe_vocabulary() -> Path:
    """The gzipped BPE file inside the installed open_clip package (located, not imported)."""
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / _BPE_NAME
        if path.is_file():
            return path
    raise ClipVocabularyError(
        "the CLIP BPE vocabulary ships in the open_clip_torch wheel; install it with "
        "`pip install --no-deps open_clip_torch`"
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-character table (the first 256 vocabulary entries)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def write_tokenizer_files(bpe_path: Path, directory: Path) -> Path:
    """Write vocab.json, merges.txt and tokenizer_config.json for `CLIPTokenizer`; returns `directory`."""
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    files = {
        "vocab.json": json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
        "tokenizer_config.json": json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": CLIP_MAX_TOKENS,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
            }
        ),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, directory / name)
    return directory


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huayi" / "clip-tokenizer"


def load_clip_tokenizer(cache_dir: Path | None = None, bpe_path: Path | None = None) -> CLIPTokenizer:
    """`CLIPTokenizer` with `model_max_length=77`, its files cached per BPE file content."""
    from transformers import CLIPTokenizer

    bpe = bpe_path or find_bpe_vocabulary()
    digest = hashlib.sha256(bpe.read_bytes()).hexdigest()[:16]
    directory = (cache_dir or _default_cache()) / digest
    with _lock:
        if not all((directory / n).is_file() for n in ("vocab.json", "merges.txt", "tokenizer_config.json")):
            write_tokenizer_files(bpe, directory)
    return CLIPTokenizer.from_pretrained(str(directory), model_max_length=CLIP_MAX_TOKENS)


class TokenCounter:
    """Counts CLIP tokens of prompt text, [BOS] and [EOS] included, as the pipeline will see them."""

    def __init__(self, tokenizer: CLIPTokenizer) -> None:
        self._tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self._tokenizer(text, truncation=False, verbose=False)["input_ids"])

    def fits(self, text: str, limit: int = CLIP_MAX_TOKENS) -> bool:
        return self.count(text) <= limit
