"""/kb: server admins add documents to the knowledge base, search, inspect and rebuild it."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    from ._cog import KbCog

    await KbCog.install(bot)
