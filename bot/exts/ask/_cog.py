"""/ask and conversational Q&A: answers with numbered sources, feedback, follow-up threads."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from rag.answer import Answer
from rag.conversation import Turn
from rag.service import Asked
from rag.text import validate_question

from ...errors import BotError
from ...i18n import Lang, locale_lang, render, text_lang
from ...replies import NO_MENTIONS, describe_error, interaction_lang, send_ephemeral
from .._feature import FeatureCog
from ._conversation import HistoryMessage, history_turns, strip_bot_mention
from ._format import answer_card, thread_title
from ._store import AnswerRecord, AnswerStore
from ._text import TEXTS
from ._views import FeedbackButton, FollowUpButton, answer_view, thread_mention

__all__ = ["AskCog"]

log = logging.getLogger(__name__)
ANSWER_COLOUR = discord.Colour.from_rgb(214, 88, 120)
ABSTAIN_COLOUR = discord.Colour.from_rgb(200, 170, 90)
HISTORY_MESSAGES = 16


def answer_embed(question: str, answer: Answer, lang: Lang) -> discord.Embed:
    card = answer_card(question, answer, lang)
    embed = discord.Embed(
        title=card.title, description=card.description, colour=ABSTAIN_COLOUR if card.abstained else ANSWER_COLOUR
    )
    if answer.sources:
        embed.add_field(name=card.sources_label, value=card.sources, inline=False)
    embed.set_footer(text=card.footer)
    return embed


class AskCog(FeatureCog):
    feature = "ask"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = AnswerStore(self.settings.database_path)

    async def cog_load(self) -> None:
        await self.store.open()
        self.bot.add_dynamic_items(FeedbackButton, FollowUpButton)

    async def on_unload(self) -> None:
        self.bot.remove_dynamic_items(FeedbackButton, FollowUpButton)
        await self.store.close()

    # Answering -----------------------------------------------------------------
    def _ask_blocking(self, question: str, history: list[Turn]) -> Asked:
        return self.runtime.services.rag().ask_detailed(question, history)

    async def _answer(
        self, question: str, history: list[Turn], *, user_id: int, guild_id: int | None, channel_id: int | None
    ) -> tuple[Asked, AnswerRecord]:
        asked = await self.runtime.run_blocking(self._ask_blocking, question, history)
        answer = asked.answer
        record = await self.store.add(
            AnswerRecord(
                user_id=str(user_id),
                guild_id=None if guild_id is None else str(guild_id),
                channel_id=None if channel_id is None else str(channel_id),
                question=question,
                answer=answer.text,
                lang=answer.lang,
                abstained=answer.abstained,
                sources=[s.as_json() for s in answer.sources],
            )
        )
        return asked, record

    @app_commands.command(name="ask", description="Ask the floral knowledge base · 向花艺知识库提问", extras={"huayi": True})
    @app_commands.describe(
        question="Your question, in Chinese or English · 你的问题（中文或英文）",
        private="Only you see the answer · 仅自己可见",
    )
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 1000], private: bool = False) -> None:
        # 1. Cheap checks first, so refusals are private and immediate.
        question = validate_question(question, self.settings.rag_max_question_chars)
        self.runtime.limiter.check("ask", interaction.user.id, interaction.guild_id)
        # 2. Acknowledge within Discord's 3 s, then do the retrieval in a thread.
        await interaction.response.defer(thinking=True, ephemeral=private)
        asked, record = await self._answer(
            question, [], user_id=interaction.user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id
        )
        # 3. Reply: the answer embed, feedback and (in server text channels) a follow-up thread button.
        lang = interaction_lang(interaction)
        can_thread = not private and isinstance(interaction.channel, discord.TextChannel)
        message = await interaction.followup.send(
            embed=answer_embed(question, asked.answer, lang),
            view=answer_view(record.id, lang, follow_up=can_thread),
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        await self.store.set_message(record.id, message.id)

    async def open_follow_up(self, interaction: discord.Interaction, answer_id: str) -> None:
        """Open (or point to) the thread on an answer where follow-ups keep the conversation.

        One click at a time per answer: two members pressing together get one thread, not a Discord error.
        Each click is acknowledged before it waits its turn.
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.runtime.turn("follow_up", answer_id):
            await self._open_follow_up(interaction, answer_id)

    async def _open_follow_up(self, interaction: discord.Interaction, answer_id: str) -> None:
        lang = interaction_lang(interaction)
        record = await self.store.get(answer_id)
        message = interaction.message
        if record is None or message is None:
            raise BotError("answer gone", reason="gone")
        if not isinstance(message.channel, discord.TextChannel):
            await send_ephemeral(interaction, render(TEXTS, "no_thread_here", lang))
            return
        existing = message.thread or await self._known_thread(record.thread_id)
        if existing is not None:
            await send_ephemeral(interaction, render(TEXTS, "thread_exists", lang, thread=thread_mention(existing)))
            return
        thread = await message.create_thread(name=thread_title(record.question, lang), auto_archive_duration=1440)
        await self.store.set_thread(answer_id, thread.id)
        intro = "thread_intro" if self.settings.wants_message_content else "thread_intro_mention"
        await thread.send(render(TEXTS, intro, lang), allowed_mentions=NO_MENTIONS)
        await interaction.followup.send(
            render(TEXTS, "thread_created", lang, thread=thread_mention(thread)), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def _known_thread(self, thread_id: str | None) -> discord.abc.GuildChannel | discord.Thread | None:
        """The follow-up thread already opened on an answer, even if archived and out of the cache."""
        if not thread_id:
            return None
        try:
            channel = self.bot.get_channel(int(thread_id)) or await self.bot.fetch_channel(int(thread_id))
        except (discord.NotFound, discord.Forbidden):
            return None
        return channel if isinstance(channel, discord.Thread) else None

    # Conversation ----------------------------------------------------------------
    def _addresses_bot(self, message: discord.Message) -> bool:
        me = self.bot.user
        if me is None or message.channel.id in self.runtime.claimed_threads:
            return False  # a group session's thread: its messages are contributions
        if any(user.id == me.id for user in message.mentions):
            return True
        resolved = message.reference.resolved if message.reference else None
        if isinstance(resolved, discord.Message) and resolved.author.id == me.id:
            return True
        channel = message.channel
        if isinstance(channel, discord.Thread):
            return channel.owner_id == me.id
        if isinstance(message.channel, discord.DMChannel):
            return True
        return channel.id in self.settings.ask_channel_ids

    async def _history(self, message: discord.Message) -> list[Turn]:
        """Earlier turns: the thread's messages (after the answer it grew from), or the replied-to answer."""
        me = self.bot.user
        assert me is not None
        earlier: list[HistoryMessage] = []
        channel = message.channel
        if isinstance(channel, discord.Thread):
            origin = await self.store.by_thread(channel.id)
            if origin is not None:
                earlier.append(HistoryMessage(False, origin.question))
                if origin.message_id == str(channel.id):  # opened from the answer, which is outside the thread
                    earlier.append(HistoryMessage(True, origin.answer))
        if isinstance(channel, (discord.Thread, discord.DMChannel)):
            past = [m async for m in channel.history(limit=HISTORY_MESSAGES, before=message)]
            earlier += [HistoryMessage(m.author.id == me.id, _message_text(m)) for m in reversed(past)]
        else:
            resolved = message.reference.resolved if message.reference else None
            if isinstance(resolved, discord.Message):
                origin = await self.store.by_message(resolved.id)
                if origin is not None:
                    earlier.append(HistoryMessage(False, origin.question))
                earlier.append(HistoryMessage(resolved.author.id == me.id, _message_text(resolved)))
        return history_turns(earlier, me.id)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id or message.webhook_id is not None:
            return
        if not self._addresses_bot(message):
            return
        question = strip_bot_mention(message.content, me.id)
        if not question:
            return
        lang = text_lang(question, locale_lang(getattr(message.guild, "preferred_locale", None)))
        self.runtime.track_current_task()
        try:
            self.runtime.limiter.check("ask", message.author.id, message.guild.id if message.guild else None)
            question = validate_question(question, self.settings.rag_max_question_chars)
            await self._reply_conversation(message, question, lang)
        except Exception as exc:  # noqa: BLE001 - the boundary to Discord
            text = describe_error(exc, lang, f"conversation message {message.id}")
            try:
                await message.reply(text, allowed_mentions=NO_MENTIONS, mention_author=False)
            except discord.HTTPException as send_error:
                log.warning("could not tell %s about an error: %s", message.author.id, send_error)

    async def _reply_conversation(self, message: discord.Message, question: str, lang: Lang) -> None:
        target: discord.abc.Messageable = message.channel
        history: list[Turn] = []
        channel = message.channel
        if isinstance(channel, (discord.Thread, discord.DMChannel)) or message.reference is not None:
            history = await self._history(message)
        elif isinstance(channel, discord.TextChannel):
            try:
                target = await message.create_thread(name=thread_title(question, lang), auto_archive_duration=1440)
            except discord.HTTPException as exc:
                log.info("could not open a thread on %s (%s); answering inline", message.id, exc)
        async with target.typing():
            asked, record = await self._answer(
                question,
                history,
                user_id=message.author.id,
                guild_id=message.guild.id if message.guild else None,
                channel_id=getattr(target, "id", None),
            )
        embed = answer_embed(question, asked.answer, lang)
        view = answer_view(record.id, lang, follow_up=False)
        if target is message.channel:
            sent = await message.reply(embed=embed, view=view, allowed_mentions=NO_MENTIONS, mention_author=False)
        else:
            sent = await target.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
            await self.store.set_thread(record.id, getattr(target, "id", 0))
        await self.store.set_message(record.id, sent.id)


def _message_text(message: discord.Message) -> str:
    """What a message said: its text, or for the bot's answers the embed's question and answer."""
    if message.content:
        return message.content
    for embed in message.embeds:
        if embed.description:
            return embed.description
    return ""
