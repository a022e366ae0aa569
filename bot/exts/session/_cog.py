"""/session: a thread where members build one brief together, draw candidates and vote.

Everything a session needs lives in SQLite and in the image jobs' meta, so a restart
loses nothing: open sessions keep taking contributions and votes, rounds still in the
queue are delivered by the new process, and expiry still finishes them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import discord
from discord import app_commands
from discord.ext import commands, tasks

from ...drawing import DrawSpec, plan_draw, planned_meta, submit_request
from ...errors import GoneError, NotAllowedError, register_texts
from ...i18n import Lang, render, text_lang
from ...replies import NO_MENTIONS, describe_error, interaction_lang, send_ephemeral
from ._brief import MAX_CONTRIBUTION_CHARS, Brief, Contribution, MergeOutcome, clean_contribution, merge_new
from ._errors import SessionError
from ._ending import SessionEnding
from ._format import escape, progress_text, tally_text, thread_name
from ._rounds import SessionRounds
from ._store import SessionRecord
from ._text import ERRORS, TEXTS
from ._views import VoteButton
from ._votes import count_votes

__all__ = ["SessionCog"]

log = logging.getLogger(__name__)
EXPIRY_CHECK_S = 30.0
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
_MENTION = re.compile(r"<@!?\d+>")


def _archive_after(minutes: int) -> int:
    """Discord archives a quiet thread after one of four durations; pick the first that outlasts the session."""
    return next((d for d in ARCHIVE_DURATIONS if d >= minutes), ARCHIVE_DURATIONS[-1])


class SessionCog(SessionRounds, SessionEnding):
    group = app_commands.Group(
        name="session",
        description="Group flower-picture sessions · 花艺共创",
        guild_only=True,
        extras={"huayi": True},
    )

    # Lifecycle ---------------------------------------------------------------------
    async def cog_load(self) -> None:
        register_texts(ERRORS)
        await self.store.open()
        await self.runtime.run_blocking(self._warm_up)
        self.bot.add_dynamic_items(VoteButton)
        for session in await self.store.live():
            self._claim(session)
        scheduler = await self.runtime.scheduler()
        scheduler.subscribe(None, self._on_job_event)
        self._recovery = asyncio.create_task(self._recover(), name="huayi-session-recovery")
        self._expiry.start()

    async def on_unload(self) -> None:
        self._expiry.cancel()
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self._stop_listening()
        self.bot.remove_dynamic_items(VoteButton)
        for thread_id in self._threads:
            self.runtime.claimed_threads.discard(thread_id)
        await self.store.close()

    def _warm_up(self) -> None:
        """Load the glossary and blocklist in a worker thread, so the first contribution is quick."""
        _ = self.runtime.services.glossary, self.runtime.services.imaging.blocklist, self.runtime.services.imaging.styles

    async def _recover(self) -> None:
        """After a restart: rounds whose job ended while no one listened, and interrupted finishes."""
        try:
            await self._recover_rounds()
            for session in await self.store.live():
                if session.status == "finishing":
                    await self.finish(session, resume=True)
        except Exception:
            log.exception("recovering group sessions failed")

    # /session start --------------------------------------------------------------------
    @group.command(name="start", description="Start a group session in a new thread · 发起花艺共创", extras={"huayi": True})
    @app_commands.checks.bot_has_permissions(
        create_public_threads=True, send_messages_in_threads=True, embed_links=True, attach_files=True
    )
    @app_commands.describe(
        theme="What the picture is about · 作品主题",
        style="Arrangement style · 花艺风格",
        minutes="How long the session stays open · 持续多少分钟",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        theme: app_commands.Range[str, 1, MAX_CONTRIBUTION_CHARS],
        style: str | None = None,
        minutes: app_commands.Range[int, 1, 10080] | None = None,
    ) -> None:
        channel = interaction.channel
        if interaction.guild is None or not isinstance(channel, discord.TextChannel):
            raise SessionError("not_text_channel")
        limit = self.settings.session_max_minutes
        minutes = self.settings.session_default_minutes if minutes is None else minutes
        if not 1 <= minutes <= limit:
            raise SessionError("minutes", limit=limit)
        theme = clean_contribution(
            theme, self.runtime.services.imaging.blocklist, min(MAX_CONTRIBUTION_CHARS, self.settings.image_max_idea_chars)
        )
        style_id = self.runtime.services.imaging.style(style).id
        self.runtime.limiter.check("session", interaction.user.id, interaction.guild_id)
        lang = interaction_lang(interaction)
        starter = interaction.user.display_name
        await interaction.response.send_message(
            render(TEXTS, "announce", lang, starter=escape(starter), theme=escape(theme)), allowed_mentions=NO_MENTIONS
        )
        announcement = await interaction.original_response()
        thread = await announcement.create_thread(name=thread_name(theme, lang), auto_archive_duration=_archive_after(minutes))
        session = SessionRecord(
            guild_id=str(interaction.guild.id),
            channel_id=str(channel.id),
            thread_id=str(thread.id),
            starter_id=str(interaction.user.id),
            starter_name=starter,
            theme=theme,
            style=style_id,
            lang=lang,
            expires_at=time.time() + minutes * 60,
        )
        brief_message = await thread.send(embed=self._brief_embed(session, Brief()), allowed_mentions=NO_MENTIONS)
        session.brief_message_id = str(brief_message.id)
        await self.store.create(session)
        self._claim(session)
        try:
            await brief_message.pin()
        except discord.HTTPException as exc:
            log.warning("could not pin the brief of session %s: %s", session.id, exc)

    @start.autocomplete("style")
    async def _style_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        styles = self.runtime.services.imaging.styles
        return [
            app_commands.Choice(name=label[:100], value=style_id)
            for label, style_id in styles.choices(current, interaction_lang(interaction))
        ]

    # Contributions ----------------------------------------------------------------------
    async def contribute(self, session: SessionRecord, user_id: str, name: str, text: str) -> MergeOutcome:
        """Validate, merge into the brief (refusing what would not fit a drawing) and store."""
        cleaned = clean_contribution(text, self.runtime.services.imaging.blocklist)
        contribution = Contribution(user_id, name, cleaned, time.time())
        async with self._lock(session.id, "contribution"):
            outcome = merge_new(
                await self._brief(session),
                contribution,
                self.runtime.services.glossary,
                theme=session.theme,
                max_idea_chars=self.settings.image_max_idea_chars,
            )
            await self.store.add_contribution(session.id, contribution)
        return outcome

    @staticmethod
    def _outcome_text(outcome: MergeOutcome, lang: Lang) -> str:
        lines = []
        if outcome.added:
            lines.append(render(TEXTS, "added", lang, items=", ".join(escape(t) for t in outcome.added)))
        if outcome.repeated:
            lines.append(render(TEXTS, "already", lang, items=", ".join(escape(t) for t in outcome.repeated)))
        return "\n".join(lines)

    @group.command(name="add", description="Add flowers, colours, vessels or moods · 补充花材、颜色、花器或氛围", extras={"huayi": True})
    @app_commands.describe(text="For example: white peonies, black vase, calm · 例如：白牡丹、黑色花器、宁静")
    async def add(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, MAX_CONTRIBUTION_CHARS]) -> None:
        session = await self._session_here(interaction)
        self.runtime.limiter.check("session", interaction.user.id, interaction.guild_id)
        outcome = await self.contribute(session, str(interaction.user.id), interaction.user.display_name, text)
        await send_ephemeral(interaction, self._outcome_text(outcome, interaction_lang(interaction)))
        await self._refresh_brief(session)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Every member message in an open session thread is a contribution."""
        if message.author.bot or message.guild is None:
            return
        session_id = self._threads.get(message.channel.id)
        if session_id is None:
            return
        text = _MENTION.sub(" ", message.content or "").strip()
        if not text:
            return
        session = await self.store.get(session_id)
        if session is None or not session.is_open:
            return
        lang = text_lang(text, session.ui_lang)
        try:
            self.runtime.limiter.check("session", message.author.id, message.guild.id)
            outcome = await self.contribute(session, str(message.author.id), message.author.display_name, text)
        except Exception as exc:  # noqa: BLE001 - every refusal becomes a polite reply
            await self._reply(message, describe_error(exc, lang, f"session contribution by {message.author.id}"))
            return
        try:
            await message.add_reaction("✅" if outcome.added else "🔁")
        except discord.HTTPException as exc:
            log.warning("could not react to a contribution in session %s: %s", session.id, exc)
        await self._refresh_brief(session)

    @staticmethod
    async def _reply(message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not answer message %s: %s", message.id, exc)

    # /session draw ------------------------------------------------------------------------
    @group.command(name="draw", description="Draw candidate pictures from the brief · 根据简报生成候选图", extras={"huayi": True})
    async def draw(self, interaction: discord.Interaction) -> None:
        session = await self._session_here(interaction)
        if any(r.active for r in await self.store.rounds(session.id)):
            raise SessionError("already_drawing")
        self.runtime.limiter.check("draw", interaction.user.id, interaction.guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        count = self.settings.session_candidates
        idea = (await self._brief(session)).idea(session.theme)
        planned = await plan_draw(self.runtime, DrawSpec(idea=idea, style=session.style, count=count))
        requester = interaction.user.display_name
        async with self._lock(session.id, "round"):
            if any(r.active for r in await self.store.rounds(session.id)):
                raise SessionError("already_drawing")
            record = await self.store.new_round(session.id, str(interaction.user.id), requester, idea)
            lang = session.ui_lang
            text = render(TEXTS, "round.preparing", lang, round=record.number, requester=escape(requester))
            progress: discord.Message | None = None
            try:
                progress = await self._channel(session).send(text, allowed_mentions=NO_MENTIONS)
                await self.store.update_round(session.id, record.number, progress_message_id=str(progress.id))
                job = await submit_request(
                    self.runtime,
                    planned.request,
                    user_id=interaction.user.id,
                    guild_id=interaction.guild_id,
                    channel_id=session.thread_id,
                    kind="session",
                    meta={
                        **planned_meta(planned),
                        "session_id": session.id,
                        "round": record.number,
                        "thread_id": session.thread_id,
                        "filesize_limit": interaction.filesize_limit,
                    },
                )
            except Exception as exc:
                reason = describe_error(exc, lang, f"session {session.id} round {record.number}")
                await self.store.finish_round(session.id, record.number, "failed", getattr(exc, "code", "error"))
                if progress is not None:
                    await self._edit_progress(
                        session, str(progress.id), progress_text("failed", record.number, lang, reason=reason)
                    )
                raise
            self._jobs[job.id] = (session.id, record.number)
            await self.store.mark_queued(session.id, record.number, job.id)
        await interaction.followup.send(
            render(TEXTS, "round.queued_private", interaction_lang(interaction), round=record.number, count=count),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # Votes -------------------------------------------------------------------------------------
    async def vote(self, interaction: discord.Interaction, session_id: str, number: int, candidate: int) -> None:
        """One vote per member per round; clicking another candidate moves it. The tally is edited in place."""
        session = await self._open_session(session_id)
        latest = await self.store.latest_done_round(session_id)
        if latest is None or latest.number != number:
            raise SessionError("old_round")
        total = len(await self.store.candidates(session_id, number))
        if not 1 <= candidate <= total:
            raise GoneError(f"candidate {candidate}")
        lang = interaction_lang(interaction)
        # Acknowledge first: a burst of votes queues on the lock, and each must answer within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self._lock(session_id, "votes"):
            session = await self._open_session(session_id)  # it may have finished while we waited
            previous = await self.store.vote(session_id, number, interaction.user.id, candidate)
            if previous == candidate:
                await send_ephemeral(interaction, render(TEXTS, "vote.same", lang, candidate=candidate))
                return
            counts = count_votes(await self.store.votes(session_id, number), total)
            if interaction.message is not None:
                await interaction.message.edit(
                    content=tally_text(number, counts, session.ui_lang), allowed_mentions=NO_MENTIONS
                )
        key, params = ("vote.recorded", {}) if previous is None else ("vote.moved", {"old": previous})
        await send_ephemeral(interaction, render(TEXTS, key, lang, candidate=candidate, **params))

    # /session finish and expiry -----------------------------------------------------------------
    @group.command(name="finish", description="Finish the session and announce the winner · 结束共创并公布结果", extras={"huayi": True})
    async def finish_command(self, interaction: discord.Interaction) -> None:
        session = await self._session_here(interaction)
        is_starter = str(interaction.user.id) == session.starter_id
        if not (is_starter or interaction.permissions.manage_messages):
            raise NotAllowedError(f"{interaction.user.id} may not finish session {session.id}")
        self.runtime.limiter.check("session", interaction.user.id, interaction.guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not await self.finish(session, filesize_limit=interaction.filesize_limit):
            raise SessionError("closed")
        await interaction.followup.send(
            render(TEXTS, "finished_private", interaction_lang(interaction)), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @tasks.loop(seconds=EXPIRY_CHECK_S)
    async def _expiry(self) -> None:
        await self.finish_expired()

    @_expiry.before_loop
    async def _before_expiry(self) -> None:
        await self.bot.wait_until_ready()

