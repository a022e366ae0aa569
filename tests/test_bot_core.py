"""The Discord layer's Discord-free parts: settings, start-up checks, limits, text, secrets."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bot.errors import RateLimitedError, user_message
from bot.exts.ask._conversation import HistoryMessage, history_turns, strip_bot_mention
from bot.exts.ask._format import answer_card, clip, thread_title
from bot.exts.draw._progress import EditThrottle, progress_line, queued_line
from bot.i18n import locale_lang, text_lang
from bot.log_redaction import SecretFilter
from bot.ratelimit import RateLimiter
from bot.replies import describe_error
from bot.runner import BotStartError, check_token
from bot.settings import load_settings
from rag.answer import Answer, Source

TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_discord_settings_parse_id_lists_and_urls():
    s = load_settings(discord_guild_ids="1, 2 3", ask_channel_ids="44", discord_api_base="http://127.0.0.1:9/api/v10/")
    assert s.discord_guild_ids == [1, 2, 3]
    assert s.ask_channel_ids == [44]
    assert s.discord_api_base == "http://127.0.0.1:9/api/v10"
    assert s.wants_message_content is True
    assert load_settings().wants_message_content is False
    assert load_settings(discord_message_content="on").wants_message_content is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"discord_guild_ids": "12,abc"},
        {"discord_api_base": "discord.com"},
        {"discord_gateway_url": "http://gateway"},
        {"bot_extensions": "ask,paint"},
        {"session_default_minutes": 100, "session_max_minutes": 50},
    ],
)
def test_bad_discord_settings_are_refused(overrides):
    with pytest.raises(ValueError):
        load_settings(**overrides)


def test_extensions_setting_picks_features():
    assert load_settings().extensions[0] == "bot.exts.ask"
    assert load_settings(bot_extensions="draw, ask").extensions == ["bot.exts.draw", "bot.exts.ask"]


@pytest.mark.parametrize("token", [None, "", "abc", "has space.in.it-but-is-long-enough-to-pass"])
def test_bad_tokens_are_one_sentence(token):
    with pytest.raises(BotStartError) as info:
        check_token(token)
    assert "DISCORD_TOKEN" in str(info.value)


def test_token_accepts_bot_prefix():
    assert check_token(f"Bot {TOKEN}") == TOKEN


@pytest.mark.parametrize("command", [["-m", "bot"], ["-m", "bot.cli", "run"]])
def test_run_without_token_exits_with_one_line(command, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HUAYI_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "DISCORD_TOKEN is not set" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_rate_limiter_refuses_without_counting_and_names_scope():
    limiter = RateLimiter(user_per_minute=2, draw_per_hour=1, guild_per_minute=3)
    limiter.check("ask", 1, 9)
    limiter.check("draw", 1, 9)
    with pytest.raises(RateLimitedError) as user:
        limiter.check("ask", 1, 9)
    assert user.value.params["reason"] == "user" and user.value.params["seconds"] >= 1
    with pytest.raises(RateLimitedError) as draw:
        limiter.check("draw", 2, 9)
        limiter.check("draw", 2, 9)
    assert draw.value.params["reason"] == "draw"
    with pytest.raises(RateLimitedError) as guild:
        limiter.check("ask", 3, 9)
    assert guild.value.params["reason"] == "guild"
    limiter.check("ask", 3, None)  # DMs count only against the member


def test_rate_limit_message_is_localised():
    error = RateLimitedError("user", 4.2)
    assert "5" in user_message(error, "en") and "秒" in user_message(error, "zh")
    assert "小时" in user_message(RateLimitedError("draw", 600), "zh")


class _Response:
    def __init__(self, status: int) -> None:
        self.status, self.reason = status, "x"


@pytest.mark.parametrize(
    ("status", "expected", "level"),
    [
        (503, "Discord didn't respond just now. Please try again shortly.", logging.WARNING),
        (429, "Discord didn't respond just now. Please try again shortly.", logging.WARNING),
        (404, "I can't find that any more; it may have been deleted.", logging.WARNING),
        (400, "Sorry, something unexpected went wrong. It has been logged; please try again later.", logging.ERROR),
    ],
)
def test_discord_errors_are_told_apart(status, expected, level, caplog):
    """Discord being down is not the bot's fault; a 400 is (logged with its traceback); a 404 means gone (logged)."""
    import discord

    kinds = {503: discord.DiscordServerError, 404: discord.NotFound}
    error = kinds.get(status, discord.HTTPException)(_Response(status), {"message": "m", "code": 0})
    with caplog.at_level(logging.WARNING, logger="bot.replies"):
        assert describe_error(error, "en", "/draw by 1") == expected
    assert [r.levelno for r in caplog.records] == [level] and "/draw by 1" in caplog.records[0].getMessage()
    assert (caplog.records[0].exc_info is not None) == (level == logging.ERROR)


