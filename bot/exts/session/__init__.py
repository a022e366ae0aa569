"""/session: group image sessions in a thread — a shared brief, candidate rounds, votes and a gallery."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    from ._cog import SessionCog

    await SessionCog.install(bot)
