"""Language detection, input hygiene and sentence splitting for Chinese and English."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from .errors import InvalidQuestionError

__all__ = ["Lang", "detect_lang", "has_cjk", "clean_text", "validate_question", "split_sentences"]

Lang = Literal["zh", "en"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_ZH_SENT = re.compile(r"[^。！？；!?;\n]*[。！？；!?;]+[”’」』）)]*|[^。！？；!?;\n]+")
_EN_SENT = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"'(\[])|\n+")
_ZH_FULL = re.compile(r"[^。！？!?\n]*[。！？!?]+[”’」』）)]*|[^。！？!?\n]+")
_EN_FULL = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n+")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def detect_lang(text: str) -> Lang:
    """Chinese when Han characters are at least as many as Latin words; else English.

    Mixed questions such as "牡丹 Paeonia 怎么养" are Chinese: the Latin name is a
    term, not the language the member is writing in.
    """
    han = len(_CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    return "zh" if han and han >= words else "en"


def clean_text(text: str) -> str:
    """NFC-normalise and drop control/format characters (keeps newlines and tabs as spaces)."""
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        if ch in "\n\t\r":
            out.append(" ")
        elif unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            continue
        else:
            out.append(ch)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def validate_question(text: object, max_chars: int) -> str:
    """Return the cleaned question or raise `InvalidQuestionError` with a reason code."""
    if not isinstance(text, str):
        raise InvalidQuestionError("question must be text", reason="not_text")
    control = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t\r")
    if control and control * 2 > len(text):
        raise InvalidQuestionError("question is mostly control characters", reason="control")
    cleaned = clean_text(text)
    if not cleaned:
        raise InvalidQuestionError("question is empty", reason="empty")
    if len(cleaned) > max_chars:
        raise InvalidQuestionError(
            f"question has {len(cleaned)} characters; the limit is {max_chars}",
            reason="too_long",
            length=len(cleaned),
            limit=max_chars,
        )
    if not any(ch.isalnum() for ch in cleaned):
        raise InvalidQuestionError("question has no words", reason="empty")
    return cleaned


_MD_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:[-*+]|\d+[.)])\s+", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _blocks(text: str) -> list[str]:
    """Lines, with a line ending in a colon kept together with the list that follows it."""
    blocks: list[str] = []
    in_list = False
    for line in text.splitlines():
        line = line.strip()
        if not line:
            in_list = False
            continue
        item = _LIST_ITEM.match(line)
        if item and blocks and (in_list or blocks[-1].endswith((":", "："))):
            if blocks[-1].endswith((":", "：")):
                sep = " "
            else:
                sep = "" if blocks[-1].endswith(("。", "！", "？", "；")) else "; "
            blocks[-1] += sep + line[item.end() :].strip()
            in_list = True
            continue
        in_list = False
        blocks.append(line)
    return blocks


def split_sentences(text: str, lang: Lang | None = None, clauses: bool = True) -> list[str]:
    """Split at 。！？； for Chinese and at sentence punctuation for English.

    With `clauses=False` semicolons do not split: answers quote whole sentences, so
    "one ribbon names the dead; the other, the sender" keeps both halves.

    Markdown emphasis and list markers are removed; an introduction ending in a colon
    stays with its list, so "three causes:" is never quoted without the causes.
    """
    lang = lang or detect_lang(text)
    parts: list[str] = []
    blocks = _blocks(text)
    for block in blocks:
        if block.endswith((":", "：")) and len(blocks) > 1:
            continue
        block = _MD_MARKUP.sub("", block).strip()
        if lang == "zh":
            parts += [m.group(0).strip() for m in (_ZH_SENT if clauses else _ZH_FULL).finditer(block)]
        else:
            parts += [p.strip() for p in (_EN_SENT if clauses else _EN_FULL).split(block)]
    return [p for p in parts if p and any(ch.isalnum() for ch in p)]
