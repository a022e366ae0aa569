"""Pointing discord.py at Discord, a REST proxy (nirn-proxy) or the test emulator.

discord.py keeps both endpoints as class attributes: REST requests (webhooks and
interaction callbacks included) use `Route.BASE`, and a plain Client dials
`DiscordWebSocket.DEFAULT_GATEWAY` without asking `/gateway/bot`.
"""

from __future__ import annotations

__all__ = ["configure_endpoints"]


def configure_endpoints(api_base: str, gateway_url: str | None) -> None:
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    Route.BASE = api_base.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
