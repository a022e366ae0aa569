"""The one error type of group sessions; its `reason` picks a sentence from `_text.ERRORS`."""

from __future__ import annotations

from ...errors import BotError

__all__ = ["SessionError"]


class SessionError(BotError):
    code = "session"

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason, reason=reason, **params)
