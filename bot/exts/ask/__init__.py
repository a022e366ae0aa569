"""/ask, feedback buttons, follow-up threads and conversational Q&A (mentions, replies, threads)."""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    from ._cog import AskCog

    await AskCog.install(bot)
