"""Group sessions in SQLite, so an open session keeps working across a restart.

Tables (prefixed `session_`, in the bot's shared database file): sessions, the raw
contributions (the brief is merged from them on demand, so it never goes stale), rounds,
their candidate images, and one vote per member per round.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any


from ...i18n import Lang
from ...sqlite_store import SqliteStore
from ._brief import Contribution

__all__ = ["SessionRecord", "RoundRecord", "CandidateRecord", "SessionStore", "ACTIVE_ROUND", "new_session_id"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS session_sessions (
    id               TEXT PRIMARY KEY,
    guild_id         TEXT NOT NULL,
    channel_id       TEXT NOT NULL,
    thread_id        TEXT NOT NULL,
    brief_message_id TEXT,
    starter_id       TEXT NOT NULL,
    starter_name     TEXT NOT NULL,
    theme            TEXT NOT NULL,
    style            TEXT NOT NULL,
    lang             TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       REAL NOT NULL,
    expires_at       REAL NOT NULL,
    finished_at      REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS session_sessions_live_thread
    ON session_sessions (thread_id) WHERE status != 'finished';
CREATE INDEX IF NOT EXISTS session_sessions_due ON session_sessions (status, expires_at);
CREATE TABLE IF NOT EXISTS session_contributions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES session_sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    text       TEXT NOT NULL,
    at         REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS session_contributions_session ON session_contributions (session_id, id);
CREATE TABLE IF NOT EXISTS session_rounds (
    session_id          TEXT NOT NULL REFERENCES session_sessions (id) ON DELETE CASCADE,
    number              INTEGER NOT NULL,
    status              TEXT NOT NULL,
    requester_id        TEXT NOT NULL,
    requester_name      TEXT NOT NULL,
    idea                TEXT NOT NULL,
    job_id              TEXT,
    progress_message_id TEXT,
    tally_message_id    TEXT,
    error               TEXT,
    created_at          REAL NOT NULL,
    PRIMARY KEY (session_id, number)
);
CREATE INDEX IF NOT EXISTS session_rounds_job ON session_rounds (job_id);
CREATE TABLE IF NOT EXISTS session_candidates (
    session_id TEXT NOT NULL REFERENCES session_sessions (id) ON DELETE CASCADE,
    round      INTEGER NOT NULL,
    number     INTEGER NOT NULL,
    path       TEXT NOT NULL,
    seed       INTEGER,
    PRIMARY KEY (session_id, round, number)
);
CREATE TABLE IF NOT EXISTS session_votes (
    session_id TEXT NOT NULL REFERENCES session_sessions (id) ON DELETE CASCADE,
    round      INTEGER NOT NULL,
    user_id    TEXT NOT NULL,
    candidate  INTEGER NOT NULL,
    at         REAL NOT NULL,
    PRIMARY KEY (session_id, round, user_id)
);
"""

ACTIVE_ROUND: frozenset[str] = frozenset({"pending", "queued"})
"""A round in these states has a job on its way; a session draws one round at a time."""


def new_session_id() -> str:
    """8 URL-safe characters: short enough for vote buttons' custom_ids."""
    return secrets.token_urlsafe(6)


@dataclass
class SessionRecord:
    guild_id: str
    channel_id: str
    thread_id: str
    starter_id: str
    starter_name: str
    theme: str
    style: str
    lang: str
    expires_at: float
    brief_message_id: str | None = None
    status: str = "open"
    id: str = field(default_factory=new_session_id)
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def ui_lang(self) -> Lang:
        """The starter's language, used for everything the session posts in its thread."""
        return "zh" if self.lang == "zh" else "en"


@dataclass
class RoundRecord:
    session_id: str
    number: int
    requester_id: str
    requester_name: str
    idea: str
    status: str = "pending"
    job_id: str | None = None
    progress_message_id: str | None = None
    tally_message_id: str | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_ROUND


@dataclass(frozen=True)
class CandidateRecord:
    session_id: str
    round: int
    number: int
    path: str
    seed: int | None


