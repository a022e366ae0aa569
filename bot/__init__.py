"""Huayi's application layer: settings, the service factory, the CLI and (later) the Discord bot.

`rag/` and `imaging/` stay free of Discord and of this package; everything is wired here.
"""

__all__: list[str] = []
