"""Ending a session: the winner, a gallery of every round, and the thread archived and locked."""

from __future__ import annotations

import logging
import time

import discord

from ...i18n import Lang, render
from ._attachments import MAX_FILES
from ._base import SessionBase
from ._format import escape, names_text, progress_text, tally_text
from ._store import CandidateRecord, SessionRecord
from ._text import TEXTS
from ._votes import count_votes, pick_winner

__all__ = ["SessionEnding"]

log = logging.getLogger(__name__)


class SessionEnding(SessionBase):
    async def finish_expired(self, now: float | None = None) -> int:
        """Finish every open session whose time is up; returns how many were finished."""
        finished = 0
        for session in await self.store.due(time.time() if now is None else now):
            try:
                finished += await self.finish(session, expired=True)
            except Exception:
                log.exception("finishing expired session %s failed", session.id)
        return finished

    async def finish(
        self, session: SessionRecord, *, expired: bool = False, resume: bool = False, filesize_limit: int | None = None
    ) -> bool:
        """Announce the winner, post the gallery, archive and lock the thread; False if already finished."""
        if session.id in self._finishing or not (resume or await self.store.begin_finish(session.id)):
            return False
        self._finishing.add(session.id)
        try:
            await self._finish(session, expired=expired, filesize_limit=filesize_limit or self._filesize_limit(session))
        finally:
            self._finishing.discard(session.id)
            self._release(session)
        return True

    async def _cancel_active_rounds(self, session: SessionRecord) -> None:
        scheduler = await self.runtime.scheduler()
        for record in await self.store.rounds(session.id):
            if not record.active:
                continue
            if record.job_id is not None:
                try:
                    await scheduler.cancel(record.job_id, record.requester_id)
                except Exception as exc:  # noqa: BLE001 - a job that is gone needs no cancelling
                    log.info("cancelling job %s of session %s: %s", record.job_id, session.id, exc)
            if await self.store.finish_round(session.id, record.number, "cancelled"):
                await self._edit_progress(
                    session, record.progress_message_id, progress_text("cancelled", record.number, session.ui_lang)
                )

    async def _finish(self, session: SessionRecord, *, expired: bool, filesize_limit: int) -> None:
        lang = session.ui_lang
        channel = self._channel(session)
        async with self._lock(session.id, "round"):
            await self._cancel_active_rounds(session)
            rounds = [r for r in await self.store.rounds(session.id) if r.status == "done"]
            candidates = await self.store.candidates(session.id)
        contributors = [name for _, name, _ in (await self._brief(session)).contributors()]
        names = names_text(contributors or [session.starter_name], lang, shown=10)
        theme = escape(session.theme)
        if expired:
            await self._send(channel, render(TEXTS, "expired", lang))
        winner: tuple[int, int] | None = None
        if rounds:
            latest = rounds[-1]
            shown = [c for c in candidates if c.round == latest.number]
            async with self._lock(session.id, "votes"):  # a vote already past its check lands first
                counts = count_votes(await self.store.votes(session.id, latest.number), len(shown))
            candidate = pick_winner(counts) if counts else 1
            winner = (latest.number, candidate)
            text = render(TEXTS, "winner", lang, theme=theme, round=latest.number, candidate=candidate,
                          votes=counts[candidate - 1] if counts else 0, names=names)  # fmt: skip
            chosen = [(c.path, f"winner-round{c.round}-{c.number}") for c in shown if c.number == candidate]
            await self._send(channel, text, files=await self._files(chosen, filesize_limit))
            if latest.tally_message_id is not None:
                await self._close_tally(session, latest.tally_message_id, tally_text(latest.number, counts, lang, closed=True))
        else:
            await self._send(channel, render(TEXTS, "winner.none", lang, theme=theme, names=names))
        for record in rounds:
            await self._post_gallery(channel, [c for c in candidates if c.round == record.number], winner, lang, filesize_limit)
        await self._refresh_brief(session, finished=True)
        await self.store.mark_finished(session.id)
        await self._archive(session)

    async def _archive(self, session: SessionRecord) -> None:
        """Archive and lock the thread; without Manage Threads, at least archive it."""
        try:
            thread = await self.bot.fetch_channel(int(session.thread_id))
            if not isinstance(thread, discord.Thread):
                return
            try:
                await thread.edit(archived=True, locked=True)
            except discord.Forbidden:
                await thread.edit(archived=True)
        except discord.HTTPException as exc:
            log.warning("could not archive the thread of session %s: %s", session.id, exc)

    async def _post_gallery(
        self,
        channel: discord.PartialMessageable,
        candidates: list[CandidateRecord],
        winner: tuple[int, int] | None,
        lang: Lang,
        filesize_limit: int,
    ) -> None:
        """One round's candidates, at most ten files a message, the winner named and its file marked."""
        parts = [candidates[i : i + MAX_FILES] for i in range(0, len(candidates), MAX_FILES)]
        for n, chunk in enumerate(parts, start=1):
            part = f"({n}/{len(parts)})" if len(parts) > 1 else ""
            lines = [render(TEXTS, "gallery", lang, round=chunk[0].round, part=part).strip()]
            images = []
            for c in chunk:
                won = winner == (c.round, c.number)
                if won:
                    lines.append(render(TEXTS, "gallery.winner", lang, candidate=c.number))
                images.append((c.path, f"round{c.round}-{c.number}" + ("-winner" if won else "")))
            await self._send(channel, "\n".join(lines), files=await self._files(images, filesize_limit))

