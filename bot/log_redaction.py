"""Keeps tokens and API keys out of logs, whatever a library or an exception prints."""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["SecretFilter", "install_secret_filter"]


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text = record.exc_text or ""
        if any(s in text or s in exc_text for s in self._secrets):
            for secret in self._secrets:
                text = text.replace(secret, "[redacted]")
                exc_text = exc_text.replace(secret, "[redacted]")
            record.msg, record.args = text, None
            record.exc_text = exc_text or None
        return True


def install_secret_filter(secrets: Iterable[str | None]) -> SecretFilter:
    """Attach the filter to every root handler, so records from any logger pass through it."""
    secret_filter = SecretFilter(secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        handler.addFilter(secret_filter)
    return secret_filter
