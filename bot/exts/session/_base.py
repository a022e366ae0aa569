"""State and helpers every part of the session feature shares: store, locks, the thread, the brief."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

import discord

from ...errors import GoneError
from ...i18n import Lang
from ...replies import NO_MENTIONS
from .._feature import FeatureCog
from ._attachments import image_files
from ._brief import Brief, merge
from ._errors import SessionError
from ._format import brief_description, brief_title
from ._store import SessionRecord, SessionStore

__all__ = ["SessionBase"]

log = logging.getLogger(__name__)
BRIEF_COLOUR = discord.Colour.from_rgb(232, 142, 170)


class SessionBase(FeatureCog):
    feature = "session"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = SessionStore(self.settings.database_path)
        self._threads: dict[int, str] = {}
        self._jobs: dict[str, tuple[str, int]] = {}
        self._last_edit: dict[str, float] = {}
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._finishing: set[str] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._loaded_at = time.time()
        self._closing = False
        self._handling: set[asyncio.Task[object]] = set()

    def _claim(self, session: SessionRecord) -> None:
        self._threads[int(session.thread_id)] = session.id
        self.runtime.claimed_threads.add(int(session.thread_id))

    def _release(self, session: SessionRecord) -> None:
        self._threads.pop(int(session.thread_id), None)
        self.runtime.claimed_threads.discard(int(session.thread_id))

    def _lock(self, session_id: str, part: str) -> asyncio.Lock:
        return self._locks[(session_id, part)]

    def _channel(self, session: SessionRecord) -> discord.PartialMessageable:
        """The thread, usable by id alone (before the guild cache is ready, after a restart)."""
        return self.bot.get_partial_messageable(
            int(session.thread_id), guild_id=int(session.guild_id), type=discord.ChannelType.public_thread
        )

    def _filesize_limit(self, session: SessionRecord) -> int:
        """The guild's upload limit when no interaction reported it (results arrive from the queue)."""
        guild = self.bot.get_guild(int(session.guild_id))
        return guild.filesize_limit if guild is not None else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    def _style_name(self, style_id: str, lang: Lang) -> str:
        return self.runtime.services.imaging.style(style_id).name.get(lang)

    async def _brief(self, session: SessionRecord) -> Brief:
        return merge(await self.store.contributions(session.id), self.runtime.services.glossary)

    def _brief_embed(self, session: SessionRecord, brief: Brief, *, finished: bool = False) -> discord.Embed:
        how = "brief.how" if self.settings.wants_message_content else "brief.how_command"
        description = brief_description(
            brief,
            session.ui_lang,
            starter=session.starter_name,
            style=self._style_name(session.style, session.ui_lang),
            expires_at=session.expires_at,
            how=how,
            finished=finished,
        )
        return discord.Embed(title=brief_title(session.theme, session.ui_lang), description=description, colour=BRIEF_COLOUR)

    async def _refresh_brief(self, session: SessionRecord, *, finished: bool = False) -> None:
        """Edit the pinned brief to the merged contributions; serialised so the last edit shows the latest brief."""
        if session.brief_message_id is None:
            return
        async with self._lock(session.id, "brief"):
            embed = self._brief_embed(session, await self._brief(session), finished=finished)
            try:
                await self._channel(session).get_partial_message(int(session.brief_message_id)).edit(
                    embed=embed, allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as exc:
                log.warning("could not update the brief of session %s: %s", session.id, exc)

    async def _session_here(self, interaction: discord.Interaction) -> SessionRecord:
        session = await self.store.by_thread(interaction.channel_id or 0)
        if session is None:
            raise SessionError("no_session")
        if not session.is_open:
            raise SessionError("closed")
        return session

    async def _open_session(self, session_id: str) -> SessionRecord:
        session = await self.store.get(session_id)
        if session is None:
            raise GoneError(session_id)
        if not session.is_open:
            raise SessionError("closed")
        return session

    async def _edit_progress(self, session: SessionRecord, message_id: str | None, text: str) -> None:
        if message_id is None:
            return
        try:
            await self._channel(session).get_partial_message(int(message_id)).edit(content=text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not update round progress in session %s: %s", session.id, exc)

    async def _close_tally(self, session: SessionRecord, message_id: str, text: str | None = None) -> None:
        """Voting moved on (a newer round, or the end): the buttons go, the counts stay."""
        try:
            message = self._channel(session).get_partial_message(int(message_id))
            if text is None:
                await message.edit(view=None)
            else:
                await message.edit(content=text, view=None, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not close the tally of session %s: %s", session.id, exc)

    async def _files(self, images: list[tuple[str, str]], filesize_limit: int) -> list[discord.File]:
        try:
            return await image_files(self.runtime, images, filesize_limit)
        except (OSError, ValueError) as exc:
            log.warning("could not prepare session images %s: %s", [p for p, _ in images], exc)
            return []

    @staticmethod
    async def _send(channel: discord.PartialMessageable, text: str, **kwargs: Any) -> None:
        try:
            await channel.send(text, allowed_mentions=NO_MENTIONS, **kwargs)
        except discord.HTTPException as exc:
            log.warning("could not post to session thread %s: %s", channel.id, exc)

