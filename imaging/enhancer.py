"""Turn a member's idea (zh or en), a style and retrieved facts into a budgeted SDXL prompt pair.

Why this shape:
- CLIP reads no Chinese, so every Chinese word reaches the prompt through the
  glossary, and Chinese the glossary does not know is dropped and reported, never
  passed through raw.
- Each SDXL text encoder reads 77 tokens. Segments are added whole, by priority
  (subject > flowers > vessel > style > lighting > quality), and whatever does not
  fit is listed in the plan: nothing is cut silently, by us or by the pipeline.
- Retrieved facts contribute only glossary terms of paintable kinds (flowers,
  vessels, colours, seasons, design elements), so prose never leaks into a prompt.
- No randomness: the same input gives the same plan.

The glossary arrives as a `TermFinder` callable, so imaging stays free of `rag/`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, Protocol

from .clip_tokenizer import CLIP_MAX_TOKENS
from .errors import InvalidPromptError
from .prompt_text import HAN, Blocklist, has_cjk, is_latin, validate_idea

__all__ = [
    "TermHit",
    "TermFinder",
    "Fact",
    "RecognisedTerm",
    "PromptPlan",
    "PromptEnhancer",
    "StyleLike",
    "Rewriter",
    "PROMPT_TERMS",
]

# Glossary rows (same columns as knowledge_base/glossary.csv) that only prompts need.
PROMPT_TERMS = Path(__file__).parent / "data" / "prompt_terms.csv"

Origin = Literal["user", "fact", "style", "llm"]
# How many terms of each paintable kind the facts may add; plants share one allowance.
_FACT_ALLOWANCE = {"plant": 3, "vessel": 1, "season": 1, "element": 2}
# Design elements that show in a picture; "balance" or "rhythm" in a fact says nothing paintable.
_PAINTABLE_ELEMENTS = frozenset(
    {
        "negative space",
        "asymmetry",
        "symmetry",
        "line",
        "texture",
        "silhouette",
        "light and shadow",
        "staggered heights",
        "depth",
        "movement",
        "solid and void",
        "contrasting colours",
        "monochromatic",
    }
)
# Characters that only link words in a Chinese noun phrase; dropping them loses nothing.
_ZH_LINKS = set("的之得地了着和与及跟同、配加以把用在于里上个只束枝朵支些很最更非常再也都")
_ZH_AND = set("和与及跟同、配加")
_CLAUSE = re.compile(r"[，。,.;；！!？?\n:：、（）()【】\[\]「」『』“”\"]+")
_HAN_RUN = re.compile(f"[{HAN}]+")
_RUNS = re.compile(f"[{HAN}]+|[^{HAN}]+")
_QUALITY = ("highly detailed", "sharp focus", "natural colours", "high resolution")


@dataclass(frozen=True)
class TermHit:
    """A glossary term found in text: where, and its English rendering."""

    surface: str
    start: int
    english: str
    category: str
    chinese: str = ""


TermFinder = Callable[[str], Sequence[TermHit]]


class StyleLike(Protocol):
    """What the enhancer reads from a style template (`imaging.styles.StyleTemplate`)."""

    id: str
    composition: str
    line_and_space: str
    vessel: str
    palette: str
    lighting: str
    medium: str
    flowers: list[str]
    negative_prompt: str
    stability_preset: str


@dataclass(frozen=True)
class Fact:
    """A retrieved passage: its text and where it came from."""

    text: str
    title: str
    path: str = ""


@dataclass(frozen=True)
class RecognisedTerm:
    """A term that reached the prompt, and where it came from (`reference`: a fact's title)."""

    text: str
    english: str
    category: str
    origin: Origin
    reference: str | None = None


@dataclass(frozen=True)
class PromptPlan:
    """Everything a backend needs, plus how it was made (for /draw's Info button and `--json`)."""

    prompt: str
    prompt_2: str
    negative_prompt: str
    tokens: dict[str, int]
    terms: tuple[RecognisedTerm, ...]
    style_id: str
    style_preset: str
    language: Literal["zh", "en"]
    idea: str
    dropped: tuple[str, ...] = ()
    omitted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Rewriter = Callable[[PromptPlan], str]


class _TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


@dataclass
class _Segment:
    name: str
    phrases: list[str] = field(default_factory=list)


class PromptEnhancer:
    """Deterministic prompt builder; the optional `rewriter` (an LLM) may rephrase encoder 1's text."""

    def __init__(
        self,
        find_terms: TermFinder,
        counter: _TokenCounter,
        blocklist: Blocklist | None = None,
        max_idea_chars: int = 500,
        rewriter: Rewriter | None = None,
        max_fact_flowers: int = 3,
    ) -> None:
        self._find = find_terms
        self._counter = counter
        self._blocklist = blocklist
        self._max_chars = max_idea_chars
        self._rewriter = rewriter
        self._max_fact_flowers = max_fact_flowers

    # 1. Validate and refuse before anything else.
    def check_idea(self, idea: object) -> str:
        cleaned = validate_idea(idea, self._max_chars)
        if self._blocklist is not None:
            self._blocklist.check(cleaned)
        return cleaned

    def enhance(
        self, idea: object, style: StyleLike, facts: Sequence[Fact] = (), negative: str = ""
    ) -> PromptPlan:
        text = self.check_idea(idea)
        language: Literal["zh", "en"] = "zh" if has_cjk(text) else "en"
        negative_phrases: list[str] = []
        negative_dropped: list[str] = []
        if negative.strip():
            negative_phrases, _, negative_dropped = self._translate(validate_idea(negative, self._max_chars))
        # 2. Translate the idea through the glossary.
        subject, user_terms, dropped = self._translate(text)
        if not subject:
            raise InvalidPromptError("nothing in the idea could be translated", reason="untranslatable")
        # 3. Paintable details from the facts, then from the style.
        named = {t.english.lower() for t in user_terms}
        fact_terms = self._fact_terms(facts, named)
        flowers = [t.english for t in fact_terms if t.category in {"flower", "foliage"}]
        style_flowers = [f for f in style.flowers if f.lower() not in named and f not in flowers]
        terms = list(user_terms) + list(fact_terms)
        has_vessel = any(t.category == "vessel" for t in user_terms)
        fact_vessels = [t.english for t in fact_terms if t.category == "vessel"]
        vessel = [] if has_vessel else (fact_vessels[:1] or [style.vessel])
        details = [t.english for t in fact_terms if t.category in {"season", "element"}]
        # 4. Fill each encoder's 77 tokens by priority.
        segments_1 = [
            _Segment("subject", subject),
            _Segment("flowers", _with_prefix("with", flowers + style_flowers[:2])),
            _Segment("vessel", vessel),
            _Segment("style", [style.composition, style.line_and_space, *details]),
            _Segment("lighting", [style.lighting]),
            _Segment("quality", list(_QUALITY)),
        ]
        segments_2 = [
            _Segment("subject", subject),
            _Segment("style", [style.medium, style.palette]),
            _Segment("lighting", [style.lighting]),
            _Segment("quality", list(_QUALITY)),
        ]
        prompt, omitted_1 = self._fill(segments_1)
        prompt_2, omitted_2 = self._fill(segments_2)
        negative_prompt, omitted_n = self._fill(
            [_Segment("negative", [p for phrase in negative_phrases for p in _phrases(phrase)] + _phrases(style.negative_prompt))]
        )
        terms += [RecognisedTerm(f, f, "flower", "style") for f in style_flowers[:2] if f in prompt]
        notes: list[str] = []
        omitted = tuple(dict.fromkeys(omitted_1 + omitted_2 + omitted_n))
        if any(p in subject for p in omitted):
            notes.append("the idea is longer than CLIP's 77 tokens; the listed parts were left out")
        plan = PromptPlan(
            prompt=prompt,
            prompt_2=prompt_2,
            negative_prompt=negative_prompt,
            tokens=self._token_report(prompt, prompt_2, negative_prompt),
            terms=_unique(t for t in terms if t.english.lower() in (prompt + prompt_2).lower()),
            style_id=style.id,
            style_preset=style.stability_preset,
            language=language,
            idea=text,
            dropped=tuple(dropped + negative_dropped),
            omitted=omitted,
            notes=tuple(notes),
        )
        # 5. An optional LLM rewrite, accepted only if it passes the same checks.
        return self._rewrite(plan) if self._rewriter is not None else plan

    def _translate(self, text: str) -> tuple[list[str], list[RecognisedTerm], list[str]]:
        """English phrases of the idea (one per clause), the user's terms, and Chinese left untranslated."""
        phrases: list[str] = []
        terms: list[RecognisedTerm] = []
        dropped: list[str] = []
        for clause in (c.strip() for c in _CLAUSE.split(text)):
            if not clause:
                continue
            hits = sorted(self._find(clause), key=lambda h: h.start)
            words: list[str] = []
            cursor = 0
            for hit in hits:
                if hit.start < cursor:
                    continue
                self._between(clause[cursor : hit.start], words, dropped)
                # Chinese becomes the glossary's English; English stays as the member wrote it.
                english = hit.english if has_cjk(hit.surface) else hit.surface
                words.append(english)
                terms.append(RecognisedTerm(hit.surface, english, hit.category, "user"))
                cursor = hit.start + len(hit.surface)
            self._between(clause[cursor:], words, dropped)
            phrase = re.sub(r"\s*,\s*,+\s*", ", ", " ".join(words)).strip(" ,")
            phrase = re.sub(r"\s+,", ",", phrase)
            if phrase:
                phrases.append(phrase)
        return phrases, terms, dropped

    @staticmethod
    def _between(gap: str, words: list[str], dropped: list[str]) -> None:
        """Keep Latin text as typed; Chinese between terms is a link word or dropped; any other script is dropped."""
        for run in _RUNS.findall(gap):
            if _HAN_RUN.fullmatch(run):
                if any(ch in _ZH_AND for ch in run) and words:
                    words.append(",")
                content = "".join(ch for ch in run if ch not in _ZH_LINKS)
                if content:
                    dropped.append(content)
            elif all(is_latin(ch) for ch in run):
                if run.strip(" ,"):
                    words.append(run.strip())
            else:
                kept = "".join(ch if is_latin(ch) else " " for ch in run).strip(" ,")
                foreign = "".join(ch for ch in run if not is_latin(ch) and not ch.isspace())
                if kept:
                    words.append(" ".join(kept.split()))
                if foreign:
                    dropped.append(foreign)

    def _fact_terms(self, facts: Sequence[Fact], named: set[str]) -> list[RecognisedTerm]:
        """The most-mentioned paintable terms of the facts that the idea does not already name."""
        counts: Counter[str] = Counter()
        first: dict[str, tuple[tuple[int, int], RecognisedTerm]] = {}
        for order, fact in enumerate(facts):
            for hit in self._find(fact.text):
                kind = "plant" if hit.category in {"flower", "foliage"} else hit.category
                if kind not in _FACT_ALLOWANCE or hit.english.lower() in named:
                    continue
                if kind == "element" and hit.english not in _PAINTABLE_ELEMENTS:
                    continue
                counts[hit.english] += 1
                term = RecognisedTerm(hit.surface, hit.english, hit.category, "fact", fact.title)
                first.setdefault(hit.english, ((order, hit.start), term))
        allowance = dict(_FACT_ALLOWANCE, plant=self._max_fact_flowers)
        out: list[RecognisedTerm] = []
        for english in sorted(counts, key=lambda e: (-counts[e], first[e][0])):
            term = first[english][1]
            kind = "plant" if term.category in {"flower", "foliage"} else term.category
            if allowance[kind] > 0:
                allowance[kind] -= 1
                out.append(term)
        return out

    def _fill(self, segments: list[_Segment]) -> tuple[str, list[str]]:
        """Whole phrases in priority order while the text stays within 77 tokens; the rest is returned."""
        kept: list[str] = []
        omitted: list[str] = []
        for segment in segments:
            for phrase in segment.phrases:
                phrase = phrase.strip(" ,")
                if not phrase or any(phrase.lower() in k.lower() for k in kept):
                    continue
                if self._counter.count(", ".join([*kept, phrase])) <= CLIP_MAX_TOKENS:
                    kept.append(phrase)
                elif segment.name == "subject" and not kept:
                    head = self._longest_prefix(phrase)
                    if head:
                        kept.append(head)
                    omitted.append(phrase[len(head) :].strip())
                else:
                    omitted.append(phrase)
        return ", ".join(kept), omitted

    def _longest_prefix(self, phrase: str) -> str:
        """The most leading words of an over-long first phrase that fit, cut at a word boundary."""
        words = phrase.split()
        low, high = 0, len(words)
        while low < high:
            mid = (low + high + 1) // 2
            if self._counter.count(" ".join(words[:mid])) <= CLIP_MAX_TOKENS:
                low = mid
            else:
                high = mid - 1
        return " ".join(words[:low])

    def _token_report(self, prompt: str, prompt_2: str, negative: str) -> dict[str, int]:
        return {
            "prompt": self._counter.count(prompt),
            "prompt_2": self._counter.count(prompt_2),
            "negative_prompt": self._counter.count(negative),
            "limit": CLIP_MAX_TOKENS,
        }

    def _rewrite(self, plan: PromptPlan) -> PromptPlan:
        assert self._rewriter is not None
        notes = list(plan.notes)
        try:
            candidate = " ".join(self._rewriter(plan).split()).strip().strip('"')
        except Exception as exc:  # an LLM outage must never cost the member their image
            notes.append(f"LLM rewrite failed ({type(exc).__name__}); kept the glossary prompt")
            return replace(plan, notes=tuple(notes))
        reason = self._reject_reason(candidate, plan)
        if reason:
            notes.append(f"LLM rewrite rejected: {reason}")
            return replace(plan, notes=tuple(notes))
        extra = tuple(
            RecognisedTerm(h.surface, h.english, h.category, "llm")
            for h in self._find(candidate)
            if h.english.lower() not in plan.prompt.lower()
        )
        notes.append("prompt rewritten by the LLM")
        return replace(
            plan,
            prompt=candidate,
            terms=plan.terms + extra,
            tokens=self._token_report(candidate, plan.prompt_2, plan.negative_prompt),
            notes=tuple(notes),
        )

    def _reject_reason(self, candidate: str, plan: PromptPlan) -> str | None:
        if not candidate:
            return "empty"
        if has_cjk(candidate):
            return "it contains Chinese, which CLIP cannot read"
        if self._counter.count(candidate) > CLIP_MAX_TOKENS:
            return "it is longer than 77 CLIP tokens"
        if self._blocklist is not None and self._blocklist.match(candidate):
            return "it contains a blocked word"
        lowered = candidate.lower()
        missing = [t.english for t in plan.terms if t.origin == "user" and t.category in {"flower", "foliage", "colour", "vessel"} and t.english.lower() not in lowered]
        if missing:
            return f"it dropped {', '.join(missing)}"
        return None


def _unique(terms: Iterable[RecognisedTerm]) -> tuple[RecognisedTerm, ...]:
    return tuple(dict.fromkeys(terms))


def _phrases(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _with_prefix(word: str, items: list[str]) -> list[str]:
    return [f"{word} {items[0]}", *items[1:]] if items else []

