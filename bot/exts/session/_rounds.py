"""Rounds on the shared queue: progress edits, then candidates with vote buttons, or why there are none."""

from __future__ import annotations

import asyncio
import logging
import time

import discord

from imaging.errors import GenerationFailedError
from imaging.jobs import Job
from imaging.scheduler import JobEvent

from ...i18n import render
from ...replies import NO_MENTIONS, describe_error
from ._attachments import MAX_FILES
from ._base import SessionBase
from ._format import progress_text, tally_text
from ._text import TEXTS
from ._views import vote_view

__all__ = ["SessionRounds"]

log = logging.getLogger(__name__)


class SessionRounds(SessionBase):
    async def _recover_rounds(self) -> None:
        """Rounds an earlier process queued: deliver those whose job ended unheard, follow the rest."""
        scheduler = await self.runtime.scheduler()
        for record in await self.store.active_rounds():
            if record.created_at >= self._loaded_at:
                continue  # drawn by this process; its events are already being listened to
            job = None if record.job_id is None else await scheduler.get(record.job_id)
            if job is None:
                await self._round_over(record.session_id, record.number, "failed", "interrupted")
            elif job.finished:
                await self._job_finished(job, None)
            else:
                self._jobs[job.id] = (record.session_id, record.number)

    # Job events ------------------------------------------------------------------------------
    async def _on_job_event(self, event: JobEvent) -> None:
        """Every job's events arrive here (the queue is shared); only session rounds are ours."""
        if self._closing:
            return
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            await self._handle_job_event(event)
        except Exception:
            log.exception("handling %s of image job %s for a session failed", event.kind, event.job_id)
        finally:
            if task is not None:
                self._handling.discard(task)

    async def _stop_listening(self, timeout: float = 30.0) -> None:
        """Stop taking job events and let a delivery in progress finish, so no round is posted by halves."""
        self._closing = True
        scheduler = self.runtime.scheduler_if_open
        if scheduler is not None:
            scheduler.unsubscribe(None, self._on_job_event)
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=timeout)

    async def _handle_job_event(self, event: JobEvent) -> None:
        job = event.job
        if job is not None:
            if job.meta.get("kind") != "session":
                return
            ref = (str(job.meta["session_id"]), int(job.meta["round"]))
        else:
            found = self._jobs.get(event.job_id)
            if found is None:
                return
            ref = found
        if event.terminal:
            self._jobs.pop(event.job_id, None)
            self._last_edit.pop(event.job_id, None)
            if job is not None:
                await self._job_finished(job, event.error)
            return
        self._jobs[event.job_id] = ref
        now = time.monotonic()
        if now - self._last_edit.get(event.job_id, float("-inf")) < self.settings.draw_progress_interval_s:
            return
        self._last_edit[event.job_id] = now
        session, record = await self.store.get(ref[0]), await self.store.round(*ref)
        if session is None or record is None or not record.active:
            return
        text = progress_text(
            event.kind, record.number, session.ui_lang,
            position=event.position, step=event.step, total=event.total, eta_s=event.eta_s,
        )
        await self._edit_progress(session, record.progress_message_id, text)

    async def _job_finished(self, job: Job, error: BaseException | None) -> None:
        session_id, number = str(job.meta["session_id"]), int(job.meta["round"])
        if job.status == "done":
            await self._deliver(job, session_id, number)
        elif job.status == "failed":
            code = getattr(error, "code", None) or job.error_code or "generation_failed"
            await self._round_over(session_id, number, "failed", code, error)
        else:
            await self._round_over(session_id, number, "cancelled", None)

    async def _round_over(
        self, session_id: str, number: int, status: str, code: str | None, error: BaseException | None = None
    ) -> None:
        """A round that ended without pictures: say so on its progress message."""
        async with self._lock(session_id, "round"):
            if not await self.store.finish_round(session_id, number, status, code):
                return
            session, record = await self.store.get(session_id), await self.store.round(session_id, number)
        if session is None or record is None:
            return
        lang = session.ui_lang
        if status == "failed":
            reason = describe_error(error or GenerationFailedError(code or ""), lang, f"session {session_id} round {number}")
            text = progress_text("failed", number, lang, reason=reason)
        else:
            text = progress_text("cancelled", number, lang)
        await self._edit_progress(session, record.progress_message_id, text)

    async def _deliver(self, job: Job, session_id: str, number: int) -> None:
        """Post the candidates with vote buttons and a tally; once, however often the result is reported."""
        images = [(str(image["path"]), image.get("seed")) for image in (job.result or {}).get("images", [])]
        async with self._lock(session_id, "round"):
            session, record = await self.store.get(session_id), await self.store.round(session_id, number)
            if session is None or record is None or not record.active:
                return
            if not session.is_open or not images:
                await self.store.finish_round(session_id, number, "cancelled" if images else "failed", None)
                return
            previous = await self.store.latest_done_round(session_id)
            await self.store.add_candidates(session_id, number, images)
            lang = session.ui_lang
            channel = self._channel(session)
            limit = int(job.meta.get("filesize_limit") or self._filesize_limit(session))
            try:
                for start in range(0, len(images), MAX_FILES):
                    chunk = images[start : start + MAX_FILES]
                    files = await self._files([(path, f"round{number}-{start + n}") for n, (path, _) in enumerate(chunk, 1)], limit)
                    await channel.send(render(TEXTS, "candidates", lang, round=number), files=files, allowed_mentions=NO_MENTIONS)
                tally = await channel.send(
                    tally_text(number, [0] * len(images), lang),
                    view=vote_view(session_id, number, len(images), lang),
                    allowed_mentions=NO_MENTIONS,
                )
                await self.store.update_round(session_id, number, tally_message_id=str(tally.id))
            except discord.HTTPException as exc:
                log.warning("could not post the candidates of session %s round %d: %s", session_id, number, exc)
            await self.store.finish_round(session_id, number, "done")
        if previous is not None and previous.tally_message_id is not None:
            await self._close_tally(session, previous.tally_message_id)
        await self._edit_progress(session, record.progress_message_id, progress_text("done", number, lang))

