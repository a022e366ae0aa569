"""/ask and conversational Q&A, end to end: the real bot against the Discord emulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.bot_harness import ALICE, BOB, bot_running, new_emulator


@pytest.fixture()
async def harness(tmp_path, embeddings, small_kb):
    async with bot_running(tmp_path / "data", embeddings, kb_dir=small_kb, bot_extensions="ask") as h:
        await asyncio.to_thread(h.services.build_index)
        yield h


def _embed(message):
    assert message["embeds"], message
    return message["embeds"][0]


async def test_ask_answers_with_numbered_sources_and_feedback(harness):
    emu = harness.emu
    record = await emu.slash("ask", {"question": "How long does peony last in a vase?"}, user=ALICE)
    callback = await emu.wait_response(record)
    assert callback["type"] == 5  # deferred: acknowledged at once
    message = await emu.wait_for(lambda: record.original and record.original.get("embeds") and record.original)
    embed = _embed(message)
    assert "3 to 5 days" in embed["description"]
    assert embed["fields"][0]["value"].startswith("**[1]** Peony")
    ids = [c["custom_id"] for row in message["components"] for c in row["components"]]
    assert any(i.startswith("huayi:fb:up:") for i in ids) and any(i.startswith("huayi:ask:thread:") for i in ids)

    up = next(i for i in ids if i.startswith("huayi:fb:up:"))
    vote = await emu.click(message, up, user=BOB, locale="zh-CN")
    reply = await emu.wait_response(vote)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64
    assert "👍 1" in reply["data"]["content"] and "谢谢" in reply["data"]["content"]
    # Changing one's mind replaces the vote instead of adding one.
    down = up.replace(":up:", ":down:")
    again = await emu.click(message, down, user=BOB)
    assert "👍 0 · 👎 1" in (await emu.wait_response(again))["data"]["content"]
    assert not emu.unhandled


async def test_ask_private_and_bad_input(harness):
    emu = harness.emu
    private = await emu.slash("ask", {"question": "Is peony toxic to cats?", "private": True}, user=ALICE)
    assert (await emu.wait_response(private))["data"]["flags"] & 64
    empty = await emu.slash("ask", {"question": "   "}, user=BOB, locale="zh-CN")
    reply = await emu.wait_response(empty)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "问题是空的" in reply["data"]["content"]
    assert "Traceback" not in str(emu.requests[-5:])


async def test_follow_up_thread_carries_the_conversation(harness):
    emu = harness.emu
    record = await emu.slash("ask", {"question": "How long does peony last in a vase?"}, user=ALICE)
    message = await emu.wait_for(lambda: record.original and record.original.get("embeds") and record.original)
    thread_button = next(
        c["custom_id"] for row in message["components"] for c in row["components"] if "thread" in c["custom_id"]
    )
    # Two members press Follow up at the same moment: one thread, and the second is pointed to it.
    opened, other = await asyncio.gather(
        emu.click(message, thread_button, user=ALICE), emu.click(message, thread_button, user=BOB)
    )

    def replies(record):
        return [m["content"] for m in record.followups] + [(c.get("data") or {}).get("content") or "" for c in record.callbacks]

    await emu.wait_for(lambda: all(any("<#" in t for t in replies(r)) for r in (opened, other)), 30)
    thread = emu.threads()[-1]
    assert len(emu.threads()) == 1 and not opened.errors and not other.errors
    assert all(any(f"<#{thread['id']}>" in t for t in replies(r)) for r in (opened, other))
    assert thread["id"] == message["id"] and thread["owner_id"] == emu.bot_user["id"]
    await emu.post_message(f"<@{emu.bot_user['id']}> is it toxic to cats?", user=ALICE, channel_id=thread["id"], mentions_bot=True)
    answer = await emu.wait_for(
        lambda: [m for m in emu.channel_messages(thread["id"]) if m["author"]["id"] == emu.bot_user["id"] and m["embeds"]]
    )
    assert "toxic" in answer[-1]["embeds"][0]["description"].lower()  # "it" resolved to peony from the thread


async def test_mentions_replies_and_ignored_messages(harness):
    emu = harness.emu
    channel = harness.channel_id
    bot_id = emu.bot_user["id"]
    await emu.post_message(f"<@{bot_id}> 牡丹在花瓶里能开几天？", user=BOB, channel_id=channel, mentions_bot=True)
    thread = await emu.wait_for(lambda: emu.threads() and emu.threads()[-1])
    answer = await emu.wait_for(
        lambda: [m for m in emu.channel_messages(thread["id"]) if m["author"]["id"] == bot_id and m["embeds"]]
    )
    assert "3" in answer[-1]["embeds"][0]["description"]
    assert any(r.path.endswith("/typing") for r in emu.requests)
    before = len(emu.requests)
    await emu.post_message("just chatting, no mention", user=ALICE, channel_id=channel)
    await emu.post_message(f"<@{bot_id}>", user=ALICE, channel_id=channel, mentions_bot=True)
    await asyncio.sleep(0.5)
    assert not [r for r in emu.requests[before:] if r.method == "POST" and "/messages" in r.path]


async def test_rate_limit_is_a_polite_private_reply(harness):
    from bot.ratelimit import RateLimiter

    harness.bot.runtime.limiter = RateLimiter(user_per_minute=1, draw_per_hour=1, guild_per_minute=100)
    emu = harness.emu
    await emu.wait_response(await emu.slash("ask", {"question": "Is peony toxic to cats?"}, user=BOB))
    limited = await emu.slash("ask", {"question": "Is peony toxic to cats?"}, user=BOB, locale="zh-CN")
    reply = await emu.wait_response(limited)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "秒后再试" in reply["data"]["content"]


async def test_ask_channel_and_replies_to_the_bot(tmp_path, embeddings, small_kb):
    emu = new_emulator()
    await emu.start()
    ask_channel, other = list(emu.channels)[:2]
    try:
        async with bot_running(
            tmp_path / "data", embeddings, emulator=emu, kb_dir=small_kb, bot_extensions="ask", ask_channel_ids=ask_channel
        ) as h:
            await asyncio.to_thread(h.services.build_index)
            bot_id = emu.bot_user["id"]
            await emu.post_message("How long does peony last in a vase?", user=ALICE, channel_id=ask_channel)
            thread = await emu.wait_for(lambda: emu.threads() and emu.threads()[-1])
            assert thread["parent_id"] == ask_channel
            await emu.wait_for(lambda: [m for m in emu.channel_messages(thread["id"]) if m["author"]["id"] == bot_id])

            record = await emu.slash("ask", {"question": "How long does peony last in a vase?"}, user=ALICE, channel_id=other)
            answer = await emu.wait_for(lambda: record.original and record.original.get("embeds") and record.original)
            await emu.post_message("Is it toxic to cats?", user=ALICE, channel_id=other, reply_to=answer)
            reply = await emu.wait_for(
                lambda: [m for m in emu.channel_messages(other) if m["author"]["id"] == bot_id and m.get("message_reference")]
            )
            assert "toxic" in reply[-1]["embeds"][0]["description"].lower()
            await emu.post_message("chatting in another channel", user=ALICE, channel_id=other)
            await asyncio.sleep(0.5)
            assert len([m for m in emu.channel_messages(other) if m["author"]["id"] == bot_id]) == 2
    finally:
        await emu.stop()
