"""Huayi as a plugin: a host bot loads the extensions and keeps its own commands and errors."""

from __future__ import annotations

import asyncio
import contextlib

import discord
from discord.ext import commands

from bot.endpoints import configure_endpoints
from tests.bot_harness import ALICE, FAKE_TOKEN, new_emulator, restore_endpoints
from tests.conftest import KB_DIR


async def test_host_bot_loads_huayi_extensions(tmp_path, embeddings, small_kb, monkeypatch):
    monkeypatch.setenv("HUAYI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUAYI_KB_DIR", str(small_kb))
    monkeypatch.setenv("HUAYI_GLOSSARY", str(KB_DIR / "glossary.csv"))
    emu = new_emulator()
    await emu.start()
    host_errors: list[Exception] = []
    guild = discord.Object(id=int(emu.guild_id))
    host = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)

    @host.tree.command(name="ping", description="host command")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    @host.tree.command(name="boom", description="host command that fails")
    async def boom(interaction: discord.Interaction) -> None:
        raise RuntimeError("host failure")

    @host.tree.error
    async def on_error(interaction: discord.Interaction, error: discord.app_commands.AppCommandError) -> None:
        host_errors.append(error)
        await interaction.response.send_message("host handled it", ephemeral=True)

    async def setup_hook() -> None:
        await host.load_extension("bot.exts.ask")
        await host.load_extension("bot.exts.info")
        host.huayi.services.embeddings = embeddings  # share the test session's model
        host.tree.copy_global_to(guild=guild)
        await host.tree.sync(guild=guild)

    host.setup_hook = setup_hook  # type: ignore[method-assign]
    try:
        with restore_endpoints():
            configure_endpoints(emu.api_base, emu.gateway_url)
            task = asyncio.create_task(host.start(FAKE_TOKEN))
            try:
                await emu.wait_commands(timeout=90)
                await asyncio.wait_for(host.wait_until_ready(), 60)
                names = {c["name"] for c in emu.commands[emu.guild_id]}
                assert {"ping", "boom", "ask", "help", "styles", "status"} <= names

                pong = await emu.slash("ping", user=ALICE)
                assert (await emu.wait_response(pong))["data"]["content"] == "pong"
                failed = await emu.slash("boom", user=ALICE)
                assert (await emu.wait_response(failed))["data"]["content"] == "host handled it"
                assert len(host_errors) == 1

                await asyncio.to_thread(host.huayi.services.build_index)
                asked = await emu.slash("ask", {"question": "How long does peony last in a vase?"}, user=ALICE)
                answer = await emu.wait_for(lambda: asked.original and asked.original.get("embeds"), 60)
                assert "3 to 5 days" in answer[0]["description"]
                refused = await emu.slash("ask", {"question": "  "}, user=ALICE)
                assert "empty" in (await emu.wait_response(refused))["data"]["content"]
                assert len(host_errors) == 1  # Huayi's errors never reach the host's handler

                runtime = host.huayi
                await host.unload_extension("bot.exts.ask")
                assert runtime.users == {"info"}
                await host.unload_extension("bot.exts.info")
                assert runtime.users == set()
                assert not hasattr(host.tree, "_huayi_previous_on_error") or host.tree._huayi_previous_on_error is None
                failed_again = await emu.slash("boom", user=ALICE)
                assert (await emu.wait_response(failed_again))["data"]["content"] == "host handled it"
            finally:
                await host.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 30)
    finally:
        await emu.stop()
