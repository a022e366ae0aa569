"""The buttons under an answer. They are DynamicItems: the answer id lives in the custom_id,
so they keep working after a restart without any in-memory view."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from ...errors import GoneError
from .._feature import loaded_cog
from ...i18n import Lang, render
from ...replies import guard, interaction_lang, send_ephemeral
from ._text import TEXTS

if TYPE_CHECKING:
    from ._cog import AskCog

__all__ = ["FeedbackButton", "FollowUpButton", "answer_view", "thread_mention"]

_ID = r"[A-Za-z0-9_\-]{6,32}"


def _cog(interaction: discord.Interaction) -> AskCog:
    cog: AskCog = loaded_cog(interaction, "AskCog")
    return cog


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"huayi:fb:(?P<vote>up|down):(?P<id>{_ID})"):
    def __init__(self, vote: str, answer_id: str, lang: Lang = "en") -> None:
        up = vote == "up"
        super().__init__(
            discord.ui.Button(
                label=render(TEXTS, "helpful" if up else "not_helpful", lang),
                emoji="👍" if up else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"huayi:fb:{vote}:{answer_id}",
            )
        )
        self.vote = vote
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(match["vote"], match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        async with guard(interaction, f"feedback on answer {self.answer_id}"):
            store = _cog(interaction).store
            if await store.get(self.answer_id) is None:
                raise GoneError(self.answer_id)
            tally = await store.vote(self.answer_id, interaction.user.id, 1 if self.vote == "up" else -1)
            lang = interaction_lang(interaction)
            text = f"{render(TEXTS, f'thanks.{self.vote}', lang)} ({render(TEXTS, 'tally', lang, up=tally.up, down=tally.down)})"
            await send_ephemeral(interaction, text)


class FollowUpButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"huayi:ask:thread:(?P<id>{_ID})"):
    def __init__(self, answer_id: str, lang: Lang = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=render(TEXTS, "follow_up", lang),
                emoji="💬",
                style=discord.ButtonStyle.primary,
                custom_id=f"huayi:ask:thread:{answer_id}",
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> FollowUpButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        async with guard(interaction, f"follow-up thread for answer {self.answer_id}"):
            await _cog(interaction).open_follow_up(interaction, self.answer_id)


def answer_view(answer_id: str, lang: Lang, *, follow_up: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", answer_id, lang))
    view.add_item(FeedbackButton("down", answer_id, lang))
    if follow_up:
        view.add_item(FollowUpButton(answer_id, lang))
    return view


def thread_mention(thread: discord.abc.Snowflake) -> str:
    return f"<#{thread.id}>"

