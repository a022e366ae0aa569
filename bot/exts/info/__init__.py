"""/styles, /status and /help: what Huayi offers and how it is doing."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    from ._cog import InfoCog

    await InfoCog.install(bot)
