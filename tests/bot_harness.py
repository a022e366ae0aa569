"""Runs the real Huayi bot against the loopback Discord emulator.

`bot_running` starts the emulator, builds settings that point DISCORD_API_BASE and
DISCORD_GATEWAY_URL at it, and serves the bot through the same `serve` coroutine that
`huayi run` uses, so the tests exercise the production start-up path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import HuayiBot
from bot.endpoints import configure_endpoints
from bot.runner import serve
from bot.services import Services
from tests.conftest import make_services
from tests.discord_emulator import DiscordEmulator, discordpy_handler_ready

__all__ = ["FAKE_TOKEN", "USERS", "Harness", "bot_running", "restore_endpoints"]

FAKE_TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13
USERS: dict[str, tuple[str, int, str]] = {
    # id: (name, permissions, locale)
    "400000000000000001": ("alice", 0, "en-US"),
    "400000000000000002": ("bob", 0, "zh-CN"),
    "400000000000000003": ("carol", 0, "en-GB"),
    "400000000000000009": ("admin", MANAGE_GUILD | MANAGE_MESSAGES, "en-US"),
}
ALICE, BOB, CAROL, ADMIN = USERS


@dataclass
class Harness:
    emu: DiscordEmulator
    bot: HuayiBot
    services: Services

    @property
    def channel_id(self) -> str:
        return next(iter(self.emu.channels))


@contextlib.contextmanager
def restore_endpoints() -> Any:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


def new_emulator(**kwargs: Any) -> DiscordEmulator:
    emu = DiscordEmulator(token=FAKE_TOKEN, **kwargs)
    for user_id, (name, permissions, locale) in USERS.items():
        emu.add_user(user_id, name, permissions=permissions, locale=locale)
    return emu


def bot_services(data_dir: Path, embeddings: Any, emu: DiscordEmulator, **overrides: Any) -> Services:
    settings: dict[str, Any] = {
        "discord_token": FAKE_TOKEN,
        "discord_api_base": emu.api_base,
        "discord_gateway_url": emu.gateway_url,
        "discord_guild_ids": emu.guild_id,
        "image_allow_cpu": True,
        "image_warmup": False,
        "image_backends": "local",
        "image_default_steps": 2,
        "image_default_size": "1024x1024",
        **overrides,
    }
    return make_services(data_dir, embeddings, settings.pop("kb_dir", None), **settings)


async def _online(emu: DiscordEmulator, bot: HuayiBot) -> None:
    await emu.wait_ready(timeout=90)
    await emu.wait_commands(timeout=90)
    await asyncio.wait_for(bot.wait_until_ready(), 30)


@contextlib.asynccontextmanager
async def bot_running(
    data_dir: Path,
    embeddings: Any,
    *,
    emulator: DiscordEmulator | None = None,
    services: Services | None = None,
    emulator_options: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """The bot online in the emulator's guild, commands synced; closed (queue included) on exit."""
    emu = emulator or new_emulator(**dict(emulator_options or {}))
    owns_emulator = emulator is None
    if owns_emulator:
        await emu.start()
    try:
        with restore_endpoints():
            services = services or bot_services(data_dir, embeddings, emu, **overrides)
            settings = services.settings
            configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)
            bot = HuayiBot(settings, services, guild_ready_timeout=0.05)
            emu.client_ready = discordpy_handler_ready(bot)
            task = asyncio.create_task(serve(bot, FAKE_TOKEN))
            try:
                ready = asyncio.ensure_future(_online(emu, bot))
                await asyncio.wait({ready, task}, timeout=90, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    ready.cancel()
                    task.result()  # start-up failed: show why
                    raise AssertionError("the bot stopped during start-up")
                await ready
                yield Harness(emu, bot, services)
            finally:
                if not bot.is_closed():
                    await bot.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 30)
    finally:
        if owns_emulator:
            await emu.stop()