def test_language_choice():
    assert locale_lang("zh-CN") == "zh" and locale_lang("zh-TW") == "zh" and locale_lang("en-GB") == "en"
    assert text_lang("牡丹怎么养") == "zh" and text_lang("how long do peonies last") == "en"
    assert text_lang("  ", "zh") == "zh"


def test_secret_filter_redacts_message_args_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token is %s", (TOKEN,), None)
    try:
        raise RuntimeError(f"bad {TOKEN}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    SecretFilter([TOKEN, None, ""]).filter(record)
    assert TOKEN not in record.getMessage() and "[redacted]" in record.getMessage()
    assert TOKEN not in (record.exc_text or "")


def test_answer_card_numbers_sources_and_fits_limits():
    answer = Answer(
        "x" * 5000,
        "en",
        False,
        [Source("Peony", "en/peony.md", "en", 0.9, heading="Care"), Source("Rose", "en/rose.md", "en", 0.5)],
    )
    card = answer_card("How long do peonies last? " * 20, answer, "en")
    assert len(card.title) <= 256 and len(card.description) <= 4096 and card.description.endswith("…")
    assert card.sources.splitlines() == ["**[1]** Peony — Care", "**[2]** Rose"]
    abstained = answer_card("?", Answer("no", "zh", True), "zh")
    assert abstained.abstained and "没有" in abstained.sources


def test_clip_and_thread_title():
    assert clip("short", 10) == "short"
    assert len(clip("word " * 100, 50)) <= 50
    assert len(thread_title("牡丹" * 100, "zh")) <= 100


def test_conversation_history_strips_mentions_and_keeps_recent_turns():
    messages = [HistoryMessage(False, f"<@42> question {n}") for n in range(3)] + [HistoryMessage(True, "answer")]
    turns = history_turns(messages + [HistoryMessage(False, "<@!42>")], 42, limit=3)
    assert [t.role for t in turns] == ["user", "user", "assistant"]
    assert turns[0].text == "question 1"
    assert strip_bot_mention("<@42> 牡丹 <@!42>", 42) == "牡丹"


def test_edit_throttle_allows_one_edit_per_interval():
    now = [0.0]
    throttle = EditThrottle(2.0, clock=lambda: now[0])
    assert throttle.due()
    now[0] = 1.9
    assert not throttle.due()
    now[0] = 2.0
    assert throttle.due()


def test_progress_lines():
    assert "12/30" in progress_line(12, 30, 7.2, "en") and "8 s" in progress_line(12, 30, 7.2, "en")
    assert "约剩" not in progress_line(1, 30, None, "zh")
    assert "position 3" in queued_line(3, "en") and "next" in queued_line(1, "en")


async def test_turns_are_taken_per_member_first_come_first_served(tmp_path):
    """A member's second drawing is planned after other members' first ones (bot.drawing.plan_draw)."""
    import asyncio

    from bot.runtime import HuayiRuntime

    runtime = HuayiRuntime(load_settings(data_dir=tmp_path))
    started: list[str] = []
    gates = {tag: asyncio.Event() for tag in ("a1", "a2", "b1")}

    async def plan(member: str, tag: str) -> None:
        async with runtime.turn("plan", member):
            started.append(tag)
            await gates[tag].wait()

    tasks = [asyncio.ensure_future(plan(member, tag)) for member, tag in (("a", "a1"), ("a", "a2"), ("b", "b1"))]
    await asyncio.sleep(0.05)
    assert started == ["a1", "b1"]  # a2 waits for a1; b1 is not held up by member a
    gates["a1"].set()
    await asyncio.sleep(0.05)
    assert started == ["a1", "b1", "a2"]
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    async with runtime.turn("plan", None):  # no member, no turn to take
        pass


async def test_features_unloaded_by_a_stop_do_not_drain_again(tmp_path):
    """HuayiBot.close drains once with one deadline; each feature unloading after it must not add its own wait."""
    from bot.exts._feature import FeatureCog
    from bot.runtime import HuayiRuntime

    runtime = HuayiRuntime(load_settings(data_dir=tmp_path))
    drains: list[float] = []

    async def drain(timeout: float) -> None:
        drains.append(timeout)

    runtime.drain = drain  # type: ignore[method-assign]
    for feature in ("feature", "other", "third"):
        runtime.acquire(feature)
    cog = FeatureCog(object(), runtime)  # type: ignore[arg-type]
    await cog.cog_unload()  # an extension unloaded on its own waits for replies in flight
    assert drains == [cog.in_flight_grace_s]
    runtime.acquire("feature")
    runtime.closing = True  # what HuayiRuntime.aclose sets at the start of a stop
    await cog.cog_unload()
    assert drains == [cog.in_flight_grace_s]
