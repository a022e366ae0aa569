"""/draw: queued SDXL images with live progress and durable re-roll, variation, edit, info and delete buttons."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    from ._cog import DrawCog

    await DrawCog.install(bot)
