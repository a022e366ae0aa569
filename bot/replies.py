"""Answering an interaction safely: ephemeral errors, no mentions, no traceback ever.

One path for every error: the command tree's `on_error` (installed by `install_error_handler`),
button and modal callbacks (`guard`) and the message listener all end in `describe_error`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import discord
from discord import app_commands

from .errors import user_message
from .i18n import COMMON, Lang, locale_lang, render
from .runtime import RUNTIME_ATTR

__all__ = [
    "NO_MENTIONS",
    "interaction_lang",
    "describe_error",
    "send_ephemeral",
    "reply_error",
    "guard",
    "install_error_handler",
    "is_huayi_command",
    "uninstall_error_handler",
]

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()
ErrorHandler = Callable[[discord.Interaction, app_commands.AppCommandError], Awaitable[None]]


def interaction_lang(interaction: discord.Interaction) -> Lang:
    return locale_lang(interaction.locale)


def describe_error(error: BaseException, lang: Lang, context: str) -> str:
    """The sentence to show; unexpected errors are logged here, with what was being done."""
    text = user_message(error, lang)
    cause = getattr(error, "original", None) or error
    if isinstance(cause, discord.NotFound):  # gone meanwhile, or an interaction acknowledged too late (10062)
        log.warning("Discord no longer knows what %s used: %s", context, cause)
    if text is None:
        if isinstance(cause, discord.HTTPException) and (cause.status >= 500 or cause.status == 429):
            log.warning("Discord did not serve a request during %s: %s", context, cause)
            return render(COMMON, "discord_error", lang)
        log.error("unexpected error during %s", context, exc_info=(type(cause), cause, cause.__traceback__))
        return render(COMMON, "unexpected", lang)
    return text


async def _drop_public_placeholder(interaction: discord.Interaction) -> None:
    """Remove a public "thinking…" placeholder, which the next follow-up would otherwise fill in public.

    Discord makes the first follow-up after a deferral *replace* that placeholder, keeping its visibility,
    so a private error sent after a public `/ask` defer would be shown to the whole channel.
    """
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return
    try:
        original = await interaction.original_response()
        if original.flags.loading and not original.flags.ephemeral:
            await original.delete()
    except discord.HTTPException as exc:
        log.warning("could not remove the placeholder of interaction %s: %s", interaction.id, exc)


async def send_ephemeral(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """Reply privately whether or not the interaction was acknowledged already."""
    try:
        if interaction.response.is_done():
            await _drop_public_placeholder(interaction)
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **kwargs)
    except discord.HTTPException as exc:
        log.warning("could not send a reply to interaction %s: %s", interaction.id, exc)


async def reply_error(interaction: discord.Interaction, error: BaseException, context: str) -> None:
    await send_ephemeral(interaction, describe_error(error, interaction_lang(interaction), context))


@asynccontextmanager
async def guard(interaction: discord.Interaction, context: str) -> AsyncIterator[None]:
    """For component and modal callbacks: any error becomes a polite ephemeral reply."""
    runtime = getattr(interaction.client, RUNTIME_ATTR, None)
    if runtime is not None:
        runtime.track_current_task()
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - this is the boundary to Discord
        await reply_error(interaction, exc, context)


def is_huayi_command(command: object) -> bool:
    extras = getattr(command, "extras", None) or {}
    if extras.get("huayi"):
        return True
    module = getattr(getattr(command, "callback", None), "__module__", "") or ""
    return module.startswith("bot.exts.")


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    """Route Huayi's command errors through `reply_error`; leave the host bot's own to its handler."""
    if getattr(tree, "_huayi_previous_on_error", None) is not None:
        return
    previous: ErrorHandler = tree.on_error

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if is_huayi_command(interaction.command):
            name = getattr(interaction.command, "qualified_name", "?")
            await reply_error(interaction, error, f"/{name} by {interaction.user.id}")
        else:
            await previous(interaction, error)

    tree._huayi_previous_on_error = previous  # type: ignore[attr-defined]
    tree.on_error = on_error  # type: ignore[method-assign]


def uninstall_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    previous = getattr(tree, "_huayi_previous_on_error", None)
    if previous is not None:
        tree.on_error = previous  # type: ignore[method-assign]
        tree._huayi_previous_on_error = None  # type: ignore[attr-defined]
