"""The standalone Huayi bot: every feature extension, command sync, and a clean close."""

from __future__ import annotations

import gc
import logging
from typing import Any

import discord
from discord.ext import commands

from .runtime import RUNTIME_ATTR, HuayiRuntime
from .services import Services
from .settings import Settings

__all__ = ["HuayiBot", "build_intents", "sync_commands"]

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_S = 5.0


def build_intents(settings: Settings) -> discord.Intents:
    """Guilds and messages; Message Content only when free chat must be read (it is privileged)."""
    intents = discord.Intents.default()
    intents.message_content = settings.wants_message_content
    intents.members = False
    intents.presences = False
    return intents


def _no_prefix(bot: commands.Bot, message: discord.Message) -> list[str]:
    """Huayi has slash commands only; an empty prefix list means no text command ever matches."""
    return []


async def sync_commands(tree: discord.app_commands.CommandTree[discord.Client], guild_ids: list[int]) -> None:
    """Guild sync is instant (use it while setting up); global sync can take up to an hour to show."""
    if not guild_ids:
        await tree.sync()
        return
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        await tree.sync(guild=guild)


class HuayiBot(commands.Bot):
    def __init__(
        self, settings: Settings, services: Services | None = None, *, sync: bool = True, **options: Any
    ) -> None:
        discord.VoiceClient.warn_nacl = False  # Huayi has no voice features; the warning would only confuse admins
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=_no_prefix,
            intents=build_intents(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.settings = settings
        self._sync = sync
        setattr(self, RUNTIME_ATTR, HuayiRuntime(settings, services))

    @property
    def runtime(self) -> HuayiRuntime:
        runtime: HuayiRuntime = getattr(self, RUNTIME_ATTR)
        return runtime

    async def setup_hook(self) -> None:
        for extension in self.settings.extensions:
            await self.load_extension(extension)
        if self._sync:
            await sync_commands(self.tree, self.settings.discord_guild_ids)
        # What start-up loaded (torch, models, the index) lives as long as the bot. Frozen, it is never
        # scanned again by a full collection, which otherwise stalls the loop for seconds in a busy hour.
        gc.collect()
        gc.freeze()

    async def on_ready(self) -> None:
        log.warning("Huayi is online as %s in %d server(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        try:
            # Stop the queue first, so no job finishes after the features that report it are gone.
            await self.runtime.aclose()
            await self.runtime.drain(SHUTDOWN_GRACE_S)  # replies still in flight go out before the session closes
            for extension in list(self.extensions):
                await self.unload_extension(extension)
        finally:
            await super().close()
            await self.runtime.aclose()
            gc.unfreeze()  # what start-up froze may be garbage now (tests start many bots in one process)
