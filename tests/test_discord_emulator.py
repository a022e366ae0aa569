"""End-to-end checks of tests/discord_emulator.py with the real discord.py client.

A small ``commands.Bot`` defined here (slash commands with defer + file follow-up, a button view, a modal,
autocomplete, an ``on_message`` listener) logs into the emulator exactly as it would into Discord.  The tests
prove the emulator speaks discord.py's dialect (payload shapes, content types, gateway handshake) and that
each injected fault reaches the bot the way Discord's would (429/5xx retries, gateway resume, 10062, 40060,
50027, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.discord_emulator import (
    DiscordEmulator,
    DiscordRefused,
    GatewayIntent,
    MessageFlag,
    Permission,
    discordpy_handler_ready,
)

GUILD_ID = "100000000000000001"
CHANNEL_ID = "200000000000000001"
OTHER_CHANNEL_ID = "200000000000000002"
LILY = "500000000000000001"
ROSE = "500000000000000002"
FLOWERS = ["Peony", "Pepper", "Tulip", "Rose", "Lily"]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), "pink").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


@dataclass
class Seen:
    """What the bot observed or raised, for the tests to assert on."""

    messages: list[discord.Message] = field(default_factory=list)
    errors: dict[str, BaseException] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    gate: asyncio.Event | None = None  # when set, /remind waits for it instead of sleeping `delay`


class VoteView(discord.ui.View):
    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.button(label="Like", custom_id="vote:like", style=discord.ButtonStyle.success)
    async def like(self, interaction: discord.Interaction, button: discord.ui.Button[VoteView]) -> None:
        self.seen.values["clicked_by"] = interaction.user.id
        self.seen.values["clicker_manages_guild"] = interaction.permissions.manage_guild
        await interaction.response.edit_message(content="liked", view=None)
        self.stop()


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    comment: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Comment", style=discord.TextStyle.paragraph)
    rating: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Rating", required=False, max_length=1)

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen.values["modal"] = (self.comment.value, self.rating.value)
        await interaction.response.send_message("thanks", ephemeral=True)


class SurveyModal(discord.ui.Modal, title="Survey"):
    """discord.py 2.6+ style: inputs wrapped in Labels (component type 18), including a select."""

    favourite: discord.ui.Label[SurveyModal] = discord.ui.Label(text="Favourite flower", component=discord.ui.TextInput())
    season: discord.ui.Label[SurveyModal] = discord.ui.Label(
        text="Season",
        component=discord.ui.Select(options=[discord.SelectOption(label="Spring"), discord.SelectOption(label="Autumn")]),
    )

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text, select = self.favourite.component, self.season.component
        assert isinstance(text, discord.ui.TextInput) and isinstance(select, discord.ui.Select)
        self.seen.values["survey"] = (text.value, select.values)
        await interaction.response.defer()  # just close the modal


class GardenBot(commands.Bot):
    """A miniature Huayi: enough surface to exercise every emulator path."""

    def __init__(self, seen: Seen, intents: discord.Intents) -> None:
        super().__init__(command_prefix="!", intents=intents, help_command=None, guild_ready_timeout=0.05)
        self.seen = seen
        guild = discord.Object(int(GUILD_ID))

        @self.tree.command(name="bloom", description="Render a flower", guild=guild)
        @app_commands.describe(prompt="What to draw", count="How many")
        async def bloom(interaction: discord.Interaction, prompt: str, count: app_commands.Range[int, 1, 4] = 1) -> None:
            await interaction.response.defer(thinking=True)
            sent = await interaction.followup.send(f"{count}x {prompt}", file=discord.File(io.BytesIO(PNG), "bloom.png"))
            seen.values["bloom_bytes"] = await sent.attachments[0].read()

        @self.tree.command(name="vote", description="Vote on today's arrangement", guild=guild)
        async def vote(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Vote!", view=VoteView(seen))

        @self.tree.command(name="feedback", description="Tell us what you think", guild=guild)
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal(seen))

        @self.tree.command(name="survey", description="A short survey", guild=guild)
        async def survey(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(SurveyModal(seen))

        async def flower_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f, value=f.lower()) for f in FLOWERS if current.lower() in f.lower()]

        @self.tree.command(name="flower", description="Look up a flower", guild=guild)
        @app_commands.autocomplete(name=flower_names)
        async def flower(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(name)

        @self.tree.command(name="slow", description="Answers after seen.delay seconds", guild=guild)
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(seen.delay)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as error:
                seen.errors["slow"] = error

        @self.tree.command(name="twice", description="Responds twice", guild=guild)
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("first")
            try:  # a fresh InteractionResponse bypasses discord.py's local "already responded" guard
                await discord.InteractionResponse(interaction).send_message("second")
            except discord.HTTPException as error:
                seen.errors["twice"] = error

        @self.tree.command(name="remind", description="Defers, then follows up after seen.delay or seen.gate", guild=guild)
        async def remind(interaction: discord.Interaction) -> None:
            try:
                await interaction.followup.send("too early")
            except discord.HTTPException as error:
                seen.errors["remind_early"] = error
            await interaction.response.defer()
            if seen.gate is not None:
                await seen.gate.wait()
            else:
                await asyncio.sleep(seen.delay)
            try:
                await interaction.followup.send("reminder", ephemeral=True)
            except discord.HTTPException as error:
                seen.errors["remind"] = error

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY (Discord's identify rate limit); the
        emulator has no such limit, so skip it to keep the re-identify test fast."""

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=discord.Object(int(GUILD_ID)))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.seen.messages.append(message)
        if self.user in message.mentions:
            await message.reply(f"hello {message.author.name}", mention_author=False)


