"""/draw end to end on the tiny SDXL pipeline: queue, progress, result, buttons, faults."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.bot_harness import ADMIN, ALICE, BOB, bot_running, new_emulator


def _ids(message):
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def _button(message, action):
    return next(i for i in _ids(message) if i.startswith(f"huayi:draw:{action}:"))


@pytest.fixture()
async def harness(tmp_path, embeddings, small_kb, tiny_sdxl_dir):
    async with bot_running(
        tmp_path / "data",
        embeddings,
        kb_dir=small_kb,
        image_model=str(tiny_sdxl_dir),
        bot_extensions="draw",
        image_max_count=2,
    ) as h:
        yield h


async def _result(emu, record, timeout=120):
    return await emu.wait_for(lambda: record.original and record.original.get("attachments") and record.original, timeout)


async def test_draw_acknowledges_queues_and_posts_the_image_with_buttons(harness):
    emu = harness.emu
    record = await emu.slash("draw", {"prompt": "白色牡丹，黑色花器", "style": "chinese"}, user=BOB, locale="zh-CN")
    first = await emu.wait_response(record)
    assert first["type"] == 5 and record.acknowledged_at - record.dispatched_at < 3
    message = await _result(emu, record)
    embed = message["embeds"][0]
    assert "牡丹" in embed["title"] and "peony" in embed["description"].lower()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert set(fields) >= {"风格", "种子", "生成方式", "用时"} and fields["种子"].isdigit()
    assert embed["image"]["url"].startswith("attachment://")
    assert [a["filename"].endswith(".png") for a in message["attachments"]] == [True]
    assert {i.split(":")[2] for i in _ids(message)} == {"reroll", "vary", "edit", "info", "delete"}
    edits = [r for r in emu.requests if r.method == "PATCH" and record.token in r.path]
    assert any("已排队" in str(r.json) or "下一个" in str(r.json) for r in edits)
    progress = [r.at for r in edits if "作画中" in str(r.json)]
    assert all(b - a >= 1.9 for a, b in zip(progress, progress[1:]))
    assert all(r.json is None or r.json.get("allowed_mentions", {}).get("parse") == [] for r in edits)
    assert not emu.unhandled


async def test_drawings_are_planned_while_questions_fill_the_workers(harness):
    """A burst of /ask occupies every answer worker; a /draw is still planned and drawn meanwhile."""
    emu, runtime = harness.emu, harness.bot.runtime
    release = threading.Event()
    busy = [asyncio.ensure_future(runtime.run_blocking(release.wait, 120)) for _ in range(runtime.settings.worker_threads + 2)]
    try:
        record = await emu.slash("draw", {"prompt": "white peonies"}, user=ALICE)
        await _result(emu, record)
        assert not any(task.done() for task in busy)
    finally:
        release.set()
        await asyncio.gather(*busy)


async def test_buttons_info_reroll_variations_edit_delete(harness):
    emu = harness.emu
    record = await emu.slash("draw", {"prompt": "red roses in a glass vase", "seed": 7}, user=ALICE)
    message = await _result(emu, record)

    info = await emu.click(message, _button(message, "info"), user=BOB)
    details = (await emu.wait_response(info))["data"]
    assert details["flags"] & 64 and "rose" in str(details["embeds"]).lower() and "7" in str(details["embeds"])

    reroll = await emu.click(message, _button(message, "reroll"), user=ALICE)
    rerolled = await _result(emu, reroll)
    seed = {f["name"]: f["value"] for f in rerolled["embeds"][0]["fields"]}["Seed"]
    assert seed != "7"

    vary = await emu.click(message, _button(message, "vary"), user=ALICE)
    varied = await _result(emu, vary)
    assert len(varied["attachments"]) == 2  # IMAGE_MAX_COUNT in this harness
    assert {f["name"]: f["value"] for f in varied["embeds"][0]["fields"]}["Seed"] == "8, 9"

    edit = await emu.click(message, _button(message, "edit"), user=ALICE)
    modal = (await emu.wait_response(edit))
    assert modal["type"] == 9 and "red roses" in str(modal["data"])
    submitted = await emu.submit_modal(modal["data"]["custom_id"], {"idea": "white lilies in a glass vase"}, user=ALICE)
    edited = await _result(emu, submitted)
    assert "lil" in edited["embeds"][0]["description"].lower()

    refused = await emu.click(message, _button(message, "delete"), user=BOB)
    assert "管理消息" in (await emu.wait_response(refused))["data"]["content"]  # BOB's locale is zh-CN
    deleted = await emu.click(message, _button(message, "delete"), user=ADMIN)
    await emu.wait_response(deleted)
    await emu.wait_for(lambda: message["id"] not in emu.messages.get(message["channel_id"], {}))


async def test_refusals_are_private_and_immediate(harness):
    emu = harness.emu
    blocked = await emu.slash("draw", {"prompt": "nude figure with roses"}, user=ALICE)
    reply = await emu.wait_response(blocked)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "can't generate" in reply["data"]["content"]
    style = await emu.slash("draw", {"prompt": "peony", "style": "nonsense"}, user=BOB, locale="zh-CN")
    reply = await emu.wait_response(style)
    assert reply["data"]["flags"] & 64 and "风格" in reply["data"]["content"]


async def test_style_autocomplete_in_members_language(harness):
    zh = await harness.emu.autocomplete("draw", {"prompt": "x", "style": "中"}, "style", user=BOB, locale="zh-CN")
    assert zh and all(len(c["name"]) <= 100 for c in zh) and any("中" in c["name"] for c in zh)
    en = await harness.emu.autocomplete("draw", {"prompt": "x", "style": ""}, "style", user=ALICE)
    assert 1 <= len(en) <= 25


async def test_owner_cancels_a_queued_job(harness, monkeypatch):
    emu = harness.emu
    # The first drawing waits at the backend until the second is cancelled, however fast this machine draws.
    scheduler = await harness.bot.runtime.scheduler()
    gate, generate = asyncio.Event(), scheduler.backend.generate

    async def held(*args, **kwargs):
        await gate.wait()
        return await generate(*args, **kwargs)

    monkeypatch.setattr(scheduler.backend, "generate", held)
    first = await emu.slash("draw", {"prompt": "peony", "count": 2}, user=ALICE)
    second = await emu.slash("draw", {"prompt": "tulip"}, user=ALICE)
    queued = await emu.wait_for(lambda: second.original and _ids(second.original) and second.original)
    cancel = _button(queued, "cancel")
    refused = await emu.click(queued, cancel, user=BOB)
    assert (await emu.wait_response(refused))["data"]["flags"] & 64
    accepted = await emu.click(queued, cancel, user=ALICE)
    assert "ancel" in (await emu.wait_response(accepted))["data"]["content"]
    await emu.wait_for(lambda: "Cancelled" in str(second.original.get("content")))
    gate.set()
    await _result(emu, first)


async def test_a_draw_still_planning_at_shutdown_is_told_to_try_again(harness, monkeypatch):
    """Stopping the bot never leaves a member looking at "thinking…" for a job that was never queued."""
    emu, imaging, runtime = harness.emu, harness.services.imaging, harness.bot.runtime
    planning, stopping = threading.Event(), threading.Event()
    plan = imaging.plan

    def slow_plan(*args, **kwargs):
        planning.set()
        stopping.wait(30)
        return plan(*args, **kwargs)

    monkeypatch.setattr(imaging, "plan", slow_plan)
    record = await emu.slash("draw", {"prompt": "white peonies in a celadon vase"}, user=BOB, locale="zh-CN")
    assert (await emu.wait_response(record))["type"] == 5
    assert await asyncio.to_thread(planning.wait, 30)
    closing = asyncio.ensure_future(harness.bot.close())
    await emu.wait_for(lambda: runtime.closing, 10)
    stopping.set()  # planning ends only once the queue is closed
    await closing
    assert record.followups, "the member heard nothing"
    reply = record.followups[-1]
    assert reply["content"].startswith("Huayi 正在重启") and reply["flags"] & 64
    assert record.original["id"] in emu.deleted_messages
    jobs = [r for r in emu.requests if r.method == "PATCH" and record.token in r.path]
    assert jobs == []  # never queued, so no queue position was shown


async def test_late_results_and_oversized_images_go_to_the_channel(tmp_path, embeddings, small_kb, tiny_sdxl_dir):
    emu = new_emulator(filesize_limit=40_000)
    await emu.start()
    try:
        async with bot_running(
            tmp_path / "data", embeddings, emulator=emu, kb_dir=small_kb, image_model=str(tiny_sdxl_dir), bot_extensions="draw"
        ) as h:
            h.bot.get_cog("DrawCog").token_window_s = 0.0  # as if the queue outlived the 15-minute token
            record = await emu.slash("draw", {"prompt": "peony"}, user=ALICE)
            posted = await emu.wait_for(
                lambda: [m for m in emu.channel_messages(h.channel_id) if m.get("attachments")], 120
            )
            message = posted[-1]
            assert message["content"].startswith(f"<@{ALICE}>")
            assert [str(u) for u in emu.sent_allowed_mentions[message["id"]][0]["users"]] == [ALICE]
            assert all(a["size"] <= 40_000 for a in message["attachments"])
            assert record.original is None or not record.original.get("attachments")
    finally:
        await emu.stop()


async def test_restart_delivers_queued_jobs(tmp_path, embeddings, small_kb, tiny_sdxl_dir):
    from imaging.jobs import JobStore

    emu = new_emulator()
    await emu.start()
    data = tmp_path / "data"
    options = {"kb_dir": small_kb, "image_model": str(tiny_sdxl_dir), "bot_extensions": "draw", "image_default_steps": 6}
    try:
        async with bot_running(data, embeddings, emulator=emu, **options):
            records = [await emu.slash("draw", {"prompt": p}, user=ALICE) for p in ("peony", "tulip", "rose")]
            await emu.wait_for(lambda: all(_ids(r.original or {}) for r in records), 90)  # queued, with ✖️ Cancel
        async with JobStore(data / "huayi.sqlite3") as store:
            unfinished = await store.list_unfinished()
        assert unfinished, "every job finished before the shutdown; nothing to recover"
        async with bot_running(data, embeddings, emulator=emu, **options) as h:
            posted = await emu.wait_for(
                lambda: [m for m in emu.channel_messages(h.channel_id) if m.get("attachments")]
                if len([m for m in emu.channel_messages(h.channel_id) if m.get("attachments")]) >= len(unfinished)
                else None,
                360,
                what=f"{len(unfinished)} results; channel has {[m['content'][:80] for m in emu.channel_messages(h.channel_id)]}",
            )
            assert all(m["content"].startswith(f"<@{ALICE}>") for m in posted), [m["content"] for m in posted]
            assert {m["embeds"][0]["title"] for m in posted} <= {"🌸 peony", "🌸 tulip", "🌸 rose"}
    finally:
        await emu.stop()


async def test_stability_fallback_is_announced(tmp_path, embeddings, small_kb):
    from tests.fake_stability import FAKE_KEY, FakeStability

    with FakeStability() as fake:
        async with bot_running(
            tmp_path / "data",
            embeddings,
            kb_dir=small_kb,
            bot_extensions="draw",
            image_backends="local,stability",
            image_model=str(tmp_path / "no-such-model"),
            image_local_files_only=True,
            stability_api_key=FAKE_KEY,
            stability_api_base=fake.base_url,
        ) as h:
            record = await h.emu.slash("draw", {"prompt": "pink peonies"}, user=ALICE)
            message = await _result(h.emu, record)
    embed = message["embeds"][0]
    assert embed["description"].startswith("⚠️") and "Stability" in embed["description"]
    assert {f["name"]: f["value"] for f in embed["fields"]}["Backend"] == "Stability AI"
    assert fake.calls == 1


async def test_results_that_ended_unheard_are_posted_once(tmp_path, embeddings, small_kb):
    """A job that finished while no bot listened (a crash after saving) is posted at the next start, once."""
    from PIL import Image

    from imaging.jobs import Job, JobStore
    from imaging.request import GenerationRequest

    data = tmp_path / "data"
    data.mkdir()
    png = tmp_path / "done.png"
    Image.new("RGB", (64, 64), (200, 80, 120)).save(png)
    emu = new_emulator()
    await emu.start()
    request = GenerationRequest(prompt="pink peony", seeds=(5,), seed=5)
    job = Job.new(ALICE, request, guild_id=emu.guild_id, channel_id=next(iter(emu.channels)), meta={"kind": "draw", "idea": "粉色牡丹", "ui_lang": "zh"})
    async with JobStore(data / "huayi.sqlite3") as store:
        await store.add(job)
        await store.mark_done(job, {"images": [{"path": str(png), "seed": 5}], "backend": "local", "seconds": 1.5})
    options = {"kb_dir": small_kb, "bot_extensions": "draw", "image_preload": False}
    try:
        async with bot_running(data, embeddings, emulator=emu, **options) as h:
            posted = await emu.wait_for(lambda: [m for m in emu.channel_messages(h.channel_id) if m.get("attachments")], 60)
            assert posted[0]["embeds"][0]["title"] == "🌸 粉色牡丹" and posted[0]["content"].startswith(f"<@{ALICE}>")
            cog = h.bot.get_cog("DrawCog")
            await emu.wait_for(lambda: cog._terminal_seen and not cog._tasks, 60)  # delivered, and marked so
        async with bot_running(data, embeddings, emulator=emu, **options) as h:
            cog = h.bot.get_cog("DrawCog")
            await emu.wait_for(lambda: not cog._tasks, 60)  # the scan for undelivered results is over
            assert len([m for m in emu.channel_messages(h.channel_id) if m.get("attachments")]) == 1
    finally:
        await emu.stop()
