"""The shared base of Huayi's cogs: runtime, error routing and clean unloading."""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

from ..errors import GoneError
from ..replies import install_error_handler, uninstall_error_handler
from ..runtime import HuayiRuntime, get_runtime

__all__ = ["FeatureCog", "loaded_cog"]


class FeatureCog(commands.Cog):
    """A Huayi feature: it shares the bot's runtime, and the last one unloaded closes it."""

    feature = "feature"

    in_flight_grace_s: float = 5.0

    def __init__(self, bot: commands.Bot, runtime: HuayiRuntime) -> None:
        self.bot = bot
        self.runtime = runtime
        self.settings = runtime.settings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        """Every command of the cog: remember its task, so stopping waits for its reply."""
        self.runtime.track_current_task()
        return True

    @classmethod
    async def install(cls, bot: commands.Bot) -> None:
        runtime = get_runtime(bot)
        runtime.acquire(cls.feature)
        install_error_handler(bot.tree)
        await bot.add_cog(cls(bot, runtime))

    async def cog_unload(self) -> None:
        if not self.runtime.closing:  # a bot stop drained once, with one deadline, before unloading features
            await self.runtime.drain(self.in_flight_grace_s)
        await self.on_unload()
        if await self.runtime.release(self.feature):
            uninstall_error_handler(self.bot.tree)

    async def on_unload(self) -> None:
        """Feature-specific clean-up (close stores, stop tasks) before the runtime may close."""


def loaded_cog(interaction: discord.Interaction, name: str) -> Any:
    """The cog a durable button or modal belongs to; a polite GoneError if it was unloaded."""
    cog = getattr(interaction.client, "get_cog", lambda _: None)(name)
    if cog is None:
        raise GoneError(f"{name} is not loaded")
    return cog
