"""The buttons under a drawing and its progress message, and the ✏️ Edit modal.

The job id sits in every custom_id and the job lives in SQLite, so the buttons work after
a restart: discord.py rebuilds the item from the custom_id (`DynamicItem`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from .._feature import loaded_cog
from ...i18n import Lang, render
from ...replies import guard, interaction_lang
from ._text import TEXTS

if TYPE_CHECKING:
    from ._cog import DrawCog

__all__ = ["DrawButton", "EditModal", "result_view", "cancel_view", "RESULT_ACTIONS"]

RESULT_ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "reroll": ("🔁", discord.ButtonStyle.secondary),
    "vary": ("🎲", discord.ButtonStyle.secondary),
    "edit": ("✏️", discord.ButtonStyle.secondary),
    "info": ("ℹ️", discord.ButtonStyle.secondary),
    "delete": ("🗑️", discord.ButtonStyle.danger),
}
_ALL = {**RESULT_ACTIONS, "cancel": ("✖️", discord.ButtonStyle.danger)}


def _cog(interaction: discord.Interaction) -> DrawCog:
    cog: DrawCog = loaded_cog(interaction, "DrawCog")
    return cog


class DrawButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"huayi:draw:(?P<action>reroll|vary|edit|info|delete|cancel):(?P<job>[A-Za-z0-9_\-]{6,32})",
):
    def __init__(self, action: str, job_id: str, lang: Lang = "en") -> None:
        emoji, style = _ALL[action]
        super().__init__(
            discord.ui.Button(
                label=render(TEXTS, f"button.{action}", lang),
                emoji=emoji,
                style=style,
                custom_id=f"huayi:draw:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> DrawButton:
        return cls(match["action"], match["job"], interaction_lang(interaction))

    async def callback(self, interaction: discord.Interaction) -> None:
        async with guard(interaction, f"draw button {self.action} on job {self.job_id}"):
            await _cog(interaction).on_button(interaction, self.action, self.job_id)


class EditModal(discord.ui.Modal):
    """The idea, prefilled, to change and draw again with the same style and size."""

    def __init__(self, job_id: str, idea: str, lang: Lang, max_chars: int) -> None:
        super().__init__(title=render(TEXTS, "modal.title", lang), custom_id=f"huayi:draw:modal:{job_id}", timeout=600)
        self.job_id = job_id
        self.idea: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label=render(TEXTS, "modal.label", lang),
            style=discord.TextStyle.paragraph,
            default=idea[:max_chars],
            max_length=min(max_chars, 4000),
            custom_id="idea",
        )
        self.add_item(self.idea)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async with guard(interaction, f"edit modal for job {self.job_id}"):
            await _cog(interaction).redraw_edited(interaction, self.job_id, self.idea.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        from ...replies import reply_error

        await reply_error(interaction, error, f"edit modal for job {self.job_id}")


def result_view(job_id: str, lang: Lang) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(DrawButton(action, job_id, lang))
    return view


def cancel_view(job_id: str, lang: Lang) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(DrawButton("cancel", job_id, lang))
    return view