@dataclass
class Garden:
    emu: DiscordEmulator
    bot: GardenBot
    seen: Seen

    def channel(self, channel_id: str = CHANNEL_ID) -> discord.TextChannel:
        channel = self.bot.get_channel(int(channel_id))
        assert isinstance(channel, discord.TextChannel)
        return channel


@contextlib.asynccontextmanager
async def running_garden(intents: discord.Intents | None = None, **emu_options: Any) -> AsyncIterator[Garden]:
    """Emulator + bot, with discord.py pointed at the emulator (and restored afterwards)."""
    if intents is None:
        intents = discord.Intents.default()
        intents.message_content = True
    emu = DiscordEmulator(**emu_options)
    emu.add_user(LILY, "lily")
    emu.add_user(ROSE, "rose", permissions=int(Permission.MANAGE_GUILD), locale="zh-CN")
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    await emu.start()
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    seen = Seen()
    bot = GardenBot(seen, intents)
    emu.client_ready = discordpy_handler_ready(bot)
    task = asyncio.create_task(bot.start(emu.token))
    try:
        await emu.wait_for(lambda: task.done() or (emu.ready_count and bot.is_ready()), 15, what="bot ready")
        if task.done():
            task.result()  # start-up failed: surface the real error
        yield Garden(emu, bot, seen)
        assert emu.unhandled == []
        assert emu.internal_errors == []
    finally:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await emu.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
async def garden() -> AsyncIterator[Garden]:
    async with running_garden() as running:
        yield running


# ------------------------------------------------------------------------------------------ start-up


async def test_startup_logs_in_syncs_commands_and_caches_the_guild(garden: Garden) -> None:
    emu, bot = garden.emu, garden.bot
    first = [(r.method, r.path) for r in emu.requests[:3]]
    assert first == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
        ("PUT", f"/applications/{emu.application_id}/guilds/{GUILD_ID}/commands"),
    ]
    assert {c["name"] for c in emu.commands[GUILD_ID]} == {"bloom", "vote", "feedback", "survey", "flower", "slow", "twice",
                                                             "remind"}
    bloom = next(c for c in emu.commands[GUILD_ID] if c["name"] == "bloom")
    assert [(o["name"], o["type"], o.get("min_value"), o.get("max_value")) for o in bloom["options"]] == [
        ("prompt", 3, None, None),
        ("count", 4, 1, 4),
    ]
    assert emu.identifies == 1 and emu.heartbeats >= 1
    assert emu.identify_payloads[0]["intents"] & GatewayIntent.MESSAGE_CONTENT
    assert bot.user is not None and str(bot.user.id) == emu.bot_user["id"]
    guild = bot.get_guild(int(GUILD_ID))
    assert guild is not None and guild.name == emu.guild_name
    # Without the members intent discord.py caches only itself; members arrive with each event instead.
    assert guild.get_member(int(LILY)) is None and guild.me is not None
    assert guild.member_count == len(emu.users) + 1
    assert garden.channel().permissions_for(guild.me).send_messages


# ------------------------------------------------------------------------------------------ interactions


