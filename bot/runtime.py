"""What Huayi's extensions share inside one bot: services, the image queue, limits, uptime.

A host bot that loads only `bot.exts.ask` gets a runtime too; it is attached to the bot
on first use and built from Huayi's settings, and closed when the last extension goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .errors import ShuttingDownError
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
Lane = Literal["answers", "drawing", "index"]


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
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._turns: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self.closing = False

    def acquire(self, feature: str) -> None:
        self.users.add(feature)
        self.closing = False

    async def release(self, feature: str) -> bool:
        """Forget a feature; True (and everything closed) when it was the last one."""
        self.users.discard(feature)
        if self.users:
            return False
        await self.aclose()
        return True

    async def run_blocking(self, func: Callable[..., T], *args: Any, lane: Lane = "answers") -> T:
        """Retrieval, planning and index work run off the loop, on small pools of their own.

        The pools are small (`BOT_WORKER_THREADS`): every busy thread competes with the event loop for the
        GIL, so a burst of fifty questions must not become fifty threads delaying the next acknowledgement.
        Drawings are planned, and the index rebuilt, in one-thread lanes of their own: a burst of questions
        cannot hold the drawing queue (and the GPU) empty, and a rebuild taking minutes cannot hold up
        answers. The generation call and image saving keep asyncio's default pool.
        """
        if self.closing:
            raise ShuttingDownError(getattr(func, "__qualname__", "work"))
        pool = self._pools.get(lane)
        if pool is None:
            size = self.settings.worker_threads if lane == "answers" else 1
            pool = self._pools[lane] = ThreadPoolExecutor(size, thread_name_prefix=f"huayi-{lane}")
        call = functools.partial(contextvars.copy_context().run, func, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and not task.cancelling():  # the pool shut down; nobody cancelled this task
                raise ShuttingDownError("the workers closed before this started") from None
            raise

    def pools(self) -> dict[str, ThreadPoolExecutor]:
        """The worker pools started so far, by lane (for benchmarks and diagnostics)."""
        return dict(self._pools)

    def turn(self, kind: str, key: object | None) -> AbstractAsyncContextManager[object]:
        """Take turns per `key` (a member, say): callers with the same key go one at a time, first come first
        served; other keys are not held up. `None` takes no turn."""
        if key is None:
            return contextlib.nullcontext()
        return self._turns.setdefault((kind, str(key)), asyncio.Lock())

    def track_current_task(self) -> None:
        """Remember the running interaction's task, so stopping waits for its reply (an apology, if need be)."""
        task = asyncio.current_task()
        if task is not None and task not in self._in_flight:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def drain(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for tracked interactions to finish replying."""
        current = asyncio.current_task()
        pending = {task for task in self._in_flight if task is not current}
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def run_quick(self, func: Callable[..., T], *args: Any) -> T:
        """Short blocking work (backend health, the index manifest, re-encoding images for delivery) skips
        the workers' queue, so /status and finished images never wait behind a burst of questions."""
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
            if self.closing:
                raise ShuttingDownError("the queue is closed")
            if self._scheduler is None:
                if self.settings.image_preload:
                    loaded = await self.run_blocking(self.services.imaging.preload)
                    log.info("image backends loaded before connecting: %s", ", ".join(loaded) or "none")
                scheduler = await self.services.imaging.open_scheduler()
                if self.closing:  # stopped while it opened
                    await self.services.imaging.close_scheduler(scheduler)
                    raise ShuttingDownError("the queue closed while opening")
                self._scheduler = scheduler
            return self._scheduler

    async def aclose(self) -> None:
        """Close the queue and the workers; work that would start afterwards raises ShuttingDownError."""
        self.closing = True
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await self.services.imaging.close_scheduler(scheduler)
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

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
