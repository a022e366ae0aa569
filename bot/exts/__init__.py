"""Huayi's Discord features, one extension each: `await bot.load_extension("bot.exts.ask")`."""

__all__ = ["FEATURES"]

FEATURES: tuple[str, ...] = ("ask", "draw", "info", "kb", "session")
