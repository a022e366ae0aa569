"""The CLIP tokenizer built from open_clip's BPE file must be CLIP's real one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from imaging.clip_tokenizer import BOS_ID, EOS_ID, TokenCounter, find_bpe_vocabulary, load_clip_tokenizer
from imaging.errors import ClipVocabularyError


def test_the_vocabulary_comes_from_the_open_clip_wheel_without_importing_it():
    path = find_bpe_vocabulary()
    assert path.name == "bpe_simple_vocab_16e6.txt.gz"
    assert Path(importlib.util.find_spec("open_clip").submodule_search_locations[0]) == path.parent
    assert "open_clip" not in sys.modules


def test_known_clip_ids_and_special_tokens(clip_tokenizer):
    ids = clip_tokenizer("a photo of a peony").input_ids
    # 320 = "a</w>", 1125 = "photo</w>", 539 = "of</w>" in CLIP ViT-L/14's vocabulary.
    assert ids[:4] == [BOS_ID, 320, 1125, 539]
    assert ids[-1] == EOS_ID
    assert len(clip_tokenizer) == 49408
    assert clip_tokenizer.model_max_length == 77
    assert clip_tokenizer.convert_ids_to_tokens(ids)[-2:] == ["ony</w>", "<|endoftext|>"]


def test_counting_includes_bos_and_eos_and_never_truncates(clip_tokenizer):
    counter = TokenCounter(clip_tokenizer)
    assert counter.count("rose") == 3
    long_text = ", ".join(["white peony"] * 60)
    assert counter.count(long_text) > 77
    assert not counter.fits(long_text)


def test_files_are_cached_per_vocabulary(tmp_path):
    load_clip_tokenizer(tmp_path)
    (directory,) = tmp_path.iterdir()
    assert {p.name for p in directory.iterdir()} >= {"vocab.json", "merges.txt", "tokenizer_config.json"}
    before = (directory / "vocab.json").stat().st_mtime_ns
    load_clip_tokenizer(tmp_path)
    assert (directory / "vocab.json").stat().st_mtime_ns == before


def test_a_missing_open_clip_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ClipVocabularyError, match="pip install --no-deps open_clip_torch"):
        find_bpe_vocabulary()
