"""The prompt enhancer: glossary translation, facts as visual detail, CLIP budgets, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.draw_support import prompt_glossary, term_finder
from imaging.clip_tokenizer import TokenCounter
from imaging.enhancer import Fact, PromptEnhancer
from imaging.errors import BlockedPromptError, InvalidPromptError, InvalidRequestError
from imaging.messages import render_error
from imaging.prompt_text import Blocklist, has_cjk
from imaging.request import GenerationRequest, RequestLimits, parse_size
from imaging.styles import load_styles
from rag.glossary import Glossary

ROOT = Path(__file__).resolve().parent.parent
PEONY_FACTS = [
    Fact("牡丹常与玉兰、海棠同插，寓意玉堂富贵。宜用青瓷瓶，枝条讲究留白。牡丹瓶插寿命约三到五天。", "牡丹"),
    Fact("Tree peony pairs with magnolia in spring. Its vase life is three to five days; "
         "it is not toxic to cats.", "Peony"),
]


@pytest.fixture(scope="module")
def counter(clip_tokenizer):
    return TokenCounter(clip_tokenizer)


@pytest.fixture(scope="module")
def glossary():
    return prompt_glossary(Glossary.load(ROOT / "knowledge_base" / "glossary.csv"))


@pytest.fixture(scope="module")
def styles():
    return load_styles()


@pytest.fixture(scope="module")
def enhancer(glossary, counter):
    return PromptEnhancer(term_finder(glossary), counter, Blocklist.load(), max_idea_chars=500)


def _all_text(plan):
    return " ".join([plan.prompt, plan.prompt_2, plan.negative_prompt])


def test_a_chinese_idea_becomes_english_flower_colour_and_vessel_terms(enhancer, styles):
    plan = enhancer.enhance("优雅大气的中式牡丹插花，黑色花器", styles.get("chinese"))
    assert plan.language == "zh"
    assert not has_cjk(_all_text(plan))
    assert plan.prompt.startswith("elegant grand Chinese-style tree peony flower arrangement, black flower vessel")
    user = {(t.text, t.english, t.category) for t in plan.terms if t.origin == "user"}
    assert {("牡丹", "tree peony", "flower"), ("黑色", "black", "colour"), ("花器", "flower vessel", "vessel")} <= user
    assert plan.dropped == ()


def test_an_english_idea_is_kept_as_written(enhancer, styles):
    plan = enhancer.enhance("three red roses in a glass vase, morning light", styles.get("modern"))
    assert plan.prompt.startswith("three red roses in a glass vase, morning light")
    assert {"roses", "glass vase"} <= {t.english for t in plan.terms if t.origin == "user"}


def test_unknown_chinese_is_dropped_and_reported_never_passed_raw(enhancer, styles):
    plan = enhancer.enhance("菊花旁边放一只哈士奇", styles.get("chinese"))
    assert "chrysanthemum" in plan.prompt
    assert not has_cjk(_all_text(plan))
    assert any("哈士奇" in d for d in plan.dropped)
    with pytest.raises(InvalidPromptError) as caught:
        enhancer.enhance("今天天气怎么样", styles.get("chinese"))
    assert caught.value.params["reason"] == "untranslatable"


def test_every_style_example_fits_both_encoders(enhancer, styles, counter):
    for style in styles:
        for idea in style.examples["zh"] + style.examples["en"]:
            plan = enhancer.enhance(idea, style, PEONY_FACTS)
            for text in (plan.prompt, plan.prompt_2, plan.negative_prompt):
                assert counter.count(text) <= 77, (style.id, idea, text)
                assert not has_cjk(text)
            assert plan.tokens["prompt"] == counter.count(plan.prompt)
            assert plan.style_preset == style.stability_preset


def test_an_overlong_idea_is_cut_openly_not_silently(enhancer, styles, counter):
    colours = ("red", "white", "pink", "yellow", "orange", "purple", "coral", "peach", "ivory", "burgundy", "lilac", "cream")
    idea = ", ".join(f"a {c} rose beside a {c} tulip" for c in colours)
    plan = enhancer.enhance(idea, styles.get("european"))
    assert counter.count(plan.prompt) <= 77 and counter.count(plan.prompt_2) <= 77
    assert plan.omitted and plan.notes
    words = set(re.findall(r"[a-z]+", idea))
    kept = set(re.findall(r"[a-z]+", plan.prompt.lower() + " " + " ".join(plan.omitted).lower()))
    assert words <= kept


def test_facts_add_paintable_details_with_their_source_and_drop_prose(enhancer, styles):
    bare = enhancer.enhance("牡丹插花", styles.get("chinese"))
    rich = enhancer.enhance("牡丹插花", styles.get("chinese"), PEONY_FACTS)
    from_facts = {t.english: t.reference for t in rich.terms if t.origin == "fact"}
    assert {"magnolia", "crabapple blossom"} <= set(from_facts)
    assert from_facts["magnolia"] in {"牡丹", "Peony"}
    assert "magnolia" not in bare.prompt
    for prose in ("vase life", "toxic", "cats", "days"):
        assert prose not in rich.prompt.lower()


def test_the_same_input_gives_the_same_plan(enhancer, styles):
    first = enhancer.enhance("白色绣球和尤加利，玻璃花瓶", styles.get("wedding"), PEONY_FACTS)
    second = enhancer.enhance("白色绣球和尤加利，玻璃花瓶", styles.get("wedding"), PEONY_FACTS)
    assert first == second


@pytest.mark.parametrize("idea", ["nude woman holding roses", "一幅色情的玫瑰画", "Roses, GORE and lilies"])
def test_the_blocklist_refuses_in_both_languages(enhancer, styles, idea):
    with pytest.raises(BlockedPromptError) as caught:
        enhancer.enhance(idea, styles.get("modern"))
    assert "不适合" in render_error(caught.value, "zh")
    assert "can't generate" in render_error(caught.value, "en")


def test_the_blocklist_matches_whole_english_words_and_takes_extras():
    blocklist = Blocklist.load(extra=["carnage"])
    assert blocklist.match("Sussex garden roses") is None
    assert blocklist.match("Essex sunflowers") is None
    assert blocklist.match("peonies and CARNAGE") == "carnage"


@pytest.mark.parametrize(
    ("idea", "reason"),
    [("", "empty"), ("   ", "empty"), ("花" * 501, "too_long"), ("\x00\x01\x02\x03玫瑰", "control"), (None, "empty")],
)
def test_bad_ideas_get_a_reason(enhancer, styles, idea, reason):
    with pytest.raises(InvalidPromptError) as caught:
        enhancer.enhance(idea, styles.get("modern"))
    assert caught.value.params["reason"] == reason
    assert render_error(caught.value, "zh") != render_error(caught.value, "en")


def test_a_valid_llm_rewrite_is_used_and_recorded(glossary, counter, styles):
    enhancer = PromptEnhancer(
        term_finder(glossary), counter, Blocklist.load(),
        rewriter=lambda plan: "a single tree peony in a black flower vessel, ink-wash mood, soft window light",
    )
    plan = enhancer.enhance("黑色花器里的一枝牡丹", styles.get("chinese"))
    assert plan.prompt.startswith("a single tree peony in a black flower vessel")
    assert "prompt rewritten by the LLM" in plan.notes
    assert plan.tokens["prompt"] == counter.count(plan.prompt)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("a lovely vase of flowers", "dropped"),
        ("一枝牡丹 in a black flower vessel", "Chinese"),
        ("tree peony, black flower vessel, " + "very " * 80, "77"),
        ("tree peony, black flower vessel, nude", "blocked"),
        (RuntimeError("LLM down"), "failed"),
    ],
)
def test_a_bad_llm_rewrite_is_rejected_and_the_glossary_prompt_kept(glossary, counter, styles, reply, why):
    def rewriter(plan):
        if isinstance(reply, Exception):
            raise reply
        return reply

    plain = PromptEnhancer(term_finder(glossary), counter, Blocklist.load())
    with_llm = PromptEnhancer(term_finder(glossary), counter, Blocklist.load(), rewriter=rewriter)
    expected = plain.enhance("黑色花器里的一枝牡丹", styles.get("chinese"))
    plan = with_llm.enhance("黑色花器里的一枝牡丹", styles.get("chinese"))
    assert plan.prompt == expected.prompt
    assert any(why in note for note in plan.notes)


def test_requests_are_validated_before_any_work():
    GenerationRequest("rose").check_inputs()
    assert parse_size("1216x832") == (1216, 832)
    assert parse_size(" 896×1152 ") == (896, 1152)
    with pytest.raises(InvalidRequestError):
        parse_size("1000x1000")
    limits = RequestLimits(max_steps=60, max_count=4)
    bad = [
        GenerationRequest("rose", width=512, height=512),
        GenerationRequest("rose", steps=0),
        GenerationRequest("rose", steps=61),
        GenerationRequest("rose", cfg=0.5),
        GenerationRequest("rose", count=5),
        GenerationRequest("rose", seed=-1),
        GenerationRequest("rose", seed=2**32),
        GenerationRequest("  "),
    ]
    reasons = []
    for request in bad:
        with pytest.raises(InvalidRequestError) as caught:
            request.check_inputs(limits)
        reasons.append(caught.value.params["reason"])
        assert render_error(caught.value, "zh") and render_error(caught.value, "en")
    assert reasons == ["size", "steps", "steps", "cfg", "count", "seed", "seed", "prompt"]


def test_each_image_gets_its_own_reproducible_seed():
    request = GenerationRequest("rose", count=3, seed=41).with_seeds()
    assert request.seeds == (41, 42, 43)
    assert GenerationRequest("rose", count=1, seed=2**32 - 1, ).with_seeds().seeds == (2**32 - 1,)
    random_seeds = GenerationRequest("rose", count=2).with_seeds()
    assert random_seeds.seed is not None and random_seeds.seeds[1] == (random_seeds.seeds[0] + 1) % 2**32


@pytest.mark.parametrize(
    ("idea", "gone"),
    [("牡丹𠀀𪚥", "𠀀𪚥"), ("さくらと牡丹", "さくらと"), ("ＲＯＳＥＳ in a vase 🌸", "🌸"), ("牡丹（红色）", None)],
)
def test_no_script_but_latin_reaches_the_prompt(enhancer, styles, idea, gone):
    plan = enhancer.enhance(idea, styles.get("chinese"))
    assert all(ord(ch) < 0x250 for ch in plan.prompt + plan.prompt_2 + plan.negative_prompt)
    if gone:
        assert gone in "".join(plan.dropped)
    else:
        assert plan.prompt.startswith("tree peony, bright red")


def test_a_chinese_negative_keeps_its_english_and_translates_the_rest(enhancer, styles):
    plan = enhancer.enhance("牡丹", styles.get("chinese"), negative="blurry, 塑料花, 文字")
    assert plan.negative_prompt.startswith("blurry")
    assert "文字" in plan.dropped and not has_cjk(plan.negative_prompt)


def test_plans_do_not_depend_on_the_hash_seed(enhancer, styles):
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json; from pathlib import Path; from rag.glossary import Glossary; from bot.draw_support import prompt_glossary, term_finder;"
        "from imaging.enhancer import PromptEnhancer, Fact; from imaging.clip_tokenizer import TokenCounter, load_clip_tokenizer;"
        "from imaging.prompt_text import Blocklist; from imaging.styles import load_styles;"
        "e = PromptEnhancer(term_finder(prompt_glossary(Glossary.load(Path('knowledge_base/glossary.csv')))), TokenCounter(load_clip_tokenizer()), Blocklist.load());"
        "facts = [Fact(t, n) for t, n in json.loads(input())];"
        "print(json.dumps(e.enhance('白色绣球和尤加利，玻璃花瓶', load_styles().get('wedding'), facts).to_dict(), ensure_ascii=False))"
    )
    facts = json.dumps([[f.text, f.title] for f in PEONY_FACTS])
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], input=facts, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    here = enhancer.enhance("白色绣球和尤加利，玻璃花瓶", styles.get("wedding"), PEONY_FACTS).to_dict()
    assert json.loads(out.stdout) == json.loads(json.dumps(here, ensure_ascii=False))


def test_prompt_only_terms_stay_out_of_the_retrieval_glossary():
    from imaging.enhancer import PROMPT_TERMS

    retrieval = Glossary.load(ROOT / "knowledge_base" / "glossary.csv")
    extra = Glossary.load(PROMPT_TERMS)  # raises on a malformed row
    assert len(extra) >= 4
    assert not {t.zh for t in extra.terms} & set(retrieval.zh_words())
