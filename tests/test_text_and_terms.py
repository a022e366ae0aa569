"""Language detection, question validation, sentence splitting, glossary matching, BM25 tokens."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from rag.aspects import detect_aspects
from rag.errors import InvalidQuestionError
from rag.glossary import Glossary
from rag.messages import render_error
from rag.text import detect_lang, split_sentences, validate_question
from rag.tokenize import BilingualTokenizer

from .conftest import KB_DIR


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load(KB_DIR / "glossary.csv")


def test_detect_lang() -> None:
    assert detect_lang("牡丹插瓶能放几天？") == "zh"
    assert detect_lang("牡丹 Paeonia suffruticosa 怎么养") == "zh"
    assert detect_lang("How long do peonies last?") == "en"
    assert detect_lang("What does 留白 mean in Chinese arrangement?") == "en"


@pytest.mark.parametrize(
    ("question", "reason"),
    [("", "empty"), ("   \n\t ", "empty"), ("？？？", "empty"), ("花" * 20000, "too_long"), ("\x00\x01\x02\x03\x04", "control")],
)
def test_bad_questions_are_refused_with_a_reason(question: str, reason: str) -> None:
    with pytest.raises(InvalidQuestionError) as info:
        validate_question(question, max_chars=1000)
    assert info.value.params["reason"] == reason
    zh, en = render_error(info.value, "zh"), render_error(info.value, "en")
    assert zh != en and zh and en and "Traceback" not in zh + en


def test_control_characters_inside_a_question_are_stripped() -> None:
    assert validate_question("peony\x00 vase\u200b life\x07?", 1000) == "peony vase life?"


def test_non_text_question() -> None:
    with pytest.raises(InvalidQuestionError):
        validate_question(b"bytes", 1000)  # type: ignore[arg-type]


def test_split_chinese_at_full_width_punctuation() -> None:
    parts = split_sentences("牡丹怕热。剪口要斜！能放几天？3到5天；换水要勤", "zh")
    assert parts == ["牡丹怕热。", "剪口要斜！", "能放几天？", "3到5天；", "换水要勤"]


def test_split_english_keeps_list_with_its_introduction() -> None:
    text = "Roses bend for three reasons:\n- air in the stem\n- bacteria\n\nRecut them under water. Then rest them."
    parts = split_sentences(text, "en")
    assert parts[0].startswith("Roses bend for three reasons:") and "bacteria" in parts[0]
    assert parts[1:] == ["Recut them under water.", "Then rest them."]


def test_glossary_longest_match_and_aliases(glossary: Glossary) -> None:
    found = [m.term.en for m in glossary.find_zh("芍药和牡丹插在梅瓶里")]
    assert "tree peony" in found and "herbaceous peony" in found
    assert any(m.term.zh == "月季" for m in glossary.find_zh("玫瑰"))
    english = glossary.translate_terms("Peonies and tulips in a celadon vase", "zh")
    assert "牡丹" in english or "芍药" in english
    assert "郁金香" in english


def test_tokenizer_keeps_glossary_words_and_adds_bigrams(glossary: Glossary) -> None:
    tokenizer = BilingualTokenizer(glossary.zh_words())
    tokens = tokenizer("草月流的作品常用剑山")
    assert "草月流" in tokens and "剑山" in tokens
    assert "草月" in tokens  # bigram fallback for differently segmented text
    assert tokenizer("Conditioning tulips") == ["condit", "tulip"]
    assert "the" not in tokenizer("the peony")


def test_known_glossary_words_tokenise_like_jieba_without_loading_it(glossary: Glossary) -> None:
    tokenizer = BilingualTokenizer(glossary.zh_words())
    words = [term.zh for term in glossary.terms if all("\u4e00" <= ch <= "\u9fff" for ch in term.zh)]
    assert len(words) > 600
    fast = [sorted(tokenizer.known_words([w])) for w in words]
    assert tokenizer("peony vase life 牡丹", chinese=False) == ["peoni", "vase", "life"]
    assert tokenizer._jieba is None  # an English question expanded with Chinese terms never pays for jieba
    assert fast == [sorted(tokenizer(w)) for w in words]
    assert tokenizer.known_words(["Peony", "的"]) == ["peoni"]


def test_query_dictionary_segments_indexed_text_like_the_full_dictionary(glossary: Glossary, tmp_path) -> None:
    full = BilingualTokenizer(glossary.zh_words())
    texts = [path.read_text(encoding="utf-8") for path in sorted((KB_DIR / "zh").rglob("*.md"))[:40]]
    dictionary = tmp_path / "query.dict"
    dictionary.write_text(full.query_dictionary(texts), encoding="utf-8")
    small = BilingualTokenizer(glossary.zh_words(), dictionary=dictionary)
    caches_before = set(Path(tempfile.gettempdir()).glob("jieba.u*.cache"))
    assert [small(t) for t in texts] == [full(t) for t in texts]
    assert set(Path(tempfile.gettempdir()).glob("jieba.u*.cache")) == caches_before, "no jieba cache file per index"
    # Far smaller than jieba's own dictionary of ~350,000 words, which is what makes it quick to load.
    assert len(dictionary.read_text(encoding="utf-8").splitlines()) < 20_000
    assert small._tokenizer().total == full._tokenizer().total


@pytest.mark.parametrize(
    "question",
    ["What does peach blossom stand for in Chinese culture?", "What do white lilies mean?", "菊花象征什么？", "牡丹的花语是什么？"],
)
def test_symbolism_questions_are_recognised(question: str) -> None:
    assert "symbolism" in [a.name for a in detect_aspects(question)]
    assert "symbolism" not in [a.name for a in detect_aspects("How long do peonies last in a vase?")]
