"""The bilingual floral glossary (zh ↔ en ↔ Latin) and the term matching built on it.

Retrieval uses it for cross-language query expansion and as jieba's user dictionary;
the imaging layer later uses the same terms to turn Chinese prompts into English.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import GlossaryError
from .text import has_cjk

__all__ = ["GlossaryTerm", "Glossary", "TermMatch", "CATEGORIES", "HEADER", "PLANT_CATEGORIES"]

HEADER = ["zh", "en", "latin", "category", "zh_aliases", "en_aliases"]
CATEGORIES = frozenset(
    {"flower", "foliage", "colour", "vessel", "material", "style", "technique", "tool", "element", "occasion", "season", "mood"}
)
PLANT_CATEGORIES = frozenset({"flower", "foliage"})


@dataclass(frozen=True)
class GlossaryTerm:
    zh: str
    en: str
    latin: str
    category: str
    zh_aliases: tuple[str, ...] = ()
    en_aliases: tuple[str, ...] = ()

    @property
    def zh_forms(self) -> tuple[str, ...]:
        return (self.zh, *self.zh_aliases)

    @property
    def en_forms(self) -> tuple[str, ...]:
        forms = [self.en, *self.en_aliases]
        if self.latin:
            forms.append(self.latin)
        return tuple(forms)


@dataclass(frozen=True)
class TermMatch:
    """One glossary term found in a text, with the surface form that matched."""

    term: GlossaryTerm
    surface: str
    start: int


@dataclass
class Glossary:
    terms: list[GlossaryTerm] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "Glossary":
        """Read and validate the CSV; a malformed row raises `GlossaryError` naming its line."""
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header != HEADER:
                    raise GlossaryError(f"{path}: header must be {','.join(HEADER)}", path=str(path))
                terms = [cls._row(path, n, row) for n, row in enumerate(reader, start=2) if any(row)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise GlossaryError(f"cannot read glossary {path}: {exc}", path=str(path)) from exc
        return cls(terms)

    @staticmethod
    def _row(path: Path, line: int, row: list[str]) -> GlossaryTerm:
        if len(row) != len(HEADER):
            raise GlossaryError(f"{path}:{line}: expected {len(HEADER)} columns, got {len(row)}", path=str(path))
        zh, en, latin, category, zh_al, en_al = (c.strip() for c in row)
        problems = []
        if not has_cjk(zh):
            problems.append("zh has no Chinese characters")
        if not en or not en.isascii():
            problems.append("en must be non-empty ASCII")
        if category not in CATEGORIES:
            problems.append(f"unknown category {category!r}")
        if (category in PLANT_CATEGORIES) != bool(latin):
            problems.append("latin is required for flower/foliage and only for them")
        if problems:
            raise GlossaryError(f"{path}:{line}: " + "; ".join(problems), path=str(path))
        split = lambda s: tuple(a.strip() for a in s.split("|") if a.strip())  # noqa: E731
        return GlossaryTerm(zh, en, latin, category, split(zh_al), split(en_al))

    def __len__(self) -> int:
        return len(self.terms)

    @cached_property
    def _zh_index(self) -> dict[str, GlossaryTerm]:
        index: dict[str, GlossaryTerm] = {}
        for term in self.terms:
            for form in term.zh_forms:
                index.setdefault(form, term)
        return index

    @cached_property
    def _zh_max_len(self) -> int:
        return max((len(k) for k in self._zh_index), default=0)

    @cached_property
    def _en_max_len(self) -> int:
        return max((len(form) for form in self._en_index), default=0) + 2

    def _en_lookup(self, surface: str) -> GlossaryTerm | None:
        """The term whose form is `surface`, or its plural (-s, -es, -y → -ies)."""
        index = self._en_index
        if surface in index:
            return index[surface]
        if surface.endswith("ies") and surface[:-3] + "y" in index:
            return index[surface[:-3] + "y"]
        for suffix in ("es", "s"):
            base = surface.removesuffix(suffix)
            if base != surface and base in index and not base.endswith("y"):
                return index[base]
        return None

    @cached_property
    def _en_index(self) -> dict[str, GlossaryTerm]:
        index: dict[str, GlossaryTerm] = {}
        for term in self.terms:
            for form in term.en_forms:
                index.setdefault(form.lower(), term)
        return index

    def zh_words(self) -> list[str]:
        """Every Chinese surface form, for jieba's user dictionary."""
        return list(self._zh_index)

    def find_zh(self, text: str) -> list[TermMatch]:
        """Greedy longest-match scan of Chinese terms, left to right, without overlaps."""
        matches: list[TermMatch] = []
        i, n, longest = 0, len(text), self._zh_max_len
        while i < n:
            for size in range(min(longest, n - i), 0, -1):
                term = self._zh_index.get(text[i : i + size])
                if term is not None and (size > 1 or (term.zh == text[i] and term.category in PLANT_CATEGORIES)):
                    matches.append(TermMatch(term, text[i : i + size], i))
                    i += size
                    break
            else:
                i += 1
        return matches

    def find_en(self, text: str) -> list[TermMatch]:
        """Whole-word, case-insensitive, longest-first matches of English and Latin names.

        Scans word boundaries and looks candidate spans up in a dict: a regex alternation of
        ~2,000 names takes seconds to compile, which a cold `huayi ask` cannot afford.
        """
        if not self._en_index:
            return []
        lower = text.lower()
        n = len(lower)
        ends = [j for j in range(1, n + 1) if j == n or not ("a" <= lower[j] <= "z")]
        matches: list[TermMatch] = []
        i, e = 0, 0
        while i < n:
            if "a" <= lower[i] <= "z" and (i == 0 or not ("a" <= lower[i - 1] <= "z")):
                while e < len(ends) and ends[e] <= i:
                    e += 1
                last = e
                while last < len(ends) and ends[last] - i <= self._en_max_len:
                    last += 1
                for j in reversed(ends[e:last]):
                    term = self._en_lookup(lower[i:j])
                    if term is not None:
                        matches.append(TermMatch(term, text[i:j], i))
                        i = j
                        break
                else:
                    i += 1
                continue
            i += 1
        return matches

    def find(self, text: str) -> list[TermMatch]:
        return sorted(self.find_zh(text) + self.find_en(text), key=lambda m: m.start)

    def translate_terms(self, text: str, target: str) -> list[str]:
        """The glossary terms found in `text`, rendered in `target` language ("zh" or "en")."""
        out: list[str] = []
        for match in self.find(text):
            word = match.term.zh if target == "zh" else match.term.en
            if word not in out:
                out.append(word)
        return out
