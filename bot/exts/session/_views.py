"""Vote buttons under a round's candidates.

They are DynamicItems: session id, round and candidate live in the custom_id, so a
vote cast after a restart reaches the new process without any view kept in memory.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from .._feature import loaded_cog
from ...i18n import Lang, render
from ...replies import guard
from ._text import TEXTS

if TYPE_CHECKING:
    from ._cog import SessionCog

__all__ = ["VoteButton", "vote_view"]


def _cog(interaction: discord.Interaction) -> SessionCog:
    cog: SessionCog = loaded_cog(interaction, "SessionCog")
    return cog


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"huayi:sv:(?P<session>[A-Za-z0-9_\-]{6,16}):(?P<round>[0-9]{1,4}):(?P<candidate>[0-9]{1,2})",
):
    def __init__(self, session_id: str, round_number: int, candidate: int, lang: Lang = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=render(TEXTS, "vote.button", lang, candidate=candidate),
                emoji="🗳️",
                style=discord.ButtonStyle.primary,
                custom_id=f"huayi:sv:{session_id}:{round_number}:{candidate}",
            )
        )
        self.session_id = session_id
        self.round_number = round_number
        self.candidate = candidate

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["session"], int(match["round"]), int(match["candidate"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async with guard(interaction, f"vote {self.candidate} in session {self.session_id} round {self.round_number}"):
            await _cog(interaction).vote(interaction, self.session_id, self.round_number, self.candidate)


def vote_view(session_id: str, round_number: int, candidates: int, lang: Lang) -> discord.ui.View:
    """One button per candidate; Discord lays them out five to a row."""
    view = discord.ui.View(timeout=None)
    for candidate in range(1, candidates + 1):
        view.add_item(VoteButton(session_id, round_number, candidate, lang))
    return view
