"""Conversation rules that need no Discord objects: cleaning messages and building history."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag.conversation import Turn

__all__ = ["HistoryMessage", "strip_bot_mention", "history_turns", "MAX_TURNS"]

MAX_TURNS = 8


@dataclass(frozen=True)
class HistoryMessage:
    """One earlier message of a thread or reply chain, oldest first."""

    from_bot: bool
    text: str


def strip_bot_mention(content: str, bot_id: int) -> str:
    """The question without the @mention that addressed the bot."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def history_turns(messages: Iterable[HistoryMessage], bot_id: int, limit: int = MAX_TURNS) -> list[Turn]:
    """The last `limit` non-empty turns, with member text cleaned of mentions."""
    turns = [
        Turn("assistant" if m.from_bot else "user", m.text if m.from_bot else strip_bot_mention(m.text, bot_id))
        for m in messages
    ]
    return [t for t in turns if t.text.strip()][-limit:]
