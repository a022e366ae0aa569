"""Answers given and the feedback on them, in SQLite: for evaluation and for follow-up threads."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ...sqlite_store import SqliteStore

__all__ = ["AnswerRecord", "AnswerStore", "FeedbackTally"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ask_answers (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    guild_id TEXT,
    channel_id TEXT,
    message_id TEXT,
    thread_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    lang TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    sources TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ask_answers_message ON ask_answers (message_id);
CREATE INDEX IF NOT EXISTS ask_answers_thread ON ask_answers (thread_id);
CREATE TABLE IF NOT EXISTS ask_feedback (
    answer_id TEXT NOT NULL REFERENCES ask_answers (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    at REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
"""


@dataclass
class AnswerRecord:
    user_id: str
    question: str
    answer: str
    lang: str
    abstained: bool
    sources: list[dict[str, Any]] = field(default_factory=list)
    guild_id: str | None = None
    channel_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FeedbackTally:
    up: int
    down: int


_COLUMNS = (
    "id, user_id, guild_id, channel_id, message_id, thread_id, question, answer, lang, abstained, sources, created_at"
)


class AnswerStore(SqliteStore):
    SCHEMA = SCHEMA

    async def add(self, record: AnswerRecord) -> AnswerRecord:
        await self.db.execute(
            f"INSERT INTO ask_answers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id, record.user_id, record.guild_id, record.channel_id, record.message_id, record.thread_id,
                record.question, record.answer, record.lang, int(record.abstained),
                json.dumps(record.sources, ensure_ascii=False), record.created_at,
            ),
        )
        await self.db.commit()
        return record

    async def set_message(self, answer_id: str, message_id: int | str) -> None:
        await self.db.execute("UPDATE ask_answers SET message_id = ? WHERE id = ?", (str(message_id), answer_id))
        await self.db.commit()

    async def set_thread(self, answer_id: str, thread_id: int | str) -> None:
        await self.db.execute("UPDATE ask_answers SET thread_id = ? WHERE id = ?", (str(thread_id), answer_id))
        await self.db.commit()

    async def _one(self, where: str, value: str) -> AnswerRecord | None:
        cursor = await self.db.execute(
            f"SELECT {_COLUMNS} FROM ask_answers WHERE {where} = ? ORDER BY created_at LIMIT 1", (value,)
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        return AnswerRecord(
            id=row[0], user_id=row[1], guild_id=row[2], channel_id=row[3], message_id=row[4], thread_id=row[5],
            question=row[6], answer=row[7], lang=row[8], abstained=bool(row[9]), sources=json.loads(row[10]),
            created_at=row[11],
        )

    async def get(self, answer_id: str) -> AnswerRecord | None:
        return await self._one("id", answer_id)

    async def by_message(self, message_id: int | str) -> AnswerRecord | None:
        return await self._one("message_id", str(message_id))

    async def by_thread(self, thread_id: int | str) -> AnswerRecord | None:
        """The answer a follow-up thread was opened from (its id is the starter message's id)."""
        return await self._one("thread_id", str(thread_id)) or await self._one("message_id", str(thread_id))

    async def vote(self, answer_id: str, user_id: int | str, vote: int) -> FeedbackTally:
        """Record (or change) one member's vote on an answer; returns the new tally."""
        await self.db.execute(
            "INSERT INTO ask_feedback (answer_id, user_id, vote, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, at = excluded.at",
            (answer_id, str(user_id), vote, time.time()),
        )
        await self.db.commit()
        return await self.tally(answer_id)

    async def tally(self, answer_id: str) -> FeedbackTally:
        cursor = await self.db.execute(
            "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM ask_feedback WHERE answer_id = ?",
            (answer_id,),
        )
        up, down = await cursor.fetchone() or (0, 0)
        return FeedbackTally(int(up), int(down))

    async def export(self) -> list[dict[str, Any]]:
        """Every answer with its votes, for building evaluation sets from real questions."""
        cursor = await self.db.execute(
            f"SELECT {_COLUMNS}, (SELECT COALESCE(SUM(vote), 0) FROM ask_feedback f WHERE f.answer_id = a.id) "
            "FROM ask_answers a ORDER BY created_at"
        )
        rows = await cursor.fetchall()
        names = [c.strip() for c in _COLUMNS.split(",")] + ["score"]
        return [dict(zip(names, row, strict=True)) for row in rows]