async def test_slash_defer_then_followup_with_file_edits_the_original(garden: Garden) -> None:
    emu = garden.emu
    record = await emu.slash("bloom", {"prompt": "peony", "count": 2}, user=LILY)
    await emu.wait_for(lambda: "bloom_bytes" in garden.seen.values)

    assert record.response_type == 5
    original = record.original
    assert original is not None and record.followups == [original]
    assert original["content"] == "2x peony"
    assert not original["flags"] & (MessageFlag.LOADING | MessageFlag.EPHEMERAL)
    attachment = original["attachments"][0]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == ("bloom.png", "image/png", len(PNG))
    assert (attachment["width"], attachment["height"]) == (3, 2)
    upload = emu.requests_to("POST", rf"/webhooks/{emu.application_id}/{record.token}")[0]
    assert upload.query["wait"] == "1"
    assert [(name, filename, data) for name, filename, data, _ in upload.files] == [("files[0]", "bloom.png", PNG)]
    assert garden.seen.values["bloom_bytes"] == PNG  # discord.py's Attachment.read() against the emulator's CDN
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        assert await response.read() == PNG
    # The thinking message was created and then replaced, both visible to the bot over the gateway.
    kinds = [event for event, data in emu.events if data.get("id") == original["id"]]
    assert kinds == ["MESSAGE_CREATE", "MESSAGE_UPDATE"]
    # Options the Discord client would not allow are refused before reaching the bot.
    with pytest.raises(DiscordRefused):
        await emu.slash("bloom", {"prompt": "peony", "count": 9}, user=LILY)
    with pytest.raises(DiscordRefused):
        await emu.slash("bloom", {}, user=LILY)


async def test_button_click_reaches_the_view_and_updates_the_message(garden: Garden) -> None:
    emu = garden.emu
    record = await emu.slash("vote", user=LILY)
    await emu.wait_response(record)
    message = record.original
    assert message is not None and message["components"][0]["components"][0]["custom_id"] == "vote:like"

    click = await emu.click(message, "vote:like", user=ROSE)
    callback = await emu.wait_response(click)
    assert callback["type"] == 7
    assert garden.seen.values["clicked_by"] == int(ROSE)
    assert garden.seen.values["clicker_manages_guild"] is True  # member.permissions from the interaction
    assert emu.message(message["id"])["content"] == "liked"
    assert emu.message(message["id"])["components"] == []
    with pytest.raises(DiscordRefused):  # the button is gone now
        await emu.click(message, "vote:like", user=LILY)


async def test_modal_submit_values_reach_on_submit(garden: Garden) -> None:
    emu = garden.emu
    record = await emu.slash("feedback", user=LILY)
    await emu.wait_response(record)
    assert record.response_type == 9 and record.modal is not None
    assert record.modal["title"] == "Feedback"

    submit = await emu.submit_modal(record.modal["custom_id"], {"Comment": "Lovely peonies", "Rating": "5"}, user=LILY)
    await emu.wait_response(submit)
    assert garden.seen.values["modal"] == ("Lovely peonies", "5")
    assert submit.original is not None and submit.original["flags"] & MessageFlag.EPHEMERAL
    assert submit.original not in emu.channel_messages(CHANNEL_ID)
    with pytest.raises(DiscordRefused):  # a modal is only shown to the user who opened it
        await emu.submit_modal(record.modal["custom_id"], {"Comment": "hi"}, user=ROSE)
    with pytest.raises(DiscordRefused):  # required input left empty: the client blocks submission
        await emu.submit_modal(record.modal["custom_id"], {"Rating": "4"}, user=LILY)

    survey = await emu.slash("survey", user=ROSE)
    await emu.wait_response(survey)
    assert survey.payload["locale"] == "zh-CN"  # each EmuUser's client locale travels with its interactions
    assert survey.modal is not None and [c["type"] for c in survey.modal["components"]] == [18, 18]
    done = await emu.submit_modal(survey.modal["custom_id"], {"Favourite flower": "Peony", "Season": ["Autumn"]}, user=ROSE)
    assert (await emu.wait_response(done))["type"] == 6
    assert garden.seen.values["survey"] == ("Peony", ["Autumn"])


async def test_autocomplete_returns_the_bots_choices(garden: Garden) -> None:
    choices = await garden.emu.autocomplete("flower", {"name": "pe"}, "name", user=LILY)
    assert choices == [{"name": "Peony", "value": "peony"}, {"name": "Pepper", "value": "pepper"}]


