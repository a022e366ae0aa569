"""Durable image jobs in SQLite (`image_jobs`), so an accepted job survives a restart.

Every write is its own committed statement (autocommit, WAL, `synchronous=FULL` by
default): once `add` returns, a crash cannot lose the job. The table lives in the bot's
shared database file, next to other tables, hence `CREATE TABLE IF NOT EXISTS`.

Status columns and `meta` are written separately (`update` never touches `meta`), so the
scheduler recording progress cannot overwrite message ids the front end stored meanwhile.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiosqlite

from .request import GenerationRequest

__all__ = [
    "JobStatus",
    "UNFINISHED",
    "FINISHED",
    "Job",
    "JobStore",
    "new_job_id",
    "request_to_dict",
    "request_from_dict",
    "request_to_json",
    "request_from_json",
]

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
UNFINISHED: frozenset[str] = frozenset({"queued", "running"})
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS image_jobs (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    guild_id     TEXT,
    channel_id   TEXT,
    request      TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    result       TEXT,
    error_code   TEXT,
    error_detail TEXT,
    meta         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS image_jobs_status ON image_jobs (status, created_at);
CREATE INDEX IF NOT EXISTS image_jobs_user ON image_jobs (user_id, created_at);
"""
_COLUMNS = (
    "id, user_id, guild_id, channel_id, request, status, created_at, started_at, finished_at, "
    "attempts, result, error_code, error_detail, meta"
)
_REQUEST_FIELDS = {f.name for f in dataclasses.fields(GenerationRequest)}


def new_job_id() -> str:
    """12 URL-safe characters: unique enough, and short enough for a Discord custom_id."""
    return secrets.token_urlsafe(9)


def request_to_dict(request: GenerationRequest) -> dict[str, Any]:
    data = dataclasses.asdict(request)
    data["seeds"] = list(request.seeds)
    return data


def request_from_dict(data: Mapping[str, Any]) -> GenerationRequest:
    """Unknown keys are ignored, so rows written by a newer version still load."""
    values = {k: v for k, v in data.items() if k in _REQUEST_FIELDS}
    values["seeds"] = tuple(int(s) for s in values.get("seeds") or ())
    return GenerationRequest(**values)


def request_to_json(request: GenerationRequest) -> str:
    return json.dumps(request_to_dict(request), ensure_ascii=False, sort_keys=True)


def request_from_json(text: str) -> GenerationRequest:
    return request_from_dict(json.loads(text))


