"""/styles, /status and /help."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands

from ...i18n import Lang, render
from ...replies import NO_MENTIONS, interaction_lang, send_ephemeral
from .._feature import FeatureCog
from ..kb._catalog import safe_index_summary
from ..kb._format import EmbedField
from ._help import CommandEntry, feature_of, help_fields
from ._status import StatusSnapshot, huayi_version, index_state, queue_state, status_fields
from ._styles import page_footer, paginate, style_cards
from ._text import TEXTS
from ._views import StylePager

__all__ = ["InfoCog"]

log = logging.getLogger(__name__)
INFO_COLOUR = discord.Colour.from_rgb(120, 144, 196)
HEALTH_TIMEOUT_S = 15.0


def _embed(title: str, fields: list[EmbedField], description: str | None = None) -> discord.Embed:
    embed = discord.Embed(title=title, description=description, colour=INFO_COLOUR)
    for item in fields:
        embed.add_field(name=item.name, value=item.value, inline=item.inline)
    return embed


class InfoCog(FeatureCog):
    feature = "info"

    # /styles ---------------------------------------------------------------------
    async def cog_load(self) -> None:
        """Load the style templates off the loop now: /styles must answer within 3 s without deferring."""
        await self.runtime.run_blocking(lambda: len(self.runtime.services.imaging.styles))

    def _style_pages(self, lang: Lang) -> list[list[discord.Embed]]:
        cards = style_cards(self.runtime.services.imaging.styles, lang)
        pages = paginate(cards)
        example_label = render(TEXTS, "styles_example", lang)
        id_label = render(TEXTS, "styles_id", lang)
        rendered = []
        for number, page in enumerate(pages):
            embeds = []
            for card in page:
                embed = discord.Embed(title=card.title, description=card.description, colour=INFO_COLOUR)
                embed.add_field(name=example_label, value=card.example, inline=False)
                embed.add_field(name=id_label, value=f"`{card.style_id}`", inline=True)
                embeds.append(embed)
            embeds[-1].set_footer(text=page_footer(number, len(pages), len(cards), lang))
            rendered.append(embeds)
        return rendered

    @app_commands.command(name="styles", description="Browse the drawing styles · 浏览作画风格", extras={"huayi": True})
    async def styles(self, interaction: discord.Interaction) -> None:
        lang = interaction_lang(interaction)
        pages = self._style_pages(lang)  # styles are loaded in cog_load; building embeds is cheap
        if not pages:
            await send_ephemeral(interaction, render(TEXTS, "styles_none", lang))
            return
        if len(pages) == 1:
            await interaction.response.send_message(embeds=pages[0], allowed_mentions=NO_MENTIONS)
            return
        view = StylePager(interaction.user.id, pages, lang)
        view.origin = interaction
        await interaction.response.send_message(embeds=pages[0], view=view, allowed_mentions=NO_MENTIONS)

    # /status ---------------------------------------------------------------------
    async def _backend_health(self) -> dict[str, bool] | None:
        """Each backend's availability, or None when asking takes too long or fails."""

        def ask() -> dict[str, bool]:
            return {name: state.ok for name, state in self.runtime.services.imaging.backend.health().items()}

        try:
            return await asyncio.wait_for(self.runtime.run_quick(ask), HEALTH_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - status must answer even when a backend cannot be asked
            log.warning("backend health check failed: %r", exc)
            return None

    async def _snapshot(self, user_id: int) -> StatusSnapshot:
        scheduler = self.runtime.scheduler_if_open
        queue = await queue_state(scheduler, user_id) if scheduler is not None else None
        backends = await self._backend_health()
        summary = await self.runtime.run_quick(safe_index_summary, self.settings.index_dir)
        index, damaged = index_state(summary)
        return StatusSnapshot(queue, backends, index, damaged, self.runtime.uptime_s, huayi_version())

    @app_commands.command(name="status", description="Queue, backends and knowledge base status · 队列、后端与知识库状态", extras={"huayi": True})
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        snapshot = await self._snapshot(interaction.user.id)
        lang = interaction_lang(interaction)
        embed = _embed(render(TEXTS, "status_title", lang), status_fields(snapshot, lang))
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # /help -----------------------------------------------------------------------
    def _commands(self) -> list[CommandEntry]:
        entries = []
        for command in self.bot.tree.walk_commands():
            if not isinstance(command, app_commands.Command):
                continue
            feature = feature_of(getattr(command.callback, "__module__", "") or "")
            if feature is not None:
                entries.append(CommandEntry(command.qualified_name, feature))
        return entries

    @app_commands.command(name="help", description="How to use Huayi · 花艺使用指南", extras={"huayi": True})
    async def help_command(self, interaction: discord.Interaction) -> None:
        lang = interaction_lang(interaction)
        embed = _embed(render(TEXTS, "help_title", lang), help_fields(self._commands(), lang), render(TEXTS, "help_intro", lang))
        embed.set_footer(text=render(TEXTS, "help_footer", lang))
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
