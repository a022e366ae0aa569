"""End-to-end answers over the whole curated knowledge base (real MiniLM, FAISS, BM25)."""

from __future__ import annotations

import json

import pytest

from bot.services import Services
from rag.conversation import Turn
from rag.errors import InvalidQuestionError

from .fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def rag(full_services: Services):
    return full_services.rag()


def test_chinese_question_gets_a_chinese_cited_answer(rag) -> None:
    answer = rag.ask("牡丹插在花瓶里一般能放几天？")
    assert not answer.abstained and answer.lang == "zh"
    assert "天" in answer.text and "[1]" in answer.text
    assert answer.sources[0].path.endswith("zh/flowers/tree-peony.md") and answer.sources[0].title == "牡丹"


def test_english_question_gets_an_english_cited_answer(rag) -> None:
    answer = rag.ask("Are lilies dangerous for cats?")
    assert not answer.abstained and answer.lang == "en"
    assert "kidney" in answer.text.lower() and "[1]" in answer.text
    assert answer.sources[0].path.endswith("en/flowers/lily.md")


def test_chinese_school_names_and_treatises(rag) -> None:
    answer = rag.ask("《瓶史》的作者是谁？")
    assert "袁宏道" in answer.text
    assert any("ping-shi" in s.path for s in answer.sources)


def test_section_headings_steer_only_questions_that_name_a_plant(rag) -> None:
    # Plant articles share a "瓶插寿命与处理" section; a drying question about silica gel must not be sent there.
    _, tulip, _ = rag.searcher.expand("郁金香插瓶能开多久？", "zh")
    _, drying, _ = rag.searcher.expand("用硅胶做干花，一般要埋几天才干透？", "zh")
    assert "寿命" in tulip and "寿命" not in drying
    answer = rag.ask("用硅胶做干花，一般要埋几天才干透？")
    assert "硅胶" in answer.text and answer.sources[0].title == "干花与永生花"


def test_cross_language_expansion_reaches_the_dense_index(full_services: Services) -> None:
    searcher = full_services.rag().searcher
    dense = searcher.search("郁金香为什么会弯？", mode="dense", lang="zh")
    assert dense.relevant and any(h.chunk.doc_id in {"flowers-tulip", "troubleshooting-bending-tulips"} for h in dense.hits)


@pytest.mark.parametrize(
    ("question", "lang"),
    [("What is Tesla's stock price today?", "en"), ("怎么用Python写一个网络爬虫？", "zh"), ("你怎么看美国大选？", "zh")],
)
def test_out_of_domain_questions_are_declined_without_sources(rag, question: str, lang: str) -> None:
    answer = rag.ask(question)
    assert answer.abstained and answer.sources == [] and answer.lang == lang
    assert ("抱歉" in answer.text) == (lang == "zh")


def test_follow_up_uses_earlier_turns(rag) -> None:
    first = rag.ask("绣球花怎么养护？")
    follow = rag.ask("那它对猫有毒吗？", [Turn("user", "绣球花怎么养护？"), Turn("assistant", first.text)])
    assert not follow.abstained
    assert follow.sources[0].path.endswith("zh/flowers/hydrangea.md")
    english = rag.ask("What about its vase life?", [Turn("user", "Tell me about tulips."), Turn("assistant", "…")])
    assert english.sources[0].path.endswith("en/flowers/tulip.md")


@pytest.mark.parametrize("question", ["", "花" * 20000, "\x00\x01\x02\x03"])
def test_bad_questions_raise_a_clear_error(rag, question: str) -> None:
    with pytest.raises(InvalidQuestionError):
        rag.ask(question)


def _llm_services(full_services: Services, fake: FakeOpenAI) -> Services:
    from bot.services import Services as Fresh

    settings = full_services.settings.model_copy(
        update={"llm_provider": "openai", "llm_model": "fake-model", "llm_base_url": fake.base_url, "llm_api_key": "sk-test-secret"}
    )
    services = Fresh(settings)
    for name in ("embeddings", "glossary", "tokenizer", "dense_view"):
        setattr(services, name, getattr(full_services, name))
    services._index = full_services.index()
    return services


def test_llm_answer_is_grounded_in_the_retrieved_passages(full_services: Services) -> None:
    with FakeOpenAI() as fake:
        rag = _llm_services(full_services, fake).rag()
        answer = rag.ask("How long does a tulip last in a vase?")
        assert answer.backend == "llm" and not answer.abstained
        assert answer.text.endswith("[1]") and len(answer.sources) == 1
        request = fake.requests[-1]
        assert request["model"] == "fake-model"
        system = request["messages"][0]["content"]
        assert "[1]" in system and "ONLY" in system and answer.sources[0].title in system
        assert request["messages"][-1]["content"] == "How long does a tulip last in a vase?"
        assert fake.headers[-1]["authorization"] == "Bearer sk-test-secret"

        fake.mode = "no_answer"
        assert rag.ask("How long does a tulip last in a vase?").abstained


@pytest.mark.parametrize("mode", ["error", "no_citation"])
def test_llm_failure_falls_back_to_extractive(full_services: Services, mode: str) -> None:
    with FakeOpenAI() as fake:
        fake.mode = mode
        rag = _llm_services(full_services, fake).rag()
        answer = rag.ask("郁金香插瓶能放几天？")
        assert answer.backend == "extractive" and answer.fallback_reason and not answer.abstained
        assert "[1]" in answer.text and fake.requests
        assert "sk-test-secret" not in (answer.fallback_reason or "")


def test_answer_json_shape(rag) -> None:
    payload = rag.ask("How do I stop daffodil sap harming other flowers?").as_json()
    assert set(payload) == {"answer", "abstained", "sources"}
    assert payload["sources"] and set(payload["sources"][0]) == {"title", "path", "lang", "score"}
    json.dumps(payload)
