"""`huayi run`: configuration checks, endpoints, logging, and the bot's lifetime.

Every way start-up can fail for a configuration reason ends in one sentence and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal

import discord
from discord.ext import commands

from .app import HuayiBot
from .endpoints import configure_endpoints
from .log_redaction import install_secret_filter
from .settings import Settings

__all__ = ["BotStartError", "check_token", "run_bot", "serve"]

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{16,}$")


class BotStartError(Exception):
    """A configuration problem, told in one sentence."""


def check_token(token: str | None) -> str:
    if not token:
        raise BotStartError(
            "DISCORD_TOKEN is not set: copy the bot token from the Discord Developer Portal (Bot → Reset Token) into .env."
        )
    token = token.strip()
    if token.lower().startswith("bot "):
        token = token[4:].strip()
    if not _TOKEN.match(token):
        raise BotStartError(
            "DISCORD_TOKEN does not look like a bot token (three dot-separated parts); copy it again from the Developer Portal."
        )
    return token


async def serve(bot: HuayiBot, token: str) -> None:
    """Run until the gateway ends or SIGTERM/SIGINT; then close the gateway and the queue in order."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            stopper.cancel()
            runner.result()
        else:
            log.warning("stopping: closing the gateway and the image queue")
            await bot.close()
            await asyncio.gather(runner, return_exceptions=True)


def run_bot(settings: Settings, bot: HuayiBot | None = None) -> None:
    """Start the bot and block until it stops; raises BotStartError for configuration problems."""
    token = check_token(settings.discord_token)
    install_secret_filter([token, settings.stability_api_key, settings.llm_api_key])
    configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)
    try:
        asyncio.run(serve(bot or HuayiBot(settings), token))
    except discord.LoginFailure:
        raise BotStartError(
            "Discord rejected DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer Portal and update .env."
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise BotStartError(
            "Discord refused the Message Content intent: enable it under Bot → Privileged Gateway Intents, "
            "or set DISCORD_MESSAGE_CONTENT=off (ASK_CHANNEL_IDS then answers only mentions and replies)."
        ) from None
    except discord.Forbidden:
        raise BotStartError(
            "Discord refused to sync the slash commands (403 Missing Access): check that DISCORD_GUILD_IDS lists "
            "only servers the bot was invited to with the applications.commands scope."
        ) from None
    except commands.ExtensionFailed as exc:
        raise BotStartError(f"The Huayi feature {exc.name} could not start: {exc.original}.") from None
    except (OSError, discord.GatewayNotFound) as exc:
        raise BotStartError(f"Could not reach Discord at {settings.discord_api_base}: {exc}.") from None
