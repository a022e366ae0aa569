"""`python -m bot` (the `huayi run` code path) against the emulator, as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.bot_harness import ALICE, FAKE_TOKEN, new_emulator
from tests.conftest import ROOT


def _env(emu, tmp_path, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "HUAYI_"))}
    env.update(
        DISCORD_TOKEN=token,
        DISCORD_API_BASE=emu.api_base,
        DISCORD_GATEWAY_URL=emu.gateway_url,
        DISCORD_GUILD_IDS=emu.guild_id,
        HUAYI_DATA_DIR=str(tmp_path / "data"),
        BOT_EXTENSIONS="info",
        LOG_LEVEL="INFO",
        HF_HUB_OFFLINE="1",
    )
    return env


async def test_python_m_bot_connects_serves_and_stops_on_sigterm(tmp_path):
    async with new_emulator() as emu:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=_env(emu, tmp_path, FAKE_TOKEN),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await emu.wait_commands(timeout=180)
            await emu.wait_ready(timeout=60)
            assert {"help", "styles", "status"} <= {c["name"] for c in emu.commands[emu.guild_id]}
            record = await emu.slash("help", user=ALICE)
            assert (await emu.wait_response(record, timeout=30))["data"]["flags"] & 64
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
    log = (out + err).decode()
    assert proc.returncode == 0, log
    assert "Traceback" not in log and FAKE_TOKEN not in log


async def test_rejected_token_is_one_sentence(tmp_path):
    async with new_emulator() as emu:
        wrong = FAKE_TOKEN[:-4] + "WXYZ"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=_env(emu, tmp_path, wrong),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 1
    assert "Discord rejected DISCORD_TOKEN" in err.decode()
    assert "Traceback" not in (out + err).decode() and wrong not in (out + err).decode()


async def test_refused_message_content_intent_is_one_sentence(tmp_path, embeddings):
    import pytest

    from bot.runner import BotStartError, run_bot
    from tests.bot_harness import bot_services, restore_endpoints

    async with new_emulator(allowed_privileged_intents=0) as emu:
        services = bot_services(tmp_path / "data", embeddings, emu, bot_extensions="info", discord_message_content="on")
        with restore_endpoints(), pytest.raises(BotStartError, match="Message Content"):
            await asyncio.to_thread(run_bot, services.settings)
