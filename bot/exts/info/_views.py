"""The ◀ ▶ pager under /styles: only the member who opened the list turns its pages."""

from __future__ import annotations

import logging
import secrets

import discord

from ...i18n import Lang, render
from ...replies import NO_MENTIONS, guard, interaction_lang, send_ephemeral
from ._text import TEXTS

__all__ = ["StylePager"]

log = logging.getLogger(__name__)
PAGER_TIMEOUT_S = 300


class StylePager(discord.ui.View):
    """Not persistent: after a restart or the timeout the buttons are removed, and /styles opens a new list."""

    def __init__(self, owner_id: int, pages: list[list[discord.Embed]], lang: Lang) -> None:
        super().__init__(timeout=PAGER_TIMEOUT_S)
        self.owner_id = owner_id
        self.pages = pages
        self.page = 0
        self.origin: discord.Interaction | None = None
        nonce = secrets.token_hex(6)
        self.previous = discord.ui.Button(
            emoji="◀", style=discord.ButtonStyle.secondary, custom_id=f"huayi:styles:{nonce}:prev"
        )
        self.next = discord.ui.Button(emoji="▶", style=discord.ButtonStyle.secondary, custom_id=f"huayi:styles:{nonce}:next")
        self.previous.label = render(TEXTS, "styles_previous", lang)
        self.next.label = render(TEXTS, "styles_next", lang)
        self.previous.callback = self._previous  # type: ignore[method-assign]
        self.next.callback = self._next  # type: ignore[method-assign]
        self.add_item(self.previous)
        self.add_item(self.next)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, render(TEXTS, "styles_not_yours", interaction_lang(interaction)))
        return False

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        async with guard(interaction, "/styles page"):
            self.page = min(max(self.page + step, 0), len(self.pages) - 1)
            self._sync_buttons()
            await interaction.response.edit_message(embeds=self.pages[self.page], view=self, allowed_mentions=NO_MENTIONS)

    async def _previous(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, -1)

    async def _next(self, interaction: discord.Interaction) -> None:
        await self._turn(interaction, 1)

    async def on_timeout(self) -> None:
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException as exc:
            log.info("could not remove the /styles buttons: %s", exc)
