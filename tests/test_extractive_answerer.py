"""How the extractive answerer picks sentences, on hand-made passages (no model needed)."""

from __future__ import annotations

import pytest

from rag.answer import ExtractiveAnswerer, han_characters
from rag.retriever import Hit
from rag.store import StoredChunk
from rag.text import split_sentences
from rag.tokenize import BilingualTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> BilingualTokenizer:
    return BilingualTokenizer(["花圈", "挽联", "百合", "落款"])


def _hit(faiss_id: int, text: str, lang: str, title: str, heading: str = "", doc_id: str = "d1") -> Hit:
    chunk = StoredChunk(
        faiss_id, [], chunk_id=str(faiss_id), doc_id=doc_id, path=f"{doc_id}.md", lang=lang,
        title=title, heading=heading, text=text, position=faiss_id,
    )
    return Hit(chunk, 1.0 / (faiss_id + 1))


def _answerer(tokenizer, hits, **kwargs) -> ExtractiveAnswerer:
    texts = [h.chunk.text for h in hits]
    return ExtractiveAnswerer(tokenizer, lambda: {}, lambda: texts, **kwargs)


def test_semicolons_do_not_cut_an_answer_sentence() -> None:
    text = "挽联有两条：一条写逝者；另一条写送花人，如“某某敬挽”。落款要写全名。"
    assert split_sentences(text, "zh") == ["挽联有两条：一条写逝者；", "另一条写送花人，如“某某敬挽”。", "落款要写全名。"]
    assert split_sentences(text, "zh", clauses=False)[0] == "挽联有两条：一条写逝者；另一条写送花人，如“某某敬挽”。"


def test_a_sentence_continuing_the_best_one_shares_its_relevance(tokenizer) -> None:
    text = (
        "Funeral wreaths are delivered before the service. Sympathy cards use set phrases. "
        "The ribbon on a wreath names the person who died. It also names the sender below."
    )
    hits = [_hit(0, text, "en", "Funeral flowers")]
    ranked = _answerer(tokenizer, hits).rank("en", hits, tokenizer("what goes on a wreath ribbon"), "what goes on a wreath ribbon")
    order = [c.sentence for c in ranked]
    assert order.index("It also names the sender below.") < order.index("Sympathy cards use set phrases.")


def test_single_characters_match_when_segmentation_differs(tokenizer) -> None:
    hits = [_hit(0, "百合开花很香。百合对猫是致命的。百合有很多品种。", "zh", "百合")]
    question = "家里养猫，能不能摆百合？"
    ranked = _answerer(tokenizer, hits).rank("zh", hits, tokenizer(question), question)
    assert ranked[0].sentence == "百合对猫是致命的。"
    assert "猫" in han_characters(question) and "的" not in han_characters("的")


def test_answer_length_budget_keeps_the_best_sentence_and_fits_the_rest(tokenizer) -> None:
    long_tail = "Tulips keep growing in the vase and bend toward the light, so turn the vase daily. " * 3
    text = "Tulips last about a week in the vase. " + long_tail.strip()
    hits = [_hit(0, text, "en", "Tulip")]
    answerer = _answerer(tokenizer, hits, max_chars={"en": 60, "zh": 30})
    answer = answerer.answer("en", hits, tokenizer("how long do tulips last in the vase"), "how long do tulips last")
    assert answer.text.startswith("Tulips last about a week in the vase.")
    assert answer.text.count("[1]") == 1
    tiny = _answerer(tokenizer, hits, max_chars={"en": 5, "zh": 5})
    assert tiny.answer("en", hits, tokenizer("tulip vase light"), "tulip vase light").text.count("[1]") == 1


def test_other_documents_need_a_clearly_better_sentence(tokenizer) -> None:
    top = _hit(0, "Ranunculus is toxic to cats and dogs. Ranunculus has many petals.", "en", "Ranunculus", doc_id="ran")
    other = _hit(1, "Lisianthus is not toxic to cats and dogs.", "en", "Lisianthus", doc_id="lis")
    answerer = _answerer(tokenizer, [top, other], max_sentences=1)
    answer = answerer.answer("en", [top, other], tokenizer("is ranunculus toxic to cats"), "is ranunculus toxic to cats")
    assert [s.doc_id for s in answer.sources] == ["ran"]


def test_articles_about_other_plants_are_left_out_when_the_question_names_one(tokenizer) -> None:
    top = _hit(0, "Ranunculus is toxic to cats and dogs. Its sap releases protoanemonin.", "en", "Ranunculus", doc_id="ran")
    other = _hit(1, "Lisianthus is not toxic to cats and dogs.", "en", "Lisianthus", doc_id="lis")
    technique = _hit(2, "Keep toxic flowers away from cats and dogs.", "en", "Pet safety", doc_id="pets")
    hits = [top, other, technique]
    question = "Is ranunculus toxic to cats and dogs?"
    answerer = _answerer(tokenizer, hits)
    named = answerer.answer("en", hits, tokenizer(question), question, subject_tokens=tokenizer("ranunculus"))
    assert {s.doc_id for s in named.sources} == {"ran"}
    assert "protoanemonin" in named.text
    unnamed = answerer.answer("en", hits, tokenizer(question), question)
    assert "lis" in {s.doc_id for s in unnamed.sources}