async def test_followup_after_public_defer_ignores_ephemeral_and_expires(garden: Garden) -> None:
    emu, seen = garden.emu, garden.seen
    seen.gate = asyncio.Event()
    record = await emu.slash("remind", user=LILY)
    await emu.wait_for(lambda: "remind_early" in seen.errors and record.response_type == 5)
    early = seen.errors["remind_early"]
    assert isinstance(early, discord.NotFound) and early.code == 10015  # follow-up before any response
    emu.token_lifetime = 0  # the token's 15 minutes are over
    seen.gate.set()
    await emu.wait_for(lambda: "remind" in seen.errors)
    late = seen.errors["remind"]
    assert isinstance(late, discord.HTTPException) and (late.status, late.code) == (401, 50027)
    assert record.followups == []

    emu.token_lifetime = 900
    seen.gate = None
    record = await emu.slash("remind", user=LILY)
    await emu.wait_for(lambda: record.followups)
    # The first follow-up after defer() replaces the public "thinking" message: ephemeral=True is ignored.
    assert record.original is record.followups[0]
    assert record.original["content"] == "reminder" and not record.original["flags"] & MessageFlag.EPHEMERAL


# ------------------------------------------------------------------------------------------ messages


async def test_on_message_gets_member_content_and_mention_reply(garden: Garden) -> None:
    emu, seen = garden.emu, garden.seen
    await emu.post_message("peonies are blooming", user=LILY)
    await emu.wait_for(lambda: seen.messages)
    first = seen.messages[0]
    assert first.content == "peonies are blooming"
    assert isinstance(first.author, discord.Member) and first.author.id == int(LILY)

    asked = await emu.post_message(f"<@{emu.bot_user['id']}> hi", user=LILY)
    reply = await emu.wait_for(lambda: [m for m in emu.channel_messages(CHANNEL_ID) if m["type"] == 19])
    assert reply[0]["content"] == "hello lily"
    assert reply[0]["message_reference"]["message_id"] == asked["id"]
    assert reply[0]["mentions"] == []  # mention_author=False -> allowed_mentions.replied_user false
    dm = emu.dm_channel(LILY)
    await emu.post_message("psst, in private", user=LILY, channel_id=dm["id"])
    private = await emu.wait_for(lambda: [m for m in seen.messages if m.content == "psst, in private"])
    assert private[0].guild is None and isinstance(private[0].channel, discord.DMChannel)
    # discord.py turns mention_author=False into "parse everything except the replied user".
    assert emu.sent_allowed_mentions[reply[0]["id"]] == [{"parse": ["everyone", "users", "roles"], "replied_user": False}]


async def test_member_messages_arrive_empty_without_message_content_intent() -> None:
    intents = discord.Intents.default()  # no message_content
    async with running_garden(intents) as garden:
        emu, seen = garden.emu, garden.seen
        await emu.post_message("secret gardening tip", user=LILY)
        await emu.post_message(f"<@{emu.bot_user['id']}> mention", user=LILY)
        await emu.wait_for(lambda: len(seen.messages) == 2)
        assert [m.content for m in seen.messages] == ["", f"<@{emu.bot_user['id']}> mention"]


async def test_channel_rest_roundtrip(garden: Garden) -> None:
    emu, channel = garden.emu, garden.channel()
    message = await channel.send(f"Peony care <@{LILY}>", allowed_mentions=discord.AllowedMentions.none())
    stored = emu.message(str(message.id))
    assert stored["mentions"] == [] and emu.sent_allowed_mentions[stored["id"]] == [{"parse": []}]

    await message.add_reaction("🌸")
    assert stored["reactions"][0]["emoji"]["name"] == "🌸" and stored["reactions"][0]["me"]
    await message.pin()
    assert stored["pinned"] and [m.id async for m in channel.pins()] == [message.id]

    thread = await message.create_thread(name="Peony thread")
    assert thread.id == message.id  # Discord reuses the starter message id
    await emu.wait_for(lambda: garden.bot.get_channel(thread.id))
    await thread.edit(archived=True)
    await thread.send("still here")
    assert emu.threads()[0]["thread_metadata"]["archived"] is False  # sending unarchived it
    assert [m["content"] for m in emu.channel_messages(str(thread.id))] == ["still here"]

    edited = await message.edit(content="Peony care, revised")
    assert edited.edited_at is not None and stored["content"] == "Peony care, revised"
    fetched = await channel.fetch_message(message.id)
    assert fetched.content == "Peony care, revised"
    history = [m.id async for m in channel.history(limit=5)]
    assert message.id in history
    await message.delete()
    assert stored["id"] in emu.deleted_messages


