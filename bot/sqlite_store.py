"""The shared shape of the Discord layer's SQLite stores (answers, sessions).

All features share one database file (`Settings.database_path`) with their own prefixed
tables; WAL lets the image queue, answers and sessions write without blocking readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import aiosqlite

__all__ = ["SqliteStore"]


class SqliteStore:
    """Opens the database, applies the subclass's idempotent `SCHEMA`, and closes it."""

    SCHEMA: ClassVar[str] = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.executescript(self.SCHEMA)
        await self._db.commit()
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        return self._db