@dataclass
class Job:
    """One member's generation request and what became of it."""

    id: str
    user_id: str
    request: GenerationRequest
    guild_id: str | None = None
    channel_id: str | None = None
    status: JobStatus = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_detail: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        user_id: str,
        request: GenerationRequest,
        *,
        guild_id: str | None = None,
        channel_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        created_at: float | None = None,
    ) -> Job:
        return cls(
            id=new_job_id(),
            user_id=str(user_id),
            request=request,
            guild_id=None if guild_id is None else str(guild_id),
            channel_id=None if channel_id is None else str(channel_id),
            created_at=time.time() if created_at is None else created_at,
            meta=dict(meta or {}),
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def snapshot(self) -> Job:
        """A copy safe to hand to listeners: later changes to this job do not show through."""
        copied = copy.copy(self)
        copied.meta = dict(self.meta)
        if self.result is not None:
            copied.result = dict(self.result)
        return copied


def _row_to_job(row: aiosqlite.Row | tuple[Any, ...]) -> Job:
    (id_, user_id, guild_id, channel_id, request, status, created_at, started_at, finished_at,
     attempts, result, error_code, error_detail, meta) = tuple(row)
    return Job(
        id=id_,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        request=request_from_json(request),
        status=status,
        created_at=created_at,
        started_at=started_at,
        finished_at=finished_at,
        attempts=attempts,
        result=None if result is None else json.loads(result),
        error_code=error_code,
        error_detail=error_detail,
        meta=json.loads(meta or "{}"),
    )


def _dump(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class JobStore:
    """The `image_jobs` table of one SQLite file, through one aiosqlite connection."""

    def __init__(self, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self.path: str | Path = path if str(path) == ":memory:" else Path(path)
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> JobStore:
        if self._db is not None:
            return self
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(self.path), isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={self.synchronous}")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.executescript(_SCHEMA)
        except BaseException:
            await db.close()
            raise
        self._db = db
        return self

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def __aenter__(self) -> JobStore:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("JobStore is not open")
        return self._db

    async def add(self, job: Job) -> None:
        await self.db.execute(
            f"INSERT INTO image_jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id, job.user_id, job.guild_id, job.channel_id, request_to_json(job.request), job.status,
                job.created_at, job.started_at, job.finished_at, job.attempts, _dump(job.result),
                job.error_code, job.error_detail, _dump(job.meta) or "{}",
            ),
        )

    async def update(self, job: Job) -> None:
        """Write the job's status columns (not `meta`: see `set_meta`)."""
        await self.db.execute(
            "UPDATE image_jobs SET status = ?, started_at = ?, finished_at = ?, attempts = ?, result = ?, "
            "error_code = ?, error_detail = ? WHERE id = ?",
            (
                job.status, job.started_at, job.finished_at, job.attempts, _dump(job.result),
                job.error_code, job.error_detail, job.id,
            ),
        )

    async def set_meta(self, job_id: str, meta: Mapping[str, Any]) -> None:
        await self.db.execute("UPDATE image_jobs SET meta = ? WHERE id = ?", (_dump(meta) or "{}", job_id))

    async def mark_queued(self, job: Job) -> None:
        job.status, job.started_at, job.finished_at = "queued", None, None
        await self.update(job)

    async def mark_running(self, job: Job, at: float | None = None) -> None:
        job.status, job.started_at, job.finished_at = "running", time.time() if at is None else at, None
        job.attempts += 1
        await self.update(job)

    async def mark_done(self, job: Job, result: Mapping[str, Any], at: float | None = None) -> None:
        job.status, job.finished_at, job.result = "done", time.time() if at is None else at, dict(result)
        job.error_code = job.error_detail = None
        await self.update(job)

    async def mark_failed(self, job: Job, code: str, detail: str = "", at: float | None = None) -> None:
        job.status, job.finished_at = "failed", time.time() if at is None else at
        job.error_code, job.error_detail = code, detail
        await self.update(job)

    async def mark_cancelled(self, job: Job, at: float | None = None) -> None:
        job.status, job.finished_at = "cancelled", time.time() if at is None else at
        await self.update(job)

    async def get(self, job_id: str) -> Job | None:
        async with self.db.execute(f"SELECT {_COLUMNS} FROM image_jobs WHERE id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _row_to_job(row)

    async def list_unfinished(self) -> list[Job]:
        """Queued and running jobs, oldest first (the order recovery re-queues them in)."""
        async with self.db.execute(
            f"SELECT {_COLUMNS} FROM image_jobs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid"
        ) as cursor:
            rows = await cursor.fetchall()
        return [_row_to_job(row) for row in rows]

    async def list_finished_since(self, since: float, limit: int = 500) -> list[Job]:
        """Jobs that ended (done, failed or cancelled) at or after `since`, oldest first.

        A front end uses it after a restart to report results that ended while nothing listened.
        """
        async with self.db.execute(
            f"SELECT {_COLUMNS} FROM image_jobs WHERE status IN ('done', 'failed', 'cancelled') "
            "AND finished_at >= ? ORDER BY finished_at, rowid LIMIT ?",
            (since, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_row_to_job(row) for row in rows]

    async def list_by_user(self, user_id: str, limit: int = 20) -> list[Job]:
        """The member's most recent jobs, newest first."""
        async with self.db.execute(
            f"SELECT {_COLUMNS} FROM image_jobs WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (str(user_id), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_row_to_job(row) for row in rows]

    async def delete(self, job_id: str) -> bool:
        async with self.db.execute("DELETE FROM image_jobs WHERE id = ?", (job_id,)) as cursor:
            return cursor.rowcount > 0
