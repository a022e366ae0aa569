"""How the bot behaves when Discord misbehaves: 429s, 500s, a dropped gateway, a slow ack."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.bot_harness import ALICE, BOB, bot_running

QUESTION = "How long does peony last in a vase?"


@pytest.fixture()
async def harness(tmp_path, embeddings, small_kb):
    async with bot_running(tmp_path / "data", embeddings, kb_dir=small_kb, bot_extensions="ask") as h:
        await asyncio.to_thread(h.services.build_index)
        h.services.rag()
        yield h


async def _answered(emu, record, timeout=60):
    return await emu.wait_for(lambda: record.original and record.original.get("embeds") and record.original, timeout)


async def test_rest_429_and_500_are_retried(harness):
    emu = harness.emu
    emu.fail_next("POST", r"^/webhooks/\d+/[^/]+$", 429, retry_after=0.3)
    emu.fail_next("POST", r"^/webhooks/\d+/[^/]+$", 500)
    record = await emu.slash("ask", {"question": QUESTION}, user=ALICE)
    message = await _answered(emu, record)
    assert "3 to 5 days" in message["embeds"][0]["description"]
    statuses = [r.status for r in emu.requests if r.method == "POST" and r.path.startswith("/webhooks/")]
    assert statuses[:3] == [429, 500, 200]


async def test_dropped_gateway_resumes_and_keeps_answering(harness):
    emu = harness.emu
    await emu.drop_gateway(code=4000)
    await emu.wait_for(lambda: emu.resumes == 1 and emu.connected, 60)
    assert emu.identifies == 1  # resumed, not re-identified
    record = await emu.slash("ask", {"question": QUESTION}, user=BOB)
    assert "3 to 5 days" in (await _answered(emu, record))["embeds"][0]["description"]


async def test_acknowledgement_near_the_deadline(harness, monkeypatch):
    """A bot stalled for 2 s still acknowledges in time; one stalled past 3 s fails quietly and recovers.

    The stall runs on the emulator's deadline clock, so a slow machine cannot move the outcome.
    """
    emu = harness.emu
    limiter = harness.bot.runtime.limiter
    original = limiter.check
    virtual = [0.0]
    emu.clock = lambda: virtual[0]

    def stalled(seconds):
        def check(*args, **kwargs):
            virtual[0] += seconds  # the bot's work before its acknowledgement took this long
            return original(*args, **kwargs)

        return check

    monkeypatch.setattr(limiter, "check", stalled(2.0))
    near = await emu.slash("ask", {"question": QUESTION}, user=ALICE)
    await _answered(emu, near)
    assert near.acknowledged_at - near.dispatched_at == 2.0

    monkeypatch.setattr(limiter, "check", stalled(3.5))
    late = await emu.slash("ask", {"question": QUESTION}, user=ALICE)
    await emu.wait_for(lambda: late.errors, 20)
    assert late.errors[0]["code"] == 10062 and late.original is None
    monkeypatch.setattr(limiter, "check", original)
    again = await emu.slash("ask", {"question": QUESTION}, user=ALICE)
    await _answered(emu, again)
    texts = [str(r.json) for r in emu.requests if r.json]
    assert not any("Traceback" in t for t in texts)


async def test_an_error_after_a_public_defer_stays_private(harness, monkeypatch):
    """The public "thinking…" placeholder is removed, so the apology reaches only the member who asked."""
    emu = harness.emu

    class BrokenRag:
        def ask_detailed(self, question, history):
            raise RuntimeError("index file vanished")

    monkeypatch.setattr(harness.services, "rag", BrokenRag)
    record = await emu.slash("ask", {"question": QUESTION}, user=BOB)
    reply = await emu.wait_for(lambda: record.followups and record.followups[-1], 30)
    assert reply["content"] == "抱歉，出了点意外，已记录下来。请稍后再试。"
    assert reply["flags"] & 64 and reply["id"] != record.original["id"]
    assert record.original["id"] in emu.deleted_messages
    public = emu.channel_messages(record.payload["channel_id"])
    assert all("意外" not in m["content"] and "vanished" not in m["content"] for m in public)