async def test_discord_limits_and_permissions_are_enforced(garden: Garden) -> None:
    emu, channel = garden.emu, garden.channel()
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    emu.filesize_limit = 1024
    with pytest.raises(discord.HTTPException) as too_big:
        await channel.send(file=discord.File(io.BytesIO(b"x" * 2048), "big.bin"))
    assert (too_big.value.status, too_big.value.code) == (413, 40005)

    other = garden.channel(OTHER_CHANNEL_ID)
    await emu.set_bot_channel_permissions(OTHER_CHANNEL_ID, deny=int(Permission.SEND_MESSAGES))
    guild = other.guild
    await emu.wait_for(lambda: not other.permissions_for(guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as forbidden:
        await other.send("hello")
    assert forbidden.value.code == 50013

    assert garden.bot.application_id is not None
    bad = [{"name": "bloom", "description": "x", "type": 1, "name_localizations": {"zh": "开花"}}]
    with pytest.raises(discord.HTTPException) as bad_locale:
        await garden.bot.http.bulk_upsert_guild_commands(garden.bot.application_id, int(GUILD_ID), payload=bad)
    assert bad_locale.value.code == 50035


# ------------------------------------------------------------------------------------------ faults


async def test_429_on_channel_message_is_retried(garden: Garden) -> None:
    emu = garden.emu
    emu.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.1)
    await emu.post_message(f"<@{emu.bot_user['id']}> hi", user=LILY)
    await emu.wait_for(lambda: [m for m in emu.channel_messages(CHANNEL_ID) if m["type"] == 19])
    attempts = emu.requests_to("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.1


async def test_500_on_channel_message_is_retried(garden: Garden) -> None:
    emu = garden.emu
    emu.fail_next("POST", r"/channels/\d+/messages", 500)
    await garden.channel().send("after a hiccup")
    attempts = emu.requests_to("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert [r.status for r in attempts] == [500, 200]
    assert attempts[1].at - attempts[0].at >= 0.9  # discord.py sleeps 1 s before the first 5xx retry


async def test_dropped_gateway_resumes_and_replays_missed_events(garden: Garden) -> None:
    emu, seen = garden.emu, garden.seen
    await emu.drop_gateway(code=4000)
    await emu.post_message("sent while the bot was away", user=LILY)  # queued, replayed on RESUME
    await emu.wait_for(lambda: emu.resumes == 1 and emu.connected)
    await emu.wait_for(lambda: [m for m in seen.messages if m.content == "sent while the bot was away"])
    assert emu.identifies == 1 and emu.replayed >= 1
    record = await emu.slash("vote", user=LILY)
    assert (await emu.wait_response(record))["type"] == 4


async def test_session_timeout_close_forces_a_new_identify(garden: Garden) -> None:
    emu = garden.emu
    await emu.drop_gateway(code=4009)
    await emu.wait_for(lambda: emu.identifies == 2 and emu.connected)
    assert emu.resumes == 0
    await emu.wait_for(garden.bot.is_ready)
    record = await emu.slash("flower", {"name": "tulip"}, user=LILY)
    assert (await emu.wait_response(record))["data"]["content"] == "tulip"


async def test_late_callback_gets_unknown_interaction(garden: Garden) -> None:
    emu, seen = garden.emu, garden.seen
    emu.ack_deadline = 0.2
    seen.delay = 0.4
    record = await emu.slash("slow", user=LILY)
    await emu.wait_for(lambda: "slow" in seen.errors)
    error = seen.errors["slow"]
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert record.callbacks == [] and record.errors[0]["code"] == 10062


async def test_second_callback_is_already_acknowledged(garden: Garden) -> None:
    emu, seen = garden.emu, garden.seen
    record = await emu.slash("twice", user=LILY)
    await emu.wait_for(lambda: "twice" in seen.errors)
    error = seen.errors["twice"]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (400, 40060)
    assert len(record.callbacks) == 1 and record.original is not None and record.original["content"] == "first"
