"""Per-member and per-server request limits, on the `limits` library's moving windows."""

from __future__ import annotations

import time
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import RateLimitedError

__all__ = ["RateLimiter", "Action"]

Action = Literal["ask", "draw", "kb", "session"]


class RateLimiter:
    """Every action counts against the member's per-minute and the server's per-minute budget;
    drawing also against an hourly budget per member, as GPU time is the scarce resource."""

    def __init__(self, user_per_minute: int, draw_per_hour: int, guild_per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._user = RateLimitItemPerMinute(user_per_minute)
        self._draw = RateLimitItemPerHour(draw_per_hour)
        self._guild = RateLimitItemPerMinute(guild_per_minute)

    def _retry_after(self, item: RateLimitItem, *keys: str) -> float:
        return max(0.0, self._limiter.get_window_stats(item, *keys).reset_time - time.time())

    def check(self, action: Action, user_id: int | str, guild_id: int | str | None) -> None:
        """Count one request, or raise RateLimitedError (scope user, draw or guild) without counting it."""
        user = str(user_id)
        checks: list[tuple[RateLimitItem, tuple[str, ...], str]] = [(self._user, ("user", user), "user")]
        if action == "draw":
            checks.append((self._draw, ("draw", user), "draw"))
        if guild_id is not None:
            checks.append((self._guild, ("guild", str(guild_id)), "guild"))
        for item, keys, scope in checks:
            if not self._limiter.test(item, *keys):
                raise RateLimitedError(scope, self._retry_after(item, *keys))
        for item, keys, _ in checks:
            self._limiter.hit(item, *keys)
