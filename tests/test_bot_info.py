"""/styles, /status and /help: the Discord-free parts, then the commands end to end."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.exts.info._help import SECTION_ORDER, CommandEntry, feature_of, help_fields
from bot.exts.info._status import QueueState, StatusSnapshot, format_uptime, queue_state, status_fields
from bot.exts.info._styles import STYLES_PER_PAGE, page_footer, paginate, style_cards
from bot.exts.info._text import TEXTS
from bot.exts.kb._catalog import IndexSummary
from imaging.styles import load_styles


def test_every_text_exists_in_both_languages() -> None:
    for key, variants in TEXTS.items():
        assert set(variants) == {"zh", "en"} and all(v.strip() for v in variants.values()), key
    for feature in SECTION_ORDER:
        assert f"help.{feature}.title" in TEXTS and f"help.{feature}.body" in TEXTS


# /styles -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_style_cards_are_in_the_members_language(lang: str) -> None:
    library = load_styles()
    cards = style_cards(library, lang)  # type: ignore[arg-type]
    assert [c.style_id for c in cards] == library.ids
    chinese = next(c for c in cards if c.style_id == "chinese")
    assert chinese.title == ("中式插花 · Chinese" if lang == "zh" else "Chinese · 中式插花")
    assert chinese.example == library.get("chinese").examples[lang][0]
    pages = paginate(cards)
    assert sum(len(p) for p in pages) == len(cards) and all(len(p) <= STYLES_PER_PAGE for p in pages)
    assert page_footer(0, len(pages), len(cards), lang).startswith("第 1/" if lang == "zh" else "Page 1/")  # type: ignore[arg-type]


def test_paginate_keeps_a_partial_last_page() -> None:
    assert [len(p) for p in paginate(list(range(9)), 4)] == [4, 4, 1]  # type: ignore[arg-type]
    assert paginate([], 4) == []


# /status -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "lang", "expected"),
    [
        (0, "en", "0 s"),
        (59, "en", "59 s"),
        (3725, "en", "1 h 2 min"),
        (2 * 86400 + 3 * 3600 + 59, "en", "2 d 3 h"),
        (86400 + 30, "zh", "1 天"),
        (3600 * 5 + 60 * 7, "zh", "5 小时7 分钟"),
    ],
)
def test_format_uptime(seconds: float, lang: str, expected: str) -> None:
    assert format_uptime(seconds, lang) == expected  # type: ignore[arg-type]


@dataclass
class _Job:
    id: str
    status: str
    created_at: float


@dataclass
class _Store:
    jobs: list[_Job]

    async def list_by_user(self, user_id: str, limit: int = 20) -> list[_Job]:
        return sorted(self.jobs, key=lambda j: -j.created_at)[:limit]


@dataclass
class _Limits:
    max_per_user: int = 5


@dataclass
class _Scheduler:
    """The part of GenerationScheduler that /status reads."""

    store: _Store
    positions: dict[str, int]
    running: list[str] = field(default_factory=list)
    queue_length: int = 0
    limits: _Limits = field(default_factory=_Limits)

    def position(self, job_id: str) -> int | None:
        return self.positions.get(job_id)


async def test_queue_state_lists_the_members_unfinished_jobs_in_order() -> None:
    store = _Store([_Job("done", "done", 1), _Job("r", "running", 2), _Job("q2", "queued", 4), _Job("q1", "queued", 3)])
    scheduler: Any = _Scheduler(store, {"q1": 2, "q2": 5}, running=["r", "someone-else"], queue_length=6)
    state = await queue_state(scheduler, 42)
    assert state == QueueState(queued=6, running=2, mine=[None, 2, 5])


def _snapshot(**changes: Any) -> StatusSnapshot:
    values: dict[str, Any] = {
        "queue": None,
        "backends": {"local": True, "stability": False},
        "index": IndexSummary(documents=6, chunks=11, version="v-1", built_at=1740823200.0),
        "index_damaged": False,
        "uptime_s": 3725,
        "version": "0.1.0",
    }
    values.update(changes)
    return StatusSnapshot(**values)


def test_status_fields_in_english() -> None:
    fields = {f.name: f.value for f in status_fields(_snapshot(), "en")}
    assert fields["Drawing queue"].startswith("Not started yet")
    assert fields["Your drawings"] == "You have nothing in the queue right now."
    assert fields["Image backends"] == "✅ local GPU (SDXL): available\n⛔ Stability AI: unavailable"
    assert fields["Knowledge index"].startswith("6 documents · 11 chunks\nbuilt <t:1740823200:f>")
    assert fields["Uptime"] == "1 h 2 min" and fields["Version"] == "`0.1.0`"


def test_status_fields_in_chinese_with_a_queue_and_no_index() -> None:
    snapshot = _snapshot(queue=QueueState(3, 1, [None, 2]), index=None, backends=None)
    fields = {f.name: f.value for f in status_fields(snapshot, "zh")}
    assert fields["作画队列"] == "排队中 3 个 · 正在生成 1 个"
    assert fields["你的作画任务"] == "• 正在生成\n• 第 2 位"
    assert fields["知识库索引"].startswith("还没有建立")
    assert fields["图像后端"] == "暂时无法检查图像后端。"
    damaged = {f.name: f.value for f in status_fields(_snapshot(index=None, index_damaged=True), "zh")}
    assert "损坏" in damaged["知识库索引"]


# /help ---------------------------------------------------------------------------------------
def test_feature_of_reads_the_extension_package() -> None:
    assert feature_of("bot.exts.kb._cog") == "kb"
    assert feature_of("bot.exts.ask._cog") == "ask"
    assert feature_of("my_host_bot.cogs") is None


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_help_has_a_section_per_loaded_feature_and_lists_unexplained_commands(lang: str) -> None:
    entries = [
        CommandEntry("kb add", "kb"),
        CommandEntry("help", "info"),
        CommandEntry("ask", "ask"),
        CommandEntry("session start", "session"),
        CommandEntry("session vote", "session"),
        CommandEntry("styles", "info"),
    ]
    fields = help_fields(entries, lang)  # type: ignore[arg-type]
    titles = [f.name for f in fields]
    assert titles == [TEXTS[f"help.{x}.title"][lang] for x in ("ask", "info", "session", "kb")]  # type: ignore[index]
    session_lines = fields[2].value.split("\n")
    assert session_lines[-1].endswith("`/session vote`")  # a command the guide does not explain yet
    assert "`/session start`" not in session_lines[-1]  # explained in the section itself
    assert len(fields[1].value.split("\n")) == len(TEXTS["help.info.body"][lang].split("\n"))  # type: ignore[index]
    assert len(fields[3].value.split("\n")) == len(TEXTS["help.kb.body"][lang].split("\n"))  # type: ignore[index]
    assert all(len(f.value) <= 1024 for f in fields)


# End to end ----------------------------------------------------------------------------------
@pytest.fixture()
async def info_bot(tmp_path, embeddings, small_kb):
    from tests.bot_harness import bot_running

    # The Stability backend answers its health check without importing torch (20 s on a busy VM).
    async with bot_running(
        tmp_path / "data", embeddings, kb_dir=small_kb, bot_extensions="info,kb", image_backends="stability"
    ) as h:
        yield h


def _buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["custom_id"].rsplit(":", 1)[-1]: c for row in message["components"] for c in row["components"]}


async def test_styles_pages_turn_only_for_the_member_who_opened_them(info_bot):
    from tests.bot_harness import ALICE, BOB

    emu = info_bot.emu
    record = await emu.slash("styles", user=ALICE)
    reply = await emu.wait_response(record)
    assert reply["type"] == 4 and not reply["data"].get("flags", 0) & 64
    message = record.original
    assert len(message["embeds"]) == STYLES_PER_PAGE and message["embeds"][0]["title"] == "Chinese · 中式插花"
    assert message["embeds"][-1]["footer"]["text"].startswith("Page 1/3")
    buttons = _buttons(message)
    assert buttons["prev"]["disabled"] and not buttons["next"].get("disabled")

    other = await emu.click(message, buttons["next"]["custom_id"], user=BOB)
    note = await emu.wait_response(other)
    assert note["type"] == 4 and note["data"]["flags"] & 64 and "只有 TA 能翻页" in note["data"]["content"]
    assert emu.message(message["id"])["embeds"][-1]["footer"]["text"].startswith("Page 1/3")

    turn = await emu.click(message, buttons["next"]["custom_id"], user=ALICE)
    assert (await emu.wait_response(turn))["type"] == 7
    turned = emu.message(message["id"])
    assert turned["embeds"][-1]["footer"]["text"].startswith("Page 2/3")
    assert not _buttons(turned)["prev"].get("disabled")
    assert not emu.unhandled


async def test_status_reports_without_building_an_index(info_bot):
    from tests.bot_harness import ALICE

    emu = info_bot.emu
    record = await emu.slash("status", user=ALICE)
    assert (await emu.wait_response(record))["type"] == 5
    message = await emu.wait_for(lambda: record.followups and record.followups[0], 60)
    assert message["flags"] & 64
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Drawing queue"].startswith("Not started yet")
    assert fields["Knowledge index"].startswith("Not built yet")
    assert fields["Image backends"] == "⛔ Stability AI: unavailable"  # no API key in tests
    assert fields["Version"] == "`0.1.0`"
    assert not (info_bot.services.settings.index_dir / "CURRENT").exists()

    await asyncio.to_thread(info_bot.services.build_index)
    again = await emu.slash("status", user=ALICE)
    message = await emu.wait_for(lambda: again.followups and again.followups[0], 60)
    fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
    assert fields["Knowledge index"].startswith("6 documents")


async def test_status_answers_while_the_workers_are_busy(info_bot):
    """A burst of questions fills the bot's worker threads; /status still answers, health included."""
    from tests.bot_harness import ALICE

    emu, runtime = info_bot.emu, info_bot.bot.runtime
    release = threading.Event()
    busy = [asyncio.ensure_future(runtime.run_blocking(release.wait, 60)) for _ in range(runtime.settings.worker_threads + 1)]
    try:
        record = await emu.slash("status", user=ALICE)
        message = await emu.wait_for(lambda: record.followups and record.followups[0], 30)
        fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
        assert fields["Image backends"] == "⛔ Stability AI: unavailable" and fields["Knowledge index"]
        assert not any(task.done() for task in busy)
    finally:
        release.set()
        await asyncio.gather(*busy)


async def test_help_follows_the_members_language(info_bot):
    from tests.bot_harness import ALICE, BOB

    emu = info_bot.emu
    record = await emu.slash("help", user=BOB)
    reply = await emu.wait_response(record)
    assert reply["type"] == 4 and reply["data"]["flags"] & 64
    embed = reply["data"]["embeds"][0]
    assert embed["title"] == "花艺 Huayi 使用指南"
    assert [f["name"] for f in embed["fields"]] == ["ℹ️ 信息", "📚 知识库管理（管理员）"]  # only what this bot loaded
    english = await emu.wait_response(await emu.slash("help", user=ALICE))
    assert english["data"]["embeds"][0]["fields"][0]["name"] == "ℹ️ Information"
