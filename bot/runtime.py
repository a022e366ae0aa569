"""What Huayi's extensions share inside one bot: services, the image queue, limits, uptime.

A host bot that loads only `bot.exts.ask` gets a runtime too; it is attached to the bot
on first use and built from Huayi's settings, and closed when the last extension goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .ratelimit import RateLimiter
from .services import Services
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from discord.ext import commands

    from imaging.scheduler import GenerationScheduler

__all__ = ["HuayiRuntime", "get_runtime", "RUNTIME_ATTR"]

log = logging.getLogger(__name__)
RUNTIME_ATTR = "huayi"
T = TypeVar("T")


class HuayiRuntime:
    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        self.settings = settings
        self.services = services or Services(settings)
        self.started_at = time.time()
        self.limiter = RateLimiter(
            settings.rate_user_per_minute, settings.rate_user_draw_per_hour, settings.rate_guild_per_minute
        )
        self.users: set[str] = set()
        self.claimed_threads: set[int] = set()
        self._scheduler: GenerationScheduler | None = None
        self._scheduler_lock: asyncio.Lock | None = None
        self.kb_lock: asyncio.Lock | None = None

    def acquire(self, feature: str) -> None:
        self.users.add(feature)

    async def release(self, feature: str) -> bool:
        """Forget a feature; True (and everything closed) when it was the last one."""
        self.users.discard(feature)
        if self.users:
            return False
        await self.aclose()
        return True

    async def run_blocking(self, func: Callable[..., T], *args: Any) -> T:
        """Model and index work runs in a thread, so the gateway heartbeat and acks never wait."""
        return await asyncio.to_thread(func, *args)

    def knowledge_lock(self) -> asyncio.Lock:
        if self.kb_lock is None:
            self.kb_lock = asyncio.Lock()
        return self.kb_lock

    @property
    def scheduler_if_open(self) -> GenerationScheduler | None:
        return self._scheduler

    async def scheduler(self) -> GenerationScheduler:
        """The shared fair queue, opened (and crashed jobs recovered) on first use."""
        if self._scheduler_lock is None:
            self._scheduler_lock = asyncio.Lock()
        async with self._scheduler_lock:
            if self._scheduler is None:
                if self.settings.image_preload:
                    loaded = await self.run_blocking(self.services.imaging.preload)
                    log.info("image backends loaded before connecting: %s", ", ".join(loaded) or "none")
                self._scheduler = await self.services.imaging.open_scheduler()
            return self._scheduler

    async def aclose(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await self.services.imaging.close_scheduler(scheduler)

    @property
    def uptime_s(self) -> float:
        return time.time() - self.started_at


def get_runtime(bot: commands.Bot) -> HuayiRuntime:
    """The bot's runtime, created from Huayi's settings when a host bot loads an extension."""
    runtime = getattr(bot, RUNTIME_ATTR, None)
    if runtime is None:
        runtime = HuayiRuntime(load_settings())
        setattr(bot, RUNTIME_ATTR, runtime)
    return runtime