def _columns(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


_SESSION = _columns(SessionRecord)
_ROUND = _columns(RoundRecord)
_ROUND_FIELDS = frozenset(_ROUND) - {"session_id", "number"}


class SessionStore(SqliteStore):
    SCHEMA = SCHEMA

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self.db.execute(sql, tuple(params))
        await self.db.commit()
        return cursor.rowcount

    # Sessions -------------------------------------------------------------------
    async def create(self, session: SessionRecord) -> SessionRecord:
        values = [getattr(session, name) for name in _SESSION]
        await self._write(
            f"INSERT INTO session_sessions ({', '.join(_SESSION)}) VALUES ({', '.join('?' * len(_SESSION))})", values
        )
        return session

    async def _sessions(self, where: str, params: Iterable[Any] = ()) -> list[SessionRecord]:
        cursor = await self.db.execute(f"SELECT {', '.join(_SESSION)} FROM session_sessions WHERE {where}", tuple(params))
        return [SessionRecord(**dict(zip(_SESSION, row, strict=True))) for row in await cursor.fetchall()]

    async def get(self, session_id: str) -> SessionRecord | None:
        found = await self._sessions("id = ?", (session_id,))
        return found[0] if found else None

    async def by_thread(self, thread_id: int | str) -> SessionRecord | None:
        """The session of a thread that is not finished yet (at most one, by the unique index)."""
        found = await self._sessions("thread_id = ? AND status != 'finished'", (str(thread_id),))
        return found[0] if found else None

    async def live(self) -> list[SessionRecord]:
        """Sessions not finished yet: open ones, and any whose finishing a stop interrupted."""
        return await self._sessions("status != 'finished' ORDER BY created_at")

    async def due(self, now: float) -> list[SessionRecord]:
        return await self._sessions("status = 'open' AND expires_at <= ? ORDER BY expires_at", (now,))

    async def set_brief_message(self, session_id: str, message_id: int | str) -> None:
        await self._write("UPDATE session_sessions SET brief_message_id = ? WHERE id = ?", (str(message_id), session_id))

    async def begin_finish(self, session_id: str) -> bool:
        """Claim the session for finishing; False when it is not open (already finishing or finished)."""
        return await self._write(
            "UPDATE session_sessions SET status = 'finishing' WHERE id = ? AND status = 'open'", (session_id,)
        ) == 1

    async def mark_finished(self, session_id: str, at: float | None = None) -> None:
        await self._write(
            "UPDATE session_sessions SET status = 'finished', finished_at = ? WHERE id = ?",
            (at if at is not None else time.time(), session_id),
        )

    # Contributions ----------------------------------------------------------------
    async def add_contribution(self, session_id: str, contribution: Contribution) -> None:
        await self._write(
            "INSERT INTO session_contributions (session_id, user_id, name, text, at) VALUES (?, ?, ?, ?, ?)",
            (session_id, contribution.user_id, contribution.name, contribution.text, contribution.at or time.time()),
        )

    async def contributions(self, session_id: str) -> list[Contribution]:
        cursor = await self.db.execute(
            "SELECT user_id, name, text, at FROM session_contributions WHERE session_id = ? ORDER BY id", (session_id,)
        )
        return [Contribution(*row) for row in await cursor.fetchall()]

    # Rounds -----------------------------------------------------------------------
    async def new_round(self, session_id: str, requester_id: str, requester_name: str, idea: str) -> RoundRecord:
        """The next round, numbered after every earlier one (failed rounds keep their numbers)."""
        cursor = await self.db.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM session_rounds WHERE session_id = ?", (session_id,)
        )
        row = await cursor.fetchone()
        record = RoundRecord(session_id, int(row[0]) if row else 1, str(requester_id), requester_name, idea)
        values = [getattr(record, name) for name in _ROUND]
        await self._write(
            f"INSERT INTO session_rounds ({', '.join(_ROUND)}) VALUES ({', '.join('?' * len(_ROUND))})", values
        )
        return record

    async def update_round(self, session_id: str, number: int, **changes: Any) -> None:
        unknown = set(changes) - _ROUND_FIELDS
        if unknown:
            raise ValueError(f"unknown round fields {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        await self._write(
            f"UPDATE session_rounds SET {assignments} WHERE session_id = ? AND number = ?",
            [*changes.values(), session_id, number],
        )

    async def mark_queued(self, session_id: str, number: int, job_id: str) -> None:
        """The job is accepted; a result that already finished the round is left alone."""
        await self._write(
            "UPDATE session_rounds SET job_id = ?, status = CASE WHEN status = 'pending' THEN 'queued' ELSE status END "
            "WHERE session_id = ? AND number = ?",
            (job_id, session_id, number),
        )

    async def finish_round(self, session_id: str, number: int, status: str, error: str | None = None) -> bool:
        """Move an active round to a final status; False when something else already did."""
        return await self._write(
            "UPDATE session_rounds SET status = ?, error = ? "
            "WHERE session_id = ? AND number = ? AND status IN ('pending', 'queued')",
            (status, error, session_id, number),
        ) == 1

    async def _rounds(self, where: str, params: Iterable[Any]) -> list[RoundRecord]:
        cursor = await self.db.execute(f"SELECT {', '.join(_ROUND)} FROM session_rounds WHERE {where}", tuple(params))
        return [RoundRecord(**dict(zip(_ROUND, row, strict=True))) for row in await cursor.fetchall()]

    async def rounds(self, session_id: str) -> list[RoundRecord]:
        return await self._rounds("session_id = ? ORDER BY number", (session_id,))

    async def round(self, session_id: str, number: int) -> RoundRecord | None:
        found = await self._rounds("session_id = ? AND number = ?", (session_id, number))
        return found[0] if found else None

    async def latest_done_round(self, session_id: str) -> RoundRecord | None:
        found = await self._rounds("session_id = ? AND status = 'done' ORDER BY number DESC LIMIT 1", (session_id,))
        return found[0] if found else None

    async def active_rounds(self) -> list[RoundRecord]:
        """Rounds still waiting for their images, in every session (for recovery after a restart)."""
        return await self._rounds("status IN ('pending', 'queued') ORDER BY created_at", ())

    # Candidates and votes ---------------------------------------------------------
    async def add_candidates(self, session_id: str, round_number: int, images: Iterable[tuple[str, int | None]]) -> None:
        await self.db.executemany(
            "INSERT OR REPLACE INTO session_candidates (session_id, round, number, path, seed) VALUES (?, ?, ?, ?, ?)",
            [(session_id, round_number, n, path, seed) for n, (path, seed) in enumerate(images, start=1)],
        )
        await self.db.commit()

    async def candidates(self, session_id: str, round_number: int | None = None) -> list[CandidateRecord]:
        where, params = "session_id = ?", [session_id]
        if round_number is not None:
            where, params = where + " AND round = ?", [session_id, round_number]
        cursor = await self.db.execute(
            f"SELECT session_id, round, number, path, seed FROM session_candidates WHERE {where} ORDER BY round, number",
            params,
        )
        return [CandidateRecord(*row) for row in await cursor.fetchall()]

    async def vote(self, session_id: str, round_number: int, user_id: int | str, candidate: int) -> int | None:
        """Record or move the member's vote in the round; returns their previous choice (None if first)."""
        cursor = await self.db.execute(
            "SELECT candidate FROM session_votes WHERE session_id = ? AND round = ? AND user_id = ?",
            (session_id, round_number, str(user_id)),
        )
        row = await cursor.fetchone()
        await self._write(
            "INSERT INTO session_votes (session_id, round, user_id, candidate, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (session_id, round, user_id) DO UPDATE SET candidate = excluded.candidate, at = excluded.at",
            (session_id, round_number, str(user_id), candidate, time.time()),
        )
        return None if row is None else int(row[0])

    async def votes(self, session_id: str, round_number: int) -> list[int]:
        """Every member's current choice in the round."""
        cursor = await self.db.execute(
            "SELECT candidate FROM session_votes WHERE session_id = ? AND round = ?", (session_id, round_number)
        )
        return [int(row[0]) for row in await cursor.fetchall()]
