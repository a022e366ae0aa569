"""Follow-up questions: carry the subject of earlier turns into a short question.

"那冬天呢？" after "牡丹怎么养护？" is searched as "牡丹 那冬天呢？"; "what about in
winter?" after a question on hydrangeas becomes "hydrangea what about in winter?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .glossary import Glossary

__all__ = ["Turn", "contextualise", "SUBJECT_CATEGORIES"]

SUBJECT_CATEGORIES = frozenset({"flower", "foliage", "style", "technique", "occasion"})


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    text: str


def _subjects(glossary: Glossary, text: str) -> list[str]:
    return list(dict.fromkeys(m.surface for m in glossary.find(text) if m.term.category in SUBJECT_CATEGORIES))


def contextualise(question: str, history: Sequence[Turn], glossary: Glossary) -> str:
    """The retrieval query for `question` given the conversation so far."""
    if not history or _subjects(glossary, question):
        return question
    for turn in reversed(history):
        if turn.role != "user":
            continue
        subjects = _subjects(glossary, turn.text)
        if subjects:
            return " ".join(subjects) + " " + question
    last_user = next((t.text for t in reversed(history) if t.role == "user"), "")
    return f"{last_user} {question}".strip()
