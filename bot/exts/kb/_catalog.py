"""What the knowledge base holds, read without building or loading anything heavy.

`/status` and `/kb stats` must answer in moments and must never start an index build,
so they read the live version's manifest (a small JSON file) rather than the index,
and the answers' feedback table read-only, tolerating a database that does not exist yet.
"""

from __future__ import annotations

import calendar
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexMissingError, RagError
from rag.index import KnowledgeIndex, SourceRoot

__all__ = ["IndexSummary", "FeedbackCounts", "read_index_summary", "safe_index_summary", "read_feedback", "source_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSummary:
    """The live index version as its manifest describes it."""

    documents: int
    chunks: int
    version: str
    built_at: float | None
    skipped: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def chunks_of(self, key: str) -> int:
        return len(self.files.get(key, {}).get("ids") or [])


@dataclass(frozen=True)
class FeedbackCounts:
    up: int
    down: int
    answers: int


def _parse_built_at(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def read_index_summary(index_dir: Path) -> IndexSummary | None:
    """The live version's summary; None when no index was built yet.

    Raises `IndexCorruptError` (a RagError) when the pointer or manifest is damaged.
    """
    try:
        directory = KnowledgeIndex.current_dir(index_dir)
    except IndexMissingError:
        return None
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"manifest in {directory} is unreadable: {exc}", path=str(index_dir)) from exc
    files = manifest.get("files") or {}
    skipped = {str(k): str(v) for k, v in (manifest.get("skipped") or {}).items()}
    return IndexSummary(
        documents=sum(1 for key in files if key not in skipped),
        chunks=int(manifest.get("chunk_count") or 0),
        version=directory.name,
        built_at=_parse_built_at(manifest.get("built_at")),
        skipped=skipped,
        files=files,
    )


def safe_index_summary(index_dir: Path) -> IndexSummary | None | RagError:
    """Like `read_index_summary`, but a damaged index is returned as its error, for display."""
    try:
        return read_index_summary(index_dir)
    except RagError as exc:
        return exc


def read_feedback(database: Path) -> FeedbackCounts | None:
    """👍/👎 totals from `ask_feedback`; None when the database or table is not there (yet)."""
    if not database.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as exc:
        log.info("feedback database %s not readable: %s", database, exc)
        return None
    try:
        row = connection.execute(
            "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0), COUNT(DISTINCT answer_id) FROM ask_feedback"
        ).fetchone()
    except sqlite3.Error as exc:
        log.info("no feedback counts from %s: %s", database, exc)
        return None
    finally:
        connection.close()
    return FeedbackCounts(int(row[0]), int(row[1]), int(row[2]))


def source_key(path: Path, roots: list[SourceRoot]) -> str | None:
    """The key the index stores `path` under (`<root label>/<relative path>`), if under a root."""
    resolved = path.resolve()
    for root in roots:
        try:
            relative = resolved.relative_to(root.directory.resolve())
        except ValueError:
            continue
        return f"{root.label}/{relative.as_posix()}"
    return None
