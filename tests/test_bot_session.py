"""Group image sessions: the brief merge, the store, and whole sessions in the Discord emulator."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.exts.session._brief import (
    Contribution,
    clean_contribution,
    item_key,
    merge,
    merge_new,
    split_items,
)
from bot.exts.session._errors import SessionError
from bot.exts.session._format import brief_description, tally_text
from bot.exts.session._store import SessionRecord, SessionStore
from bot.exts.session._votes import count_votes, pick_winner
from imaging.prompt_text import Blocklist
from rag.glossary import Glossary
from tests.conftest import KB_DIR


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load(KB_DIR / "glossary.csv")


# The brief ------------------------------------------------------------------------------
def test_items_split_on_both_languages_separators() -> None:
    assert split_items("red peonies, 黑色花瓶；calm\n- moonlight.") == ["red peonies", "黑色花瓶", "calm", "moonlight"]
    assert split_items(" , ;; ") == []


def test_keys_are_case_width_and_glossary_insensitive(glossary: Glossary) -> None:
    key = lambda text: item_key(text, glossary)[0]  # noqa: E731
    assert key("牡丹") == key("Peony") == key("ｐｅｏｎｉｅｓ") == key("a peony")
    assert key("红色牡丹") == key("red peony")
    assert key("黑色花瓶") == key("Black vase")
    assert key("Moonlight") == key("ＭＯＯＮＬＩＧＨＴ")
    assert key("peony in the rain") != key("peony")
    assert item_key("宁静", glossary)[1] == "moods"
    assert item_key("red peony", glossary)[1] == "flowers"
    assert item_key("black vase", glossary)[1] == "vessels"
    assert item_key("moonlight", glossary)[1] == "other"


def test_merge_keeps_first_wording_and_credits_everyone_once(glossary: Glossary) -> None:
    brief = merge(
        [
            Contribution("1", "alice", "peonies, black vase"),
            Contribution("2", "bob", "牡丹，宁静"),
            Contribution("1", "alice", "Peony"),
            Contribution("3", "carol", "moonlight"),
        ],
        glossary,
    )
    assert [(i.text, i.names) for i in brief.items] == [
        ("peonies", ["alice", "bob"]),
        ("black vase", ["alice"]),
        ("宁静", ["bob"]),
        ("moonlight", ["carol"]),
    ]
    assert brief.idea("spring wedding") == "spring wedding, peonies, black vase, 宁静, moonlight"
    assert brief.contributors() == [("1", "alice", 2), ("2", "bob", 2), ("3", "carol", 1)]
    assert list(brief.by_category()) == ["flowers", "vessels", "moods", "other"]


def test_merge_new_reports_added_and_repeated_and_caps_the_idea(glossary: Glossary) -> None:
    brief = merge([Contribution("1", "alice", "peonies")], glossary)
    outcome = merge_new(brief, Contribution("2", "bob", "牡丹, 白色, peony"), glossary, theme="t", max_idea_chars=100)
    assert outcome.added == ["白色"] and outcome.repeated == ["peonies"]
    assert outcome.brief.items[0].names == ["alice", "bob"]
    with pytest.raises(SessionError) as full:
        merge_new(outcome.brief, Contribution("3", "carol", "x" * 90), glossary, theme="t", max_idea_chars=100)
    assert full.value.params == {"reason": "brief_full", "limit": 100}
    # A pure repeat never fills the brief.
    assert merge_new(outcome.brief, Contribution("3", "carol", "Peony"), glossary, theme="t" * 99, max_idea_chars=100).repeated


def test_contributions_are_cleaned_and_validated() -> None:
    blocklist = Blocklist.from_entries(["gore", "血腥"])
    assert clean_contribution(" <@123> red\u0000 peony @everyone ", blocklist) == "red peony"
    for text, reason in [("", "empty"), ("<@1> ...", "empty"), ("x" * 201, "too_long"), ("some gore", "blocked"), ("血腥牡丹", "blocked")]:
        with pytest.raises(SessionError) as error:
            clean_contribution(text, blocklist)
        assert error.value.params["reason"] == reason


def test_rendering_escapes_markdown_and_fits_discord(glossary: Glossary) -> None:
    people = [Contribution(str(n), f"m_{n}", f"idea {n}") for n in range(200)]
    text = brief_description(merge(people, glossary), "en", starter="a*b", style="Chinese", expires_at=0, how="brief.how")
    assert len(text) <= 4096 and "a\\*b" in text and "m\\_0" in text and "more" in text
    assert tally_text(2, [1, 3, 3], "en", closed=True).splitlines()[2].endswith("🏆")


def test_winner_is_most_votes_and_ties_go_to_the_earliest() -> None:
    assert count_votes([2, 2, 1, 9], 3) == [1, 2, 0]
    assert pick_winner([1, 2, 2]) == 2
    assert pick_winner([0, 0]) == 1


def test_every_string_has_both_languages_with_the_same_placeholders() -> None:
    import string

    from bot.exts.session._text import ERRORS, TEXTS

    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}  # noqa: E731
    for key, texts in {**TEXTS, **ERRORS}.items():
        assert set(texts) == {"zh", "en"} and fields(texts["zh"]) == fields(texts["en"]), key


# The store ------------------------------------------------------------------------------
async def test_store_round_trips_sessions_rounds_and_votes(tmp_path: Path) -> None:
    store = await SessionStore(tmp_path / "db.sqlite3").open()
    try:
        record = await store.create(
            SessionRecord("g", "c", "t1", "1", "alice", "spring", "chinese", "en", expires_at=100.0)
        )
        assert (await store.by_thread("t1")).id == record.id  # type: ignore[union-attr]
        await store.add_contribution(record.id, Contribution("2", "bob", "牡丹", 1.0))
        assert await store.contributions(record.id) == [Contribution("2", "bob", "牡丹", 1.0)]

        first = await store.new_round(record.id, "1", "alice", "spring, 牡丹")
        assert first.number == 1 and first.active
        await store.update_round(record.id, 1, job_id="job1", status="queued", progress_message_id="m1")
        assert [r.job_id for r in await store.active_rounds()] == ["job1"]
        assert await store.finish_round(record.id, 1, "done") and not await store.finish_round(record.id, 1, "failed")
        assert (await store.new_round(record.id, "2", "bob", "x")).number == 2
        await store.add_candidates(record.id, 1, [("a.png", 1), ("b.png", 2)])
        assert [c.path for c in await store.candidates(record.id, 1)] == ["a.png", "b.png"]
        assert (await store.latest_done_round(record.id)).number == 1  # type: ignore[union-attr]

        assert await store.vote(record.id, 1, "2", 1) is None
        assert await store.vote(record.id, 1, "2", 2) == 1
        assert await store.vote(record.id, 1, "3", 2) is None
        assert sorted(await store.votes(record.id, 1)) == [2, 2]

        assert [s.id for s in await store.due(100.0)] == [record.id] and await store.due(99.0) == []
        assert await store.begin_finish(record.id) and not await store.begin_finish(record.id)
        assert [s.status for s in await store.live()] == ["finishing"]
        await store.mark_finished(record.id, 5.0)
        assert await store.by_thread("t1") is None and await store.live() == []
        with pytest.raises(ValueError):
            await store.update_round(record.id, 1, bogus=1)
    finally:
        await store.close()
    reopened = await SessionStore(tmp_path / "db.sqlite3").open()
    try:
        assert (await reopened.get(record.id)).finished_at == 5.0  # type: ignore[union-attr]
    finally:
        await reopened.close()


# End to end in the Discord emulator ------------------------------------------------------
SETTINGS = {
    "bot_extensions": "session",
    "discord_message_content": "on",
    "session_candidates": 2,
    "rate_user_per_minute": 100,
}
EPHEMERAL = 64


def _custom_ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def _brief_text(emu, thread_id: str) -> str:
    message = emu.message(emu.pins[thread_id][0][0])
    return message["embeds"][0]["title"] + "\n" + message["embeds"][0]["description"]


async def _reply(emu, record) -> dict:
    """The text a command answered with: its response, or the follow-up after a defer."""
    first = await emu.wait_response(record, timeout=60)
    if first["type"] == 5:
        await emu.wait_for(lambda: record.followups, 180)
        return record.followups[-1]
    return first["data"]


async def _start(emu, user: str, theme: str, **options) -> str:
    record = await emu.slash("session", {"theme": theme, **options}, user=user, subcommand="start")
    assert (await emu.wait_response(record))["type"] == 4
    thread = await emu.wait_for(lambda: next((t for t in emu.threads() if theme in t["name"]), None))
    await emu.wait_for(lambda: emu.pins.get(thread["id"]))
    return thread["id"]


async def _command(emu, name: str, thread_id: str, user: str, **options) -> dict:
    return await _reply(emu, await emu.slash("session", options, user=user, subcommand=name, channel_id=thread_id))


async def _tally(emu, thread_id: str, round_number: int, timeout: float = 240) -> dict:
    def find() -> dict | None:
        return next(
            (m for m in emu.channel_messages(thread_id)
             if any(i.startswith("huayi:sv:") and i.split(":")[3] == str(round_number) for i in _custom_ids(m))),
            None,
        )  # fmt: skip
    return await emu.wait_for(find, timeout, what=f"round {round_number} vote buttons")


async def _vote(emu, tally: dict, candidate: int, user: str) -> dict:
    """Click a vote button: acknowledged at once (deferred, private), the tally edited, then a private note."""
    button = next(i for i in _custom_ids(emu.message(tally["id"])) if i.endswith(f":{candidate}"))
    record = await emu.click(tally, button, user=user)
    first = await emu.wait_response(record)
    if first["type"] == 5:
        await emu.wait_for(lambda: record.followups or (record.original and record.original.get("content")))
        return record.followups[-1] if record.followups else record.original
    return first["data"]


async def _finished_while_nobody_listened(database: Path, *, first: str, second: str) -> None:
    """A crash between a job's end and its delivery: the second session gets a round whose job is done
    (with the first session's pictures) but whose candidates were never posted."""
    from imaging.jobs import Job, JobStore

    sessions, jobs = await SessionStore(database).open(), await JobStore(database).open()
    try:
        drawn_session, session = await sessions.by_thread(first), await sessions.by_thread(second)
        assert drawn_session is not None and session is not None
        drawn_round = await sessions.round(drawn_session.id, 1)
        drawn = await jobs.get(drawn_round.job_id or "") if drawn_round else None
        assert drawn is not None and drawn.result is not None
        record = await sessions.new_round(session.id, session.starter_id, session.starter_name, session.theme)
        meta = {"kind": "session", "session_id": session.id, "round": record.number}
        job = Job.new(session.starter_id, drawn.request, channel_id=second, meta=meta)
        await jobs.add(job)
        await jobs.mark_done(job, drawn.result)
        await sessions.mark_queued(session.id, record.number, job.id)
    finally:
        await sessions.close()
        await jobs.close()


async def test_a_whole_session_with_three_members_across_a_restart(tmp_path, embeddings, small_kb, tiny_sdxl_dir) -> None:
    """Start, contributions, a drawn round and votes; a restart; then more contributions, a moved vote, the
    finish, and a second session's recovered round and expiry.

    One test on purpose: drawing on the tiny pipeline dominates the wall time, and the restart must
    carry exactly this state (open sessions, brief, round, votes, vote buttons) over to the new process.
    """
    from tests.bot_harness import ALICE, BOB, CAROL, bot_running, new_emulator

    data = tmp_path / "data"
    options = {"kb_dir": small_kb, "image_model": str(tiny_sdxl_dir), **SETTINGS}
    emu = new_emulator()
    await emu.start()
    try:
        async with bot_running(data, embeddings, emulator=emu, **options) as harness:
            styles = await emu.autocomplete("session", {"theme": "x", "style": "中"}, "style", user=BOB,
                                            subcommand="start", locale="zh-CN")  # fmt: skip
            assert styles and all("中" in c["name"] for c in styles)
            tid = await _start(emu, ALICE, "Spring wedding", style="chinese", minutes=30)
            assert "Spring wedding" in _brief_text(emu, tid) and int(tid) in harness.bot.huayi.claimed_threads

            added = await _command(emu, "add", tid, ALICE, text="peonies, black vase")
            assert added["flags"] & EPHEMERAL and "Added to the brief: peonies, black vase" in added["content"]
            bob = await emu.post_message("牡丹，宁静", user=BOB, channel_id=tid)
            await emu.wait_for(lambda: "宁静" in _brief_text(emu, tid))
            brief = _brief_text(emu, tid)
            assert "peonies — Alice, Bob" in brief and "牡丹" not in brief and "Contributors: Alice ×2, Bob ×2" in brief
            assert emu.message(bob["id"]).get("reactions")
            refused = await emu.post_message("nude peonies", user=CAROL, channel_id=tid)
            reply = await emu.wait_for(lambda: next((m for m in emu.channel_messages(tid)
                                                     if m.get("message_reference", {}).get("message_id") == refused["id"]), None))  # fmt: skip
            assert "can't draw" in reply["content"] and "nude" not in _brief_text(emu, tid)
            again = await _command(emu, "add", tid, BOB, text="Peony")
            assert "简报里已经有了：peonies" in again["content"]

            # Both at once, before the model starts loading (loading starves the event loop on a small CPU).
            first = await emu.slash("session", {}, user=CAROL, subcommand="draw", channel_id=tid)
            second = await emu.slash("session", {}, user=ALICE, subcommand="draw", channel_id=tid)
            replies = [await _reply(emu, first), await _reply(emu, second)]
            queued, busy = sorted(replies, key=lambda r: "Round 1" not in r["content"])  # either may win the race
            assert queued["flags"] & EPHEMERAL and "Round 1" in queued["content"]
            assert busy["flags"] & EPHEMERAL and "still being drawn" in busy["content"]
            tally = await _tally(emu, tid, 1)
            candidates = next(m for m in emu.channel_messages(tid) if m["attachments"])
            assert [a["filename"].split(".")[0] for a in candidates["attachments"]] == ["round1-1", "round1-2"]
            progress = await emu.wait_for(lambda: next((m for m in emu.channel_messages(tid) if "Round 1 is ready" in m["content"]), None))
            edits = emu.requests_to("PATCH", rf"/channels/{tid}/messages/{progress['id']}")
            assert len(edits) >= 2 and all(b.at - a.at >= 1.9 for a, b in zip(edits[:-2], edits[1:-1]))
            assert "voted for candidate 1" in (await _vote(emu, tally, 1, ALICE))["content"]
            await _vote(emu, tally, 1, BOB)
            assert "已经投给候选 1" in (await _vote(emu, tally, 1, BOB))["content"]
            other = await _start(emu, BOB, "秋日茶席")
            await _command(emu, "add", other, BOB, text="菊花")
            await emu.wait_for(lambda: "菊花" in _brief_text(emu, other))

        await _finished_while_nobody_listened(data / "huayi.sqlite3", first=tid, second=other)

        async with bot_running(data, embeddings, emulator=emu, **options) as harness:
            assert int(tid) in harness.bot.huayi.claimed_threads
            await emu.post_message("Moonlight <@400000000000000001>", user=CAROL, channel_id=tid)
            await emu.wait_for(lambda: "Moonlight — Carol" in _brief_text(emu, tid))
            await _vote(emu, tally, 2, CAROL)
            assert "从候选 1 改投给候选 2" in (await _vote(emu, tally, 2, BOB))["content"]
            counts = emu.message(tally["id"])["content"]
            assert "Candidate 1: 1 vote(s)" in counts and "Candidate 2: 2 vote(s)" in counts
            nested = await _reply(emu, await emu.slash("session", {"theme": "x"}, user=CAROL, subcommand="start", channel_id=tid))
            assert nested["flags"] & EPHEMERAL and "server text channel" in nested["content"]

            refused_finish = await _command(emu, "finish", tid, CAROL)
            assert refused_finish["flags"] & EPHEMERAL and "Only the person who started" in refused_finish["content"]
            done = await _command(emu, "finish", tid, ALICE)
            assert done["flags"] & EPHEMERAL and "finished" in done["content"]
            thread = emu.channels[tid]["thread_metadata"]
            assert thread["archived"] and thread["locked"]
            posts = emu.channel_messages(tid)
            winner = next(m for m in posts if m["content"].startswith("🏆"))
            assert "round 1, candidate 2 (2 vote(s))" in winner["content"] and "Alice, Bob, Carol" in winner["content"]
            assert [a["filename"].split(".")[0] for a in winner["attachments"]] == ["winner-round1-2"]
            gallery = next(m for m in posts if m["content"].startswith("🖼️ Gallery"))
            assert [a["filename"].split(".")[0] for a in gallery["attachments"]] == ["round1-1", "round1-2-winner"]
            assert not _custom_ids(emu.message(tally["id"])) and "Voting has closed" in emu.message(tally["id"])["content"]
            assert "finished" in _brief_text(emu, tid) and int(tid) not in harness.bot.huayi.claimed_threads
            closed = await _command(emu, "add", tid, BOB, text="tulips")
            assert closed["flags"] & EPHEMERAL and "共创" in closed["content"]
            elsewhere = await _command(emu, "add", harness.channel_id, CAROL, text="tulips")
            assert "no open session here" in elsewhere["content"]
            too_long = await _reply(emu, await emu.slash("session", {"theme": "x", "minutes": 2000}, user=CAROL, subcommand="start"))
            assert too_long["flags"] & EPHEMERAL and "between 1 and 1440 minutes" in too_long["content"]

            # The second session's round, finished while no process listened, was delivered at start-up;
            # nobody finishes the session, so it ends by itself when its time is up (a tie goes to candidate 1).
            await _tally(emu, other, 1, timeout=30)
            assert await harness.bot.get_cog("SessionCog").finish_expired(now=time.time() + 3600) == 1
            ended = [m["content"] for m in emu.channel_messages(other)]
            assert any(c.startswith("⏰ 时间到") for c in ended) and any("第 1 轮候选 1（0 票）" in c for c in ended)
            assert emu.channels[other]["thread_metadata"]["locked"]

            bot_posts = [m for p in (tid, other) for m in emu.channel_messages(p) if m["author"].get("bot") and m["type"] in (0, 19)]
            assert all(emu.sent_allowed_mentions[m["id"]][0].get("parse") == [] for m in bot_posts)
            assert not emu.unhandled
    finally:
        await emu.stop()
