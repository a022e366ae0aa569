"""A loopback emulator of Discord's REST API (v10) and gateway, for testing discord.py bots end to end.

Why this exists
---------------
Mocking ``discord.Interaction`` or ``Messageable.send`` tests what we *think* discord.py does.  This module
instead runs a tiny Discord on ``127.0.0.1`` (aiohttp server, random port) that the **real, unmodified**
discord.py client logs into, connects its gateway websocket to, syncs its application commands with and
answers interactions through.  So a test exercises the whole stack: discord.py's HTTP layer (JSON and
multipart bodies, 429/5xx retries), its gateway state machine (HELLO / IDENTIFY / READY / RESUME, zlib
stream decompression), its command tree, views and modals, and our bot code on top.

It emulates the parts of Discord's behaviour that bots trip over in production, and enforces them the
way Discord does (same status codes, JSON error ``code`` values and payload shapes), for example:

* interaction callbacks must arrive within ``ack_deadline`` seconds (404 / 10062 ``Unknown interaction``),
  only once (400 / 40060 ``Interaction has already been acknowledged.``), interaction webhooks expire after
  ``token_lifetime`` (401 / 50027) and do not exist before the interaction was acknowledged (404 / 10015);
* after ``defer(thinking=True)`` the *first* follow-up replaces the "thinking" message and inherits the
  defer's ephemeral flag (a ``followup.send(ephemeral=True)`` after a public defer is public!);
* message limits (2000 characters, 10 embeds, 6000 embed characters, component and modal limits, file size)
  answer 400 / 50035 ``Invalid Form Body`` (or 413 / 40005), empty messages 400 / 50006;
* mentions are resolved from the content and filtered by ``allowed_mentions``;
* gateway events are filtered by the IDENTIFY intents, and without the MESSAGE_CONTENT intent member
  messages arrive with empty ``content`` (unless they mention the bot), exactly like Discord;
* a thread started from a message gets the message's id; sending into an archived thread unarchives it;
* the bot's own REST calls are checked against its channel permissions (403 / 50013), while interaction
  responses (webhooks) are not.

What the user side cannot do in Discord's client (clicking a button that is not on the message, choosing a
value outside a command's choices, submitting a modal that was never shown, ...) raises
:class:`DiscordRefused`, so a test cannot accidentally drive the bot with impossible input.

Usage::

    async with DiscordEmulator() as emu:
        emu.add_user("500000000000000001", "lily")
        discord.http.Route.BASE = emu.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
        task = asyncio.create_task(bot.start(emu.token))
        await emu.wait_ready()
        await bot.wait_until_ready()
        record = await emu.slash("ask", {"question": "peony vase life?"}, user="500000000000000001")
        await emu.wait_for(lambda: record.original and not record.original["flags"] & MessageFlag.LOADING)

Layout of this file: constants and enums, small helpers, records (dataclasses), then the
:class:`DiscordEmulator` in sections: state builders, HTTP plumbing, REST handlers, the message engine,
interactions and webhooks, the gateway, the driving API used by tests, and faults.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as _dt
import enum
import io
import json
import mimetypes
import re
import secrets
import socket
import time
import traceback
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import WSMsgType, web

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "EVERYONE_PERMISSIONS",
    "DiscordEmulator",
    "DiscordRefused",
    "EmuUser",
    "GatewayIntent",
    "InteractionRecord",
    "MessageFlag",
    "Permission",
    "RecordedRequest",
]

JSON: TypeAlias = dict[str, Any]

# --------------------------------------------------------------------------------------------------------
# Constants and enums
# --------------------------------------------------------------------------------------------------------

API_VERSION = 10
DISCORD_EPOCH_MS = 1420070400000
DEFAULT_GUILD_ID = "100000000000000001"
DEFAULT_CHANNEL_IDS = ("200000000000000001", "200000000000000002")
BOT_USER_ID = "300000000000000001"
OWNER_USER_ID = "400000000000000001"

#: Discord's documented locales: anything else in ``name_localizations`` is rejected (note: no bare "zh").
VALID_LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el bg ru uk hi th "
    "zh-CN ja zh-TW ko".split()
)


class Permission(enum.IntFlag):
    """Discord permission bits (the subset bots care about), so tests can write ``Permission.MANAGE_GUILD``."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    PIN_MESSAGES = 1 << 51


ALL_PERMISSIONS = (1 << 52) - 1
#: What @everyone may do in the emulated guild (roughly Discord's default for a new server).
EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)
#: The bot's managed role: @everyone plus message/thread moderation.
DEFAULT_BOT_PERMISSIONS = EVERYONE_PERMISSIONS | int(
    Permission.MANAGE_MESSAGES | Permission.MANAGE_THREADS | Permission.PIN_MESSAGES | Permission.CREATE_PRIVATE_THREADS
)


class GatewayIntent(enum.IntFlag):
    """Gateway intent bits; the emulator filters dispatches by the intents the client IDENTIFYs with."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = int(GatewayIntent.GUILD_MEMBERS | GatewayIntent.GUILD_PRESENCES | GatewayIntent.MESSAGE_CONTENT)


class MessageFlag(enum.IntFlag):
    """Message flag bits the emulator sets or interprets."""

    SUPPRESS_EMBEDS = 1 << 2
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


# Interaction types and interaction callback (response) types.
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9
_ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    INTERACTION_APPLICATION_COMMAND: frozenset({4, 5, 9}),
    INTERACTION_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    INTERACTION_AUTOCOMPLETE: frozenset({8}),
    INTERACTION_MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

# Application command option types.
OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP = 1, 2
OPT_STRING, OPT_INTEGER, OPT_BOOLEAN, OPT_USER, OPT_CHANNEL, OPT_ROLE, OPT_MENTIONABLE, OPT_NUMBER, OPT_ATTACHMENT = (
    3, 4, 5, 6, 7, 8, 9, 10, 11,
)

# Channel types.
CHANNEL_TEXT, CHANNEL_DM, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD = 0, 1, 11, 12
THREAD_TYPES = frozenset({10, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD})

# Which intent a dispatch needs: guild events by name, DM events (no guild_id) by name; others always sent.
_GUILD_EVENT_INTENTS: dict[str, int] = {
    **dict.fromkeys(
        ["GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE",
         "CHANNEL_PINS_UPDATE", "THREAD_CREATE", "THREAD_UPDATE", "THREAD_DELETE", "THREAD_MEMBERS_UPDATE"],
        int(GatewayIntent.GUILDS),
    ),
    **dict.fromkeys(["GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"], int(GatewayIntent.GUILD_MEMBERS)),
    **dict.fromkeys(
        ["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"], int(GatewayIntent.GUILD_MESSAGES)
    ),
    **dict.fromkeys(
        ["MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL"],
        int(GatewayIntent.GUILD_MESSAGE_REACTIONS),
    ),
    "TYPING_START": int(GatewayIntent.GUILD_MESSAGE_TYPING),
}
_DM_EVENT_INTENTS: dict[str, int] = {
    **dict.fromkeys(["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "CHANNEL_PINS_UPDATE"],
                    int(GatewayIntent.DIRECT_MESSAGES)),
    **dict.fromkeys(["MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"], int(GatewayIntent.DIRECT_MESSAGE_REACTIONS)),
    "TYPING_START": int(GatewayIntent.DIRECT_MESSAGE_TYPING),
}

#: Close codes after which Discord will not let the session RESUME (the client must IDENTIFY again).
_SESSION_ENDING_CLOSE_CODES = frozenset({4007, 4009})

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)")
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

# --------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------


def _now_iso() -> str:
    """Discord-style ISO 8601 timestamp (UTC, microseconds, explicit offset)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response whose Content-Type is *exactly* ``application/json``.

    discord.py only parses bodies whose Content-Type equals ``application/json``; aiohttp's
    ``web.json_response`` appends ``; charset=utf-8`` and discord.py would then hand our code a ``str``.
    """
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(status=status, body=json.dumps(data).encode(), headers=all_headers)


def _no_content() -> web.Response:
    return web.Response(status=204)


def _str_ids(values: Any) -> list[str]:
    """discord.py sends some snowflakes as ints (allowed_mentions users/roles); Discord accepts both."""
    return [str(v) for v in (values or [])]


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an uploaded image (Discord fills these in for image attachments)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:  # not an image, or Pillow missing: Discord simply omits the size
        return None


def _guess_content_type(filename: str, sent: str | None) -> str:
    """discord.py uploads every file as application/octet-stream; Discord sniffs the real type."""
    if sent and sent != "application/octet-stream":
        return sent
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _walk_components(components: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """All components of a message or modal, depth first (action rows, containers, sections, labels)."""
    found: list[Mapping[str, Any]] = []
    for component in components or []:
        found.append(component)
        found.extend(_walk_components(component.get("components") or []))
        for key in ("accessory", "component"):
            if isinstance(component.get(key), Mapping):
                found.extend(_walk_components([component[key]]))
    return found


def _embed_text_length(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts towards the 6000-per-message embed limit."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


class DiscordRefused(AssertionError):
    """The Discord client would not have let the emulated user do this (a test-input bug, not a bot bug)."""


class _ApiError(Exception):
    """Raised inside REST handlers; becomes Discord's JSON error body ``{"code", "message", "errors"?}``."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def response(self) -> web.Response:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return _json_response(body, status=self.status)


class _FormErrors:
    """Collects ``Invalid Form Body`` problems keyed by dotted paths, like Discord's nested ``errors``."""

    def __init__(self) -> None:
        self.errors: JSON = {}

    def add(self, path: str, code: str, message: str) -> None:
        node = self.errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def check_length(self, path: str, value: Any, maximum: int, minimum: int = 0) -> None:
        if value is None:
            return
        if len(str(value)) > maximum:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
        elif len(str(value)) < minimum:
            self.add(path, "BASE_TYPE_MIN_LENGTH", f"Must be {minimum} or more in length.")

    def raise_if_any(self) -> None:
        if self.errors:
            raise _ApiError(400, 50035, "Invalid Form Body", self.errors)


def _unknown(kind: str, code: int) -> _ApiError:
    return _ApiError(404, code, f"Unknown {kind}")


def _missing_permissions() -> _ApiError:
    return _ApiError(403, 50013, "Missing Permissions")


# --------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------


@dataclass
class EmuUser:
    """A guild member the tests act as.

    ``permissions`` are guild-level permission bits granted on top of @everyone (through a personal role,
    so discord.py's own permission maths agrees with ``member.permissions`` in interactions).
    """

    id: str
    username: str
    permissions: int = 0
    locale: str = "en-US"
    bot: bool = False


@dataclass
class RecordedRequest:
    """One REST request the client made (including ones answered with an injected fault)."""

    method: str
    path: str  # after /api/v10, decoded
    query: dict[str, str]
    json: Any  # the JSON body, or the parsed ``payload_json`` of a multipart body
    files: list[tuple[str, str, bytes, str]]  # (form field name, filename, bytes, content type)
    status: int = 0
    at: float = 0.0  # time.monotonic() when it arrived
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class InteractionRecord:
    """An interaction the emulator dispatched and everything the bot answered to it."""

    id: str
    token: str
    type: int
    user_id: str
    payload: JSON
    dispatched_at: float
    callbacks: list[JSON] = field(default_factory=list)  # {"type", "data", "at"}
    original: JSON | None = None  # the original response message (or the component's message for type 6/7)
    followups: list[JSON] = field(default_factory=list)  # messages returned by follow-up POSTs
    acknowledged_at: float | None = None
    choices: list[JSON] | None = None  # autocomplete result (callback type 8)
    modal: JSON | None = None  # modal definition (callback type 9)
    errors: list[JSON] = field(default_factory=list)  # error bodies the emulator answered for this interaction

    @property
    def response_type(self) -> int | None:
        """The callback type the bot answered with (4 message, 5 defer, 6/7 update, 8 autocomplete, 9 modal)."""
        return self.callbacks[0]["type"] if self.callbacks else None


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    is_global: bool
    code: int
    message: str | None


@dataclass(eq=False)  # identity semantics: kept in sets
class _GatewayConn:
    """One websocket connection (a session may be resumed over several of them)."""

    ws: web.WebSocketResponse
    compressor: Any  # zlib compress object when the client asked for compress=zlib-stream
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: _GatewaySession | None = None


@dataclass(eq=False)  # identity semantics: kept in sets
class _GatewaySession:
    session_id: str
    intents: int
    seq: int = 0
    log: list[tuple[int, str, JSON]] = field(default_factory=list)  # for replay on RESUME
    conn: _GatewayConn | None = None
    resumable: bool = True


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Awaitable[web.StreamResponse]]
    auth: bool = True


@dataclass
class _Call:
    """A parsed REST request as handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, str, bytes, str]]
    record: RecordedRequest


# --------------------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------------------


def discordpy_handler_ready(client: Any) -> Callable[[str | None, str], bool]:
    """``DiscordEmulator.client_ready`` for a discord.py client: is a view, modal or dynamic item listening?

    Reads discord.py's view store (private, hence kept here in one place) so tests wait on the client's real state.
    """

    def ready(message_id: str | None, custom_id: str) -> bool:
        store = client._connection._view_store
        if message_id is None:
            if custom_id in store._modals:
                return True
        else:
            for key in (int(message_id), None):
                if any(item_key[1] == custom_id for item_key in store._views.get(key, {})):
                    return True
        return any(pattern.fullmatch(custom_id) for pattern in store._dynamic_items)

    return ready


class DiscordEmulator:
    """Discord for one guild, one bot and a few members, on a loopback port.  See the module docstring."""

    # ---------------------------------------------------------------- construction and lifecycle

    def __init__(
        self,
        *,
        token: str = "test-token",
        guild_id: str = DEFAULT_GUILD_ID,
        channel_ids: Sequence[str] = DEFAULT_CHANNEL_IDS,
        ack_deadline: float = 3.0,
        token_lifetime: float = 900.0,
        filesize_limit: int = 10 * 1024 * 1024,
        channel_names: Sequence[str] | None = None,
        guild_name: str = "Huayi Test Garden",
        guild_locale: str = "en-US",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        gateway_compression: bool = True,
    ) -> None:
        self.token = token
        self.guild_id = guild_id
        self.ack_deadline = ack_deadline  # seconds from INTERACTION_CREATE to the callback
        # The clock of interaction deadlines (dispatch, acknowledgement, token expiry). Tests of deadlines
        # replace it with a virtual one, so a slow machine cannot move their outcome.
        self.clock: Callable[[], float] = time.monotonic
        self.token_lifetime = token_lifetime  # seconds an interaction token works for webhooks
        self.filesize_limit = filesize_limit
        self.guild_name = guild_name
        self.guild_locale = guild_locale
        self.bot_permissions = bot_permissions
        # Privileged intents "enabled in the developer portal"; IDENTIFY asking for others is closed with 4014.
        self.allowed_privileged_intents = allowed_privileged_intents
        self.gateway_compression = gateway_compression
        self.heartbeat_interval_ms = 41250

        self._last_snowflake = 0
        self._session: _GatewaySession | None = None
        self._conns: set[_GatewayConn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.bot_user: JSON = {
            "id": BOT_USER_ID,
            "username": "Huayi",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "email": None,
        }
        self.application_id = BOT_USER_ID
        self.bot_role_id = self._snowflake()
        self.users: dict[str, EmuUser] = {}
        self._user_roles: dict[str, str] = {}  # user id -> personal role id
        self._joined_at: dict[str, str] = {}
        self.add_user(OWNER_USER_ID, "garden-owner", permissions=int(Permission.ADMINISTRATOR))

        names = list(channel_names or [])
        self.channels: dict[str, JSON] = {}
        for index, channel_id in enumerate(channel_ids):
            name = names[index] if index < len(names) else ("general" if index == 0 else f"channel-{index + 1}")
            self.channels[channel_id] = self._text_channel(channel_id, name, index)
        self.messages: dict[str, dict[str, JSON]] = {cid: {} for cid in self.channels}
        self.deleted_messages: dict[str, JSON] = {}
        self.thread_members: dict[str, set[str]] = {}
        self.pins: dict[str, list[tuple[str, str]]] = {}  # channel id -> [(message id, pinned_at)]
        self.sent_allowed_mentions: dict[str, list[Any]] = {}  # message id -> allowed_mentions of create + edits
        self.attachments: dict[str, tuple[str, bytes, str]] = {}  # attachment id -> (filename, bytes, type)
        self._message_channel: dict[str, str] = {}  # message id -> channel id
        self._reactions: dict[str, dict[str, list[str]]] = {}  # message id -> emoji -> user ids

        self.commands: dict[str | None, list[JSON]] = {}
        self.command_puts = 0
        self.interactions: dict[str, InteractionRecord] = {}
        # The test's view of whether the client has registered a handler for (message id, custom id).  A client
        # registers a view only after the callback's HTTP response reaches it, which a person never beats but a
        # test can; see ``discordpy_handler_ready``.
        self.client_ready: Callable[[str | None, str], bool] | None = None
        self.modals: list[JSON] = []  # {"interaction_id", "user_id", "custom_id", "title", "components", "message"}
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []
        self.internal_errors: list[str] = []  # tracebacks of emulator bugs (tests should assert this is empty)
        self.events: list[tuple[str, JSON]] = []  # every dispatch actually queued for the client
        self.identify_payloads: list[JSON] = []
        self.presence_updates: list[JSON] = []
        self.identifies = 0
        self.resumes = 0
        self.replayed = 0  # dispatches re-sent after a RESUME because the client had missed them
        self.heartbeats = 0
        self.ready_count = 0
        self._faults: list[_Fault] = []

        self._runner: web.AppRunner | None = None
        self._port = 0
        self._routes = self._build_routes()

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port (``api_base`` / ``gateway_url`` are valid afterwards)."""
        app = web.Application(client_max_size=max(2 * self.filesize_limit, 1 << 20) + (1 << 20))
        app.router.add_route("GET", "/gateway", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._http_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close every gateway connection (1001 Going Away) and the server; waits for emulator tasks."""
        for conn in list(self._conns):
            await conn.ws.close(code=1001, message=b"emulator stopping")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        """Set ``discord.http.Route.BASE`` to this."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """Set ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(...)`` to this."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    # ---------------------------------------------------------------- state builders

    def _snowflake(self) -> str:
        """A real-format snowflake (timestamp << 22), strictly increasing, as a string."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_snowflake = max(self._last_snowflake + 1, candidate)
        return str(self._last_snowflake)

    def add_user(
        self, user_id: str, username: str, *, permissions: int = 0, locale: str = "en-US", bot: bool = False
    ) -> EmuUser:
        """Add a guild member.  After the bot connected this also dispatches GUILD_ROLE_CREATE/GUILD_MEMBER_ADD."""
        user = EmuUser(id=str(user_id), username=username, permissions=int(permissions), locale=locale, bot=bot)
        self.users[user.id] = user
        self._joined_at[user.id] = _now_iso()
        if permissions:
            self._user_roles[user.id] = self._snowflake()
        if self._session is not None:
            self._spawn(self._announce_member(user))
        return user

    async def _announce_member(self, user: EmuUser) -> None:
        if user.id in self._user_roles:
            await self._dispatch("GUILD_ROLE_CREATE", {"guild_id": self.guild_id, "role": self._user_role(user)})
        await self._dispatch("GUILD_MEMBER_ADD", {**self._member_payload(user.id), "guild_id": self.guild_id})

    def _user_payload(self, user_id: str) -> JSON:
        if user_id == BOT_USER_ID:
            return {k: self.bot_user[k] for k in ("id", "username", "discriminator", "global_name", "avatar", "bot",
                                                  "public_flags")}
        user = self._user(user_id)
        return {
            "id": user.id,
            "username": user.username,
            "discriminator": "0",
            "global_name": user.username.title(),
            "avatar": None,
            "bot": user.bot,
            "public_flags": 0,
        }

    def _user(self, user_id: str | EmuUser) -> EmuUser:
        key = user_id.id if isinstance(user_id, EmuUser) else str(user_id)
        try:
            return self.users[key]
        except KeyError:
            raise ValueError(f"unknown emulated user {key!r}; call emu.add_user() first") from None

    def _member_payload(self, user_id: str, *, with_user: bool = True) -> JSON:
        """A guild member object; ``with_user=False`` is the shape embedded in MESSAGE_CREATE."""
        if user_id == BOT_USER_ID:
            roles = [self.bot_role_id]
        else:
            roles = [self._user_roles[user_id]] if user_id in self._user_roles else []
        member: JSON = {
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": roles,
            "joined_at": self._joined_at.get(user_id, _now_iso()),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            member["user"] = self._user_payload(user_id)
        return member

    def _user_role(self, user: EmuUser) -> JSON:
        return self._role(self._user_roles[user.id], f"perms-{user.username}", user.permissions, position=1)

    def _role(self, role_id: str, name: str, permissions: int, *, position: int, managed: bool = False) -> JSON:
        role: JSON = {
            "id": role_id,
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if managed:
            role["tags"] = {"bot_id": BOT_USER_ID}
        return role

    def _roles(self) -> list[JSON]:
        roles = [
            self._role(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, position=0),
            self._role(self.bot_role_id, self.bot_user["username"], self.bot_permissions, position=2, managed=True),
        ]
        roles += [self._user_role(self.users[uid]) for uid in self._user_roles]
        return roles

    def _text_channel(self, channel_id: str, name: str, position: int) -> JSON:
        return {
            "id": channel_id,
            "type": CHANNEL_TEXT,
            "guild_id": self.guild_id,
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }

    def _guild_payload(self) -> JSON:
        """The full GUILD_CREATE body (also returned by GET /guilds/{id}, minus the gateway-only keys)."""
        members = [self._member_payload(BOT_USER_ID)] + [self._member_payload(uid) for uid in self.users]
        return {
            "id": self.guild_id,
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": OWNER_USER_ID,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.guild_locale,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "features": [],
            "roles": self._roles(),
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
            # gateway-only keys
            "joined_at": self._joined_at.get(BOT_USER_ID, _now_iso()),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": [copy.deepcopy(c) for c in self.channels.values() if c["type"] not in THREAD_TYPES
                         and c["type"] != CHANNEL_DM],
            "threads": [copy.deepcopy(c) for c in self.threads() if not c["thread_metadata"]["archived"]],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _permissions(self, user_id: str, channel_id: str | None = None) -> int:
        """Effective permissions of a member, in a channel when given (threads use their parent)."""
        if user_id == OWNER_USER_ID:
            return ALL_PERMISSIONS
        perms = EVERYONE_PERMISSIONS
        if user_id == BOT_USER_ID:
            perms |= self.bot_permissions
        elif user_id in self.users:
            perms |= self.users[user_id].permissions
        if perms & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        channel = self.channels.get(channel_id or "")
        if channel is not None and channel["type"] in THREAD_TYPES:
            channel = self.channels.get(channel.get("parent_id") or "")
        if channel is None:
            return perms
        member_roles = {self.bot_role_id} if user_id == BOT_USER_ID else {self._user_roles.get(user_id)}
        overwrites = channel.get("permission_overwrites") or []
        for wanted in ("everyone", "role", "member"):
            allow = deny = 0
            for ow in overwrites:
                is_everyone = ow["type"] == 0 and ow["id"] == self.guild_id
                matches = {
                    "everyone": is_everyone,
                    "role": ow["type"] == 0 and not is_everyone and ow["id"] in member_roles,
                    "member": ow["type"] == 1 and ow["id"] == user_id,
                }[wanted]
                if matches:
                    allow |= int(ow["allow"])
                    deny |= int(ow["deny"])
            perms = (perms & ~deny) | allow
        return perms

    def _require_bot_permission(self, channel_id: str, needed: int) -> None:
        perms = self._permissions(BOT_USER_ID, channel_id)
        if perms & needed != needed:
            raise _missing_permissions()

    async def set_bot_channel_permissions(self, channel_id: str, *, allow: int = 0, deny: int = 0) -> None:
        """Put a member overwrite for the bot on a channel (dispatches CHANNEL_UPDATE, like Discord)."""
        channel = self._channel_or_404(channel_id)
        overwrites = [ow for ow in channel["permission_overwrites"] if not (ow["type"] == 1 and ow["id"] == BOT_USER_ID)]
        overwrites.append({"id": BOT_USER_ID, "type": 1, "allow": str(int(allow)), "deny": str(int(deny))})
        channel["permission_overwrites"] = overwrites
        await self._dispatch("CHANNEL_UPDATE", copy.deepcopy(channel))

    def _channel_or_404(self, channel_id: str) -> JSON:
        try:
            return self.channels[str(channel_id)]
        except KeyError:
            raise _unknown("Channel", 10003) from None

    def dm_channel(self, user_id: str) -> JSON:
        """The DM channel between the bot and a user (created on first use)."""
        for channel in self.channels.values():
            if channel["type"] == CHANNEL_DM and channel["recipients"][0]["id"] == str(user_id):
                return channel
        channel_id = self._snowflake()
        channel = {"id": channel_id, "type": CHANNEL_DM, "last_message_id": None, "flags": 0,
                   "recipients": [self._user_payload(str(user_id))]}
        self.channels[channel_id] = channel
        self.messages[channel_id] = {}
        return channel

    # ---------------------------------------------------------------- HTTP plumbing

    def _build_routes(self) -> list[_Route]:
        """The REST surface: (method, path regex after /api/v10, handler, needs bot token)."""
        sf = r"\d+"
        c = rf"/channels/(?P<channel_id>{sf})"
        m = rf"{c}/messages/(?P<message_id>{sf})"
        apps = rf"/applications/(?P<app_id>{sf})"
        hook = rf"/webhooks/(?P<app_id>{sf})/(?P<token>[^/]+)"
        table: list[tuple[str, str, Callable[..., Awaitable[web.StreamResponse]], bool]] = [
            ("GET", r"/users/@me", self._h_get_me, True),
            ("GET", rf"/users/(?P<user_id>{sf})", self._h_get_user, True),
            ("POST", r"/users/@me/channels", self._h_create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._h_application, True),
            ("GET", r"/applications/@me", self._h_application, True),
            ("GET", r"/gateway", self._h_gateway_info, False),
            ("GET", r"/gateway/bot", self._h_gateway_info, True),
            ("GET", rf"{apps}/commands", self._h_get_commands, True),
            ("PUT", rf"{apps}/commands", self._h_put_commands, True),
            ("POST", rf"{apps}/commands", self._h_upsert_command, True),
            ("GET", rf"{apps}/guilds/(?P<guild_id>{sf})/commands", self._h_get_commands, True),
            ("PUT", rf"{apps}/guilds/(?P<guild_id>{sf})/commands", self._h_put_commands, True),
            ("POST", rf"{apps}/guilds/(?P<guild_id>{sf})/commands", self._h_upsert_command, True),
            ("DELETE", rf"{apps}/commands/(?P<command_id>{sf})", self._h_delete_command, True),
            ("DELETE", rf"{apps}/guilds/(?P<guild_id>{sf})/commands/(?P<command_id>{sf})", self._h_delete_command, True),
            ("GET", rf"{apps}/entitlements", self._h_empty_list, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})", self._h_get_guild, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})/channels", self._h_guild_channels, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})/roles", self._h_guild_roles, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})/members", self._h_guild_members, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})/members/(?P<user_id>{sf})", self._h_guild_member, True),
            ("GET", rf"/guilds/(?P<guild_id>{sf})/threads/active", self._h_active_threads, True),
            ("GET", c, self._h_get_channel, True),
            ("PATCH", c, self._h_patch_channel, True),
            ("DELETE", c, self._h_delete_channel, True),
            ("POST", rf"{c}/typing", self._h_typing, True),
            ("GET", rf"{c}/messages", self._h_list_messages, True),
            ("POST", rf"{c}/messages", self._h_create_message, True),
            ("POST", rf"{c}/messages/bulk-delete", self._h_bulk_delete, True),
            ("GET", rf"{c}/messages/pins", self._h_list_pins, True),
            ("PUT", rf"{c}/messages/pins/(?P<message_id>{sf})", self._h_pin, True),
            ("DELETE", rf"{c}/messages/pins/(?P<message_id>{sf})", self._h_unpin, True),
            ("GET", rf"{c}/pins", self._h_list_pins_legacy, True),
            ("PUT", rf"{c}/pins/(?P<message_id>{sf})", self._h_pin, True),
            ("DELETE", rf"{c}/pins/(?P<message_id>{sf})", self._h_unpin, True),
            ("GET", m, self._h_get_message, True),
            ("PATCH", m, self._h_edit_message, True),
            ("DELETE", m, self._h_delete_message, True),
            ("PUT", rf"{m}/reactions/(?P<emoji>[^/]+)/@me", self._h_add_reaction, True),
            ("DELETE", rf"{m}/reactions/(?P<emoji>[^/]+)/(?P<user_id>@me|{sf})", self._h_remove_reaction, True),
            ("DELETE", rf"{m}/reactions", self._h_clear_reactions, True),
            ("POST", rf"{m}/threads", self._h_thread_from_message, True),
            ("POST", rf"{c}/threads", self._h_thread_without_message, True),
            ("GET", rf"{c}/threads/archived/public", self._h_archived_threads, True),
            ("PUT", rf"{c}/thread-members/(?P<user_id>@me|{sf})", self._h_add_thread_member, True),
            ("DELETE", rf"{c}/thread-members/(?P<user_id>@me|{sf})", self._h_remove_thread_member, True),
            ("GET", rf"{c}/thread-members", self._h_list_thread_members, True),
            ("POST", rf"/interactions/(?P<interaction_id>{sf})/(?P<token>[^/]+)/callback", self._h_callback, False),
            ("POST", hook, self._h_webhook_execute, False),
            ("GET", rf"{hook}/messages/(?P<message_id>@original|{sf})", self._h_webhook_get, False),
            ("PATCH", rf"{hook}/messages/(?P<message_id>@original|{sf})", self._h_webhook_edit, False),
            ("DELETE", rf"{hook}/messages/(?P<message_id>@original|{sf})", self._h_webhook_delete, False),
        ]
        return [_Route(method, re.compile(pattern + r"\Z"), handler, auth) for method, pattern, handler, auth in table]

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every non-websocket request: CDN, REST routing, recording, auth and faults."""
        path = request.path
        cdn = re.fullmatch(r"/attachments/(?:\d+/)?(\d+)/[^/]+", path)
        if cdn and request.method == "GET":
            return self._serve_attachment(cdn.group(1))
        prefix = f"/api/v{API_VERSION}"
        if not path.startswith(prefix + "/"):
            self.unhandled.append(f"{request.method} {path}")
            return _json_response({"message": "404: Not Found", "code": 0}, status=404)
        api_path = path[len(prefix):]
        record = RecordedRequest(
            method=request.method,
            path=api_path,
            query=dict(request.query),
            json=None,
            files=[],
            at=time.monotonic(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        )
        self.requests.append(record)
        try:
            record.json, record.files = await self._read_body(request)
            response = self._fault_response(request.method, api_path) or await self._route(request, record)
        except _ApiError as error:
            response = error.response()
        except Exception as error:  # an emulator bug: fail the client's call fast (no 5xx retries) and record it
            self.internal_errors.append(f"{request.method} {api_path}: {traceback.format_exc()}")
            response = _json_response({"message": f"discord emulator internal error: {error!r}", "code": -1}, 400)
        record.status = response.status
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, str, bytes, str]]]:
        """JSON bodies and multipart (``payload_json`` + ``files[n]``) bodies, with Discord's size limit."""
        if request.content_type == "application/json":
            raw = await request.read()
            return (json.loads(raw) if raw else None), []
        if request.content_type != "multipart/form-data":
            return None, []
        payload: Any = None
        files: list[tuple[str, str, bytes, str]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            data = await part.read(decode=False)  # type: ignore[union-attr]
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(data.decode())
            elif part.filename is not None:  # type: ignore[union-attr]
                if len(data) > self.filesize_limit:
                    raise _ApiError(413, 40005, "Request entity too large")
                content_type = part.headers.get("Content-Type", "")
                files.append((name, part.filename, bytes(data), content_type))  # type: ignore[union-attr]
        return payload, files

    def _fault_response(self, method: str, path: str) -> web.Response | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method in (method, "*") and fault.pattern.fullmatch(path):
                fault.times -= 1
                return self._make_fault(fault)
        return None

    @staticmethod
    def _make_fault(fault: _Fault) -> web.Response:
        if fault.status == 429:
            body = {"message": fault.message or "You are being rate limited.", "retry_after": fault.retry_after,
                    "global": fault.is_global, "code": fault.code}
            headers = {"Via": "1.1 google", "Retry-After": str(max(1, round(fault.retry_after))),
                       "X-RateLimit-Scope": "global" if fault.is_global else "user"}
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _json_response(body, status=429, headers=headers)
        reason = web.Response(status=fault.status).reason
        return _json_response({"message": fault.message or f"{fault.status}: {reason}", "code": fault.code},
                              status=fault.status)

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        path_matched = False
        for route in self._routes:
            match = route.pattern.match(record.path)
            if match is None:
                continue
            path_matched = True
            if route.method != request.method:
                continue
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise _ApiError(401, 0, "401: Unauthorized")
            call = _Call(record.method, record.path, record.query, record.json, record.files, record)
            return await route.handler(call, **match.groupdict())
        self.unhandled.append(f"{request.method} {record.path}")
        if path_matched:
            raise _ApiError(405, 0, "405: Method Not Allowed")
        raise _ApiError(404, 0, "404: Not Found")

    def _serve_attachment(self, attachment_id: str) -> web.Response:
        try:
            filename, data, content_type = self.attachments[attachment_id]
        except KeyError:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, headers={"Content-Type": content_type,
                                                "Content-Disposition": f'inline; filename="{filename}"'})

    def _spawn(self, coro: Awaitable[Any]) -> None:
        """Run an emulator-side coroutine in the background, tracked so ``stop()`` can reap it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- REST: users, application, commands

    async def _h_get_me(self, call: _Call) -> web.Response:
        return _json_response(dict(self.bot_user))

    async def _h_get_user(self, call: _Call, user_id: str) -> web.Response:
        if user_id != BOT_USER_ID and user_id not in self.users:
            raise _unknown("User", 10013)
        return _json_response(self._user_payload(user_id))

    async def _h_create_dm(self, call: _Call) -> web.Response:
        recipient = str((call.json or {}).get("recipient_id"))
        if recipient not in self.users:
            raise _unknown("User", 10013)
        return _json_response(copy.deepcopy(self.dm_channel(recipient)))

    async def _h_application(self, call: _Call) -> web.Response:
        owner = self._user_payload(OWNER_USER_ID)
        return _json_response({
            "id": self.application_id, "name": self.bot_user["username"], "icon": None, "description": "",
            "bot_public": True, "bot_require_code_grant": False, "owner": owner, "team": None,
            "verify_key": "0" * 64, "flags": 0, "summary": "", "tags": [], "redirect_uris": [],
            "interactions_endpoint_url": None, "approximate_guild_count": 1, "bot": dict(self.bot_user),
        })

    async def _h_gateway_info(self, call: _Call) -> web.Response:
        body: JSON = {"url": self.gateway_url}
        if call.path.endswith("/bot"):
            body.update(shards=1, session_start_limit={"total": 1000, "remaining": 999, "reset_after": 0,
                                                       "max_concurrency": 1})
        return _json_response(body)

    def _check_app(self, app_id: str, guild_id: str | None) -> None:
        if app_id != self.application_id:
            raise _ApiError(403, 20012, "You are not authorized to perform this action on this application")
        if guild_id is not None and guild_id != self.guild_id:
            raise _ApiError(403, 50001, "Missing Access")

    async def _h_get_commands(self, call: _Call, app_id: str, guild_id: str | None = None) -> web.Response:
        self._check_app(app_id, guild_id)
        return _json_response(copy.deepcopy(self.commands.get(guild_id, [])))

    async def _h_put_commands(self, call: _Call, app_id: str, guild_id: str | None = None) -> web.Response:
        """Bulk overwrite (what ``tree.sync()`` does): validate like Discord, keep ids of unchanged names."""
        self._check_app(app_id, guild_id)
        payload = call.json or []
        errors = _FormErrors()
        seen: set[tuple[str, int]] = set()
        for index, command in enumerate(payload):
            self._validate_command(command, f"{index}", errors)
            key = (command.get("name", ""), command.get("type", 1))
            if key in seen:
                errors.add(f"{index}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                           "Application command names must be unique")
            seen.add(key)
        errors.raise_if_any()
        existing = {(c["name"], c["type"]): c["id"] for c in self.commands.get(guild_id, [])}
        self.commands[guild_id] = [self._registered(c, guild_id, existing.get((c["name"], c.get("type", 1))))
                                   for c in payload]
        self.command_puts += 1
        return _json_response(copy.deepcopy(self.commands[guild_id]))

    async def _h_upsert_command(self, call: _Call, app_id: str, guild_id: str | None = None) -> web.Response:
        self._check_app(app_id, guild_id)
        command = call.json or {}
        errors = _FormErrors()
        self._validate_command(command, "", errors)
        errors.raise_if_any()
        commands = self.commands.setdefault(guild_id, [])
        old = next((c for c in commands if c["name"] == command.get("name") and c["type"] == command.get("type", 1)), None)
        new = self._registered(command, guild_id, old["id"] if old else None)
        if old:
            commands[commands.index(old)] = new
        else:
            commands.append(new)
        return _json_response(copy.deepcopy(new), status=200 if old else 201)

    async def _h_delete_command(
        self, call: _Call, app_id: str, command_id: str, guild_id: str | None = None
    ) -> web.Response:
        self._check_app(app_id, guild_id)
        commands = self.commands.get(guild_id, [])
        kept = [c for c in commands if c["id"] != command_id]
        if len(kept) == len(commands):
            raise _unknown("application command", 10063)
        self.commands[guild_id] = kept
        return _no_content()

    def _registered(self, command: JSON, guild_id: str | None, command_id: str | None) -> JSON:
        """The command as Discord echoes it back: with id, application_id, version and defaults filled in."""
        registered = copy.deepcopy(command)
        registered.setdefault("type", 1)
        registered.setdefault("description", "")
        registered.setdefault("options", [])
        registered.setdefault("default_member_permissions", None)
        registered.setdefault("nsfw", False)
        registered.setdefault("contexts", None)
        registered.setdefault("integration_types", [0])
        registered.update(id=command_id or self._snowflake(), application_id=self.application_id,
                          version=self._snowflake())
        if guild_id is not None:
            registered["guild_id"] = guild_id
        return registered

    def _validate_command(self, command: JSON, path: str, errors: _FormErrors) -> None:
        """The checks Discord applies on registration (names, lengths, localizations, option ordering)."""
        prefix = f"{path}." if path else ""
        kind = command.get("type", 1)
        self._validate_name(command.get("name"), f"{prefix}name", errors, lowercase=kind == 1)
        if kind == 1:
            errors.check_length(f"{prefix}description", command.get("description", ""), 100, 1)
        self._validate_localizations(command, prefix, errors, lowercase=kind == 1)
        self._validate_options(command.get("options") or [], f"{prefix}options", errors)

    def _validate_name(self, name: Any, path: str, errors: _FormErrors, *, lowercase: bool) -> None:
        if not isinstance(name, str) or not (1 <= len(name) <= 32):
            errors.add(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        elif lowercase and (not _COMMAND_NAME.match(name) or name != name.lower()):
            errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")

    def _validate_localizations(self, obj: JSON, prefix: str, errors: _FormErrors, *, lowercase: bool) -> None:
        for key, limit in (("name_localizations", 32), ("description_localizations", 100)):
            for locale, text in (obj.get(key) or {}).items():
                if locale not in VALID_LOCALES:
                    errors.add(f"{prefix}{key}.{locale}", "LOCALE_INVALID", f"Invalid locale {locale!r}")
                elif key == "name_localizations":
                    self._validate_name(text, f"{prefix}{key}.{locale}", errors, lowercase=lowercase)
                else:
                    errors.check_length(f"{prefix}{key}.{locale}", text, limit, 1)

    def _validate_options(self, options: list[JSON], path: str, errors: _FormErrors) -> None:
        if len(options) > 25:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        seen_optional = False
        for index, option in enumerate(options):
            here = f"{path}.{index}"
            self._validate_name(option.get("name"), f"{here}.name", errors, lowercase=True)
            errors.check_length(f"{here}.description", option.get("description", ""), 100, 1)
            self._validate_localizations(option, f"{here}.", errors, lowercase=True)
            if option.get("type") in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP):
                self._validate_options(option.get("options") or [], f"{here}.options", errors)
                continue
            if option.get("required"):
                if seen_optional:
                    errors.add(f"{here}.required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                               "Required options must be placed before non-required options")
            else:
                seen_optional = True
            choices = option.get("choices") or []
            if len(choices) > 25:
                errors.add(f"{here}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            if choices and option.get("autocomplete"):
                errors.add(f"{here}.autocomplete", "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                           "Autocomplete cannot be enabled on options that have choices")

    async def _h_empty_list(self, call: _Call, **_: str) -> web.Response:
        return _json_response([])

    # ---------------------------------------------------------------- REST: guild

    def _check_guild(self, guild_id: str) -> None:
        if guild_id != self.guild_id:
            raise _unknown("Guild", 10004)

    async def _h_get_guild(self, call: _Call, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        gateway_only = ("joined_at", "large", "unavailable", "member_count", "members", "channels", "threads",
                        "voice_states", "presences", "stage_instances", "guild_scheduled_events", "soundboard_sounds")
        return _json_response({k: v for k, v in self._guild_payload().items() if k not in gateway_only})

    async def _h_guild_channels(self, call: _Call, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        return _json_response(self._guild_payload()["channels"])

    async def _h_guild_roles(self, call: _Call, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        return _json_response(self._roles())

    async def _h_guild_members(self, call: _Call, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        return _json_response(self._guild_payload()["members"][: int(call.query.get("limit", 1))])

    async def _h_guild_member(self, call: _Call, guild_id: str, user_id: str) -> web.Response:
        self._check_guild(guild_id)
        if user_id != BOT_USER_ID and user_id not in self.users:
            raise _unknown("Member", 10007)
        return _json_response(self._member_payload(user_id))

    async def _h_active_threads(self, call: _Call, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        active = [t for t in self.threads() if not t["thread_metadata"]["archived"]]
        return _json_response({"threads": copy.deepcopy(active), "members": self._thread_member_objects(active)})

    # ---------------------------------------------------------------- REST: channels and threads

    async def _h_get_channel(self, call: _Call, channel_id: str) -> web.Response:
        return _json_response(copy.deepcopy(self._channel_or_404(channel_id)))

    async def _h_patch_channel(self, call: _Call, channel_id: str) -> web.Response:
        """Edit a channel; for threads: name, archived, locked, auto_archive_duration (THREAD_UPDATE)."""
        channel = self._channel_or_404(channel_id)
        body = call.json or {}
        if channel["type"] not in THREAD_TYPES:
            self._require_bot_permission(channel_id, Permission.MANAGE_CHANNELS)
            for key in ("name", "topic", "nsfw", "rate_limit_per_user", "position"):
                if key in body:
                    channel[key] = body[key]
            await self._dispatch("CHANNEL_UPDATE", copy.deepcopy(channel))
            return _json_response(copy.deepcopy(channel))
        meta = channel["thread_metadata"]
        is_owner = channel["owner_id"] == BOT_USER_ID
        can_manage = bool(self._permissions(BOT_USER_ID, channel_id) & Permission.MANAGE_THREADS)
        if "locked" in body and not can_manage:
            raise _missing_permissions()
        if ({"name", "archived", "auto_archive_duration"} & body.keys()) and not (is_owner or can_manage):
            raise _missing_permissions()
        if meta.get("locked") and not can_manage:
            raise _missing_permissions()
        errors = _FormErrors()
        errors.check_length("name", body.get("name"), 100, 1)
        errors.raise_if_any()
        if "name" in body:
            channel["name"] = body["name"]
        for key in ("archived", "locked", "auto_archive_duration", "invitable"):
            if key in body:
                meta[key] = body[key]
        if "archived" in body:
            meta["archive_timestamp"] = _now_iso()
        await self._dispatch("THREAD_UPDATE", copy.deepcopy(channel))
        return _json_response(copy.deepcopy(channel))

    async def _h_delete_channel(self, call: _Call, channel_id: str) -> web.Response:
        channel = self._channel_or_404(channel_id)
        if channel["type"] in THREAD_TYPES:
            self._require_bot_permission(channel_id, Permission.MANAGE_THREADS)
            del self.channels[channel_id]
            await self._dispatch("THREAD_DELETE", {k: channel[k] for k in ("id", "guild_id", "parent_id", "type")})
        else:
            self._require_bot_permission(channel_id, Permission.MANAGE_CHANNELS)
            del self.channels[channel_id]
            await self._dispatch("CHANNEL_DELETE", copy.deepcopy(channel))
        return _json_response(copy.deepcopy(channel))

    async def _h_typing(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        return _no_content()

    def _new_thread(self, parent: JSON, thread_id: str, name: str, kind: int, body: JSON) -> JSON:
        now = _now_iso()
        thread = {
            "id": thread_id,
            "type": kind,
            "guild_id": self.guild_id,
            "parent_id": parent["id"],
            "owner_id": BOT_USER_ID,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 1440,
                "archive_timestamp": now,
                "locked": False,
                "invitable": body.get("invitable", True) if kind == CHANNEL_PRIVATE_THREAD else True,
                "create_timestamp": now,
            },
        }
        self.channels[thread_id] = thread
        self.messages[thread_id] = {}
        self.thread_members[thread_id] = {BOT_USER_ID}
        return thread

    def _thread_member_object(self, thread_id: str, user_id: str) -> JSON:
        return {"id": thread_id, "user_id": user_id, "join_timestamp": _now_iso(), "flags": 0}

    def _thread_member_objects(self, threads: list[JSON]) -> list[JSON]:
        return [self._thread_member_object(t["id"], BOT_USER_ID) for t in threads
                if BOT_USER_ID in self.thread_members.get(t["id"], set())]

    async def _announce_thread(self, thread: JSON) -> None:
        event = {**copy.deepcopy(thread), "newly_created": True,
                 "member": self._thread_member_object(thread["id"], BOT_USER_ID)}
        await self._dispatch("THREAD_CREATE", event)

    def _validate_thread_body(self, body: JSON) -> None:
        errors = _FormErrors()
        errors.check_length("name", body.get("name"), 100, 1)
        if body.get("name") is None:
            errors.add("name", "BASE_TYPE_REQUIRED", "This field is required")
        if body.get("auto_archive_duration") not in (None, 60, 1440, 4320, 10080):
            errors.add("auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")
        errors.raise_if_any()

    async def _h_thread_from_message(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        """Start a public thread on a message: the thread's id *is* the message id (a Discord quirk)."""
        parent = self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        body = call.json or {}
        self._require_bot_permission(channel_id, Permission.CREATE_PUBLIC_THREADS)
        self._validate_thread_body(body)
        if message_id in self.channels:
            raise _ApiError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(parent, message_id, body["name"], CHANNEL_PUBLIC_THREAD, body)
        message["thread"] = copy.deepcopy(thread)
        await self._announce_thread(thread)
        return _json_response(copy.deepcopy(thread), status=201)

    async def _h_thread_without_message(self, call: _Call, channel_id: str) -> web.Response:
        """Start a thread without a starter message (public ones post a type-18 system message in the parent)."""
        parent = self._channel_or_404(channel_id)
        body = call.json or {}
        kind = body.get("type", CHANNEL_PRIVATE_THREAD)
        needed = Permission.CREATE_PUBLIC_THREADS if kind == CHANNEL_PUBLIC_THREAD else Permission.CREATE_PRIVATE_THREADS
        self._require_bot_permission(channel_id, needed)
        self._validate_thread_body(body)
        thread = self._new_thread(parent, self._snowflake(), body["name"], kind, body)
        await self._announce_thread(thread)
        if kind == CHANNEL_PUBLIC_THREAD:
            notice = self._make_message(channel_id, BOT_USER_ID, {"content": thread["name"]}, [], msg_type=18)
            notice["message_reference"] = {"type": 0, "channel_id": thread["id"], "guild_id": self.guild_id}
            await self._store_and_announce(notice)
        return _json_response(copy.deepcopy(thread), status=201)

    async def _h_archived_threads(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        archived = [t for t in self.threads() if t["parent_id"] == channel_id and t["thread_metadata"]["archived"]]
        return _json_response({"threads": copy.deepcopy(archived), "members": self._thread_member_objects(archived),
                               "has_more": False})

    def _thread_or_404(self, channel_id: str) -> JSON:
        channel = self._channel_or_404(channel_id)
        if channel["type"] not in THREAD_TYPES:
            raise _ApiError(400, 50024, "Cannot execute action on this channel type")
        return channel

    async def _h_add_thread_member(self, call: _Call, channel_id: str, user_id: str) -> web.Response:
        thread = self._thread_or_404(channel_id)
        user_id = BOT_USER_ID if user_id == "@me" else user_id
        if thread["thread_metadata"]["archived"]:
            raise _ApiError(400, 50083, "Thread is archived")
        if user_id != BOT_USER_ID and user_id not in self.users:
            raise _unknown("User", 10013)
        self.thread_members.setdefault(channel_id, set()).add(user_id)
        thread["member_count"] = len(self.thread_members[channel_id])
        return _no_content()

    async def _h_remove_thread_member(self, call: _Call, channel_id: str, user_id: str) -> web.Response:
        self._thread_or_404(channel_id)
        user_id = BOT_USER_ID if user_id == "@me" else user_id
        self.thread_members.setdefault(channel_id, set()).discard(user_id)
        self.channels[channel_id]["member_count"] = len(self.thread_members[channel_id])
        return _no_content()

    async def _h_list_thread_members(self, call: _Call, channel_id: str) -> web.Response:
        self._thread_or_404(channel_id)
        return _json_response([self._thread_member_object(channel_id, uid)
                               for uid in sorted(self.thread_members.get(channel_id, set()))])

    # ---------------------------------------------------------------- REST: messages

    def _message_or_404(self, channel_id: str, message_id: str, *, allow_ephemeral: bool = False) -> JSON:
        message = self.messages.get(channel_id, {}).get(message_id)
        if message is None or (message["flags"] & MessageFlag.EPHEMERAL and not allow_ephemeral):
            raise _unknown("Message", 10008)
        return message

    def _for_rest(self, message: JSON) -> JSON:
        """A message as REST returns it (content stripped when the app lacks the MESSAGE_CONTENT intent)."""
        result = copy.deepcopy(message)
        if not self.allowed_privileged_intents & GatewayIntent.MESSAGE_CONTENT:
            self._strip_content(result)
        return result

    async def _h_list_messages(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        self._require_bot_permission(channel_id, Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(call.query.get("limit", 50))))
        visible = self.channel_messages(channel_id)
        if "before" in call.query:
            visible = [m for m in visible if int(m["id"]) < int(call.query["before"])]
        if "after" in call.query:
            visible = [m for m in visible if int(m["id"]) > int(call.query["after"])][:limit]
        if "around" in call.query:
            pivot = int(call.query["around"])
            older = [m for m in visible if int(m["id"]) <= pivot][-(limit // 2 + 1):]
            newer = [m for m in visible if int(m["id"]) > pivot][: limit - len(older)]
            visible = older + newer
        return _json_response([self._for_rest(m) for m in reversed(visible[-limit:])])

    async def _h_get_message(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        self._require_bot_permission(channel_id, Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)
        return _json_response(self._for_rest(self._message_or_404(channel_id, message_id)))

    async def _h_create_message(self, call: _Call, channel_id: str) -> web.Response:
        """The bot sends a message: permission checks, validation, attachments, mentions, MESSAGE_CREATE."""
        channel = self._channel_or_404(channel_id)
        body: JSON = call.json or {}
        is_thread = channel["type"] in THREAD_TYPES
        needed = Permission.VIEW_CHANNEL | (Permission.SEND_MESSAGES_IN_THREADS if is_thread else Permission.SEND_MESSAGES)
        if call.files:
            needed |= Permission.ATTACH_FILES
        if channel["type"] != CHANNEL_DM:
            self._require_bot_permission(channel_id, needed)
        if is_thread:
            await self._ensure_thread_open(channel)
        self._validate_message(body, call.files, creating=True)
        message = self._make_message(channel_id, BOT_USER_ID, body, call.files)
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            self._attach_reply(message, reference)
            self._refresh_mentions(message, body.get("allowed_mentions"))
        await self._store_and_announce(message, allowed_mentions=body.get("allowed_mentions"))
        return _json_response(copy.deepcopy(message))

    async def _ensure_thread_open(self, thread: JSON) -> None:
        """Sending into an archived thread unarchives it, unless it is locked and we cannot manage threads."""
        meta = thread["thread_metadata"]
        if not meta["archived"]:
            return
        if meta.get("locked") and not self._permissions(BOT_USER_ID, thread["id"]) & Permission.MANAGE_THREADS:
            raise _ApiError(400, 50083, "Thread is archived")
        meta["archived"] = False
        meta["archive_timestamp"] = _now_iso()
        await self._dispatch("THREAD_UPDATE", copy.deepcopy(thread))

    def _attach_reply(self, message: JSON, reference: JSON) -> None:
        target_channel = str(reference.get("channel_id") or message["channel_id"])
        target = self.messages.get(target_channel, {}).get(str(reference["message_id"]))
        if target is None:
            if reference.get("fail_if_not_exists", True):
                errors = _FormErrors()
                errors.add("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                errors.raise_if_any()
            return
        message["type"] = 19
        message["message_reference"] = {"type": 0, "message_id": target["id"], "channel_id": target_channel,
                                        "guild_id": self.guild_id, "fail_if_not_exists": False}
        message["referenced_message"] = copy.deepcopy(target)
        message["referenced_message"].pop("referenced_message", None)

    async def _h_edit_message(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        body: JSON = call.json or {}
        if message["author"]["id"] != BOT_USER_ID and set(body) - {"flags"}:
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        await self._apply_edit(message, body, call.files)
        return _json_response(copy.deepcopy(message))

    async def _h_delete_message(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        if message["author"]["id"] != BOT_USER_ID:
            self._require_bot_permission(channel_id, Permission.MANAGE_MESSAGES)
        await self._delete(message)
        return _no_content()

    async def _h_bulk_delete(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        self._require_bot_permission(channel_id, Permission.MANAGE_MESSAGES)
        ids = _str_ids((call.json or {}).get("messages"))
        if not 2 <= len(ids) <= 100:
            errors = _FormErrors()
            errors.add("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
            errors.raise_if_any()
        found = [self._message_or_404(channel_id, mid) for mid in ids]
        for message in found:
            self._forget(message)
        await self._dispatch("MESSAGE_DELETE_BULK", {"ids": ids, "channel_id": channel_id, "guild_id": self.guild_id})
        return _no_content()

    # pins ---------------------------------------------------------------------------------------------

    async def _h_pin(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        perms = self._permissions(BOT_USER_ID, channel_id)
        if not perms & (Permission.MANAGE_MESSAGES | Permission.PIN_MESSAGES):
            raise _missing_permissions()
        pins = self.pins.setdefault(channel_id, [])
        if any(mid == message_id for mid, _ in pins):
            return _no_content()
        if len(pins) >= 250:
            raise _ApiError(400, 30003, "Maximum number of pins reached (250)")
        pins.append((message_id, _now_iso()))
        message["pinned"] = True
        await self._dispatch("MESSAGE_UPDATE", self._gateway_message(message))
        notice = self._make_message(channel_id, BOT_USER_ID, {"content": ""}, [], msg_type=6)
        notice["message_reference"] = {"type": 0, "message_id": message_id, "channel_id": channel_id,
                                       "guild_id": self.guild_id}
        await self._store_and_announce(notice)
        await self._announce_pins(channel_id)
        return _no_content()

    async def _h_unpin(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        if not self._permissions(BOT_USER_ID, channel_id) & (Permission.MANAGE_MESSAGES | Permission.PIN_MESSAGES):
            raise _missing_permissions()
        self.pins[channel_id] = [(mid, at) for mid, at in self.pins.get(channel_id, []) if mid != message_id]
        message["pinned"] = False
        await self._dispatch("MESSAGE_UPDATE", self._gateway_message(message))
        await self._announce_pins(channel_id)
        return _no_content()

    async def _announce_pins(self, channel_id: str) -> None:
        pins = self.pins.get(channel_id, [])
        await self._dispatch("CHANNEL_PINS_UPDATE", {"guild_id": self.guild_id, "channel_id": channel_id,
                                                     "last_pin_timestamp": pins[-1][1] if pins else None})

    def _pinned(self, channel_id: str) -> list[tuple[JSON, str]]:
        found = []
        for message_id, pinned_at in reversed(self.pins.get(channel_id, [])):
            message = self.messages.get(channel_id, {}).get(message_id)
            if message is not None:
                found.append((message, pinned_at))
        return found

    async def _h_list_pins(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        items = [{"pinned_at": at, "message": self._for_rest(m)} for m, at in self._pinned(channel_id)]
        return _json_response({"items": items, "has_more": False})

    async def _h_list_pins_legacy(self, call: _Call, channel_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        return _json_response([self._for_rest(m) for m, _ in self._pinned(channel_id)])

    # reactions ----------------------------------------------------------------------------------------

    @staticmethod
    def _emoji_object(emoji: str) -> JSON:
        if ":" in emoji:
            name, emoji_id = emoji.split(":", 1)
            return {"id": emoji_id, "name": name, "animated": False}
        return {"id": None, "name": emoji}

    def _reaction_users(self, message: JSON) -> dict[str, list[str]]:
        """emoji -> user ids who reacted, for one message."""
        return self._reactions.setdefault(message["id"], {})

    def _sync_reactions(self, message: JSON) -> None:
        reactions = []
        for emoji, users in self._reaction_users(message).items():
            if users:
                reactions.append({"emoji": self._emoji_object(emoji), "count": len(users), "me": BOT_USER_ID in users,
                                  "burst_colors": [], "me_burst": False, "burst_me": False,
                                  "count_details": {"burst": 0, "normal": len(users)}})
        if reactions:
            message["reactions"] = reactions
        else:
            message.pop("reactions", None)

    async def _react(self, message: JSON, emoji: str, user_id: str) -> None:
        users = self._reaction_users(message).setdefault(emoji, [])
        if user_id in users:
            return
        users.append(user_id)
        self._sync_reactions(message)
        event: JSON = {"user_id": user_id, "channel_id": message["channel_id"], "message_id": message["id"],
                       "emoji": self._emoji_object(emoji), "message_author_id": message["author"]["id"],
                       "burst": False, "type": 0}
        if "guild_id" in message:
            event.update(guild_id=self.guild_id, member=self._member_payload(user_id))
        await self._dispatch("MESSAGE_REACTION_ADD", event)

    async def _unreact(self, message: JSON, emoji: str, user_id: str) -> None:
        users = self._reaction_users(message).get(emoji, [])
        if user_id not in users:
            return
        users.remove(user_id)
        self._sync_reactions(message)
        event: JSON = {"user_id": user_id, "channel_id": message["channel_id"], "message_id": message["id"],
                       "emoji": self._emoji_object(emoji), "burst": False, "type": 0}
        if "guild_id" in message:
            event["guild_id"] = self.guild_id
        await self._dispatch("MESSAGE_REACTION_REMOVE", event)

    async def _h_add_reaction(self, call: _Call, channel_id: str, message_id: str, emoji: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        needed = Permission.READ_MESSAGE_HISTORY
        if not self._reaction_users(message).get(emoji):
            needed |= Permission.ADD_REACTIONS  # adding a *new* emoji needs ADD_REACTIONS
        self._require_bot_permission(channel_id, needed)
        await self._react(message, emoji, BOT_USER_ID)
        return _no_content()

    async def _h_remove_reaction(
        self, call: _Call, channel_id: str, message_id: str, emoji: str, user_id: str
    ) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        user_id = BOT_USER_ID if user_id == "@me" else user_id
        if user_id != BOT_USER_ID:
            self._require_bot_permission(channel_id, Permission.MANAGE_MESSAGES)
        await self._unreact(message, emoji, user_id)
        return _no_content()

    async def _h_clear_reactions(self, call: _Call, channel_id: str, message_id: str) -> web.Response:
        self._channel_or_404(channel_id)
        message = self._message_or_404(channel_id, message_id)
        self._require_bot_permission(channel_id, Permission.MANAGE_MESSAGES)
        self._reactions.pop(message_id, None)
        message.pop("reactions", None)
        await self._dispatch("MESSAGE_REACTION_REMOVE_ALL", {"channel_id": channel_id, "message_id": message_id,
                                                             "guild_id": self.guild_id})
        return _no_content()

    # ---------------------------------------------------------------- the message engine

    def _validate_message(
        self, body: JSON, files: Sequence[tuple[str, str, bytes, str]], *, creating: bool, existing: JSON | None = None
    ) -> None:
        """Discord's limits on message bodies (create and edit), as 400 50035 / 50006 errors."""
        errors = _FormErrors()
        content = body.get("content")
        errors.check_length("content", content, 2000)
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            errors.add("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        for index, embed in enumerate(embeds):
            self._validate_embed(embed, f"embeds.{index}", errors)
        if sum(_embed_text_length(e) for e in embeds) > 6000:
            errors.add("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        flags = int(body.get("flags") or 0) | int((existing or {}).get("flags") or 0)
        components = body.get("components") or []
        if flags & MessageFlag.IS_COMPONENTS_V2:
            if content or embeds:
                errors.add("content", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                           "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2")
        else:
            self._validate_action_rows(components, errors)
        self._validate_custom_ids(components, errors)
        if len(files) > 10:
            errors.add("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        errors.raise_if_any()
        if creating and not (content or embeds or files or components or body.get("sticker_ids") or body.get("poll")):
            raise _ApiError(400, 50006, "Cannot send an empty message")

    @staticmethod
    def _validate_embed(embed: JSON, path: str, errors: _FormErrors) -> None:
        errors.check_length(f"{path}.title", embed.get("title"), 256)
        errors.check_length(f"{path}.description", embed.get("description"), 4096)
        errors.check_length(f"{path}.footer.text", (embed.get("footer") or {}).get("text"), 2048)
        errors.check_length(f"{path}.author.name", (embed.get("author") or {}).get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add(f"{path}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for index, fld in enumerate(fields):
            errors.check_length(f"{path}.fields.{index}.name", fld.get("name"), 256, 1)
            errors.check_length(f"{path}.fields.{index}.value", fld.get("value"), 1024, 1)

    @staticmethod
    def _validate_action_rows(components: list[JSON], errors: _FormErrors) -> None:
        if len(components) > 5:
            errors.add("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        for row_index, row in enumerate(components):
            path = f"components.{row_index}"
            if row.get("type") != 1:
                errors.add(f"{path}.type", "UNION_TYPE_CHOICES", "Top-level components must be action rows")
                continue
            children = row.get("components") or []
            selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
            if not children or len(children) > 5 or (selects and len(children) > 1):
                errors.add(f"{path}.components", "BASE_TYPE_BAD_LENGTH",
                           "An action row holds 1-5 buttons or exactly one select menu")
            for index, child in enumerate(children):
                here = f"{path}.components.{index}"
                if child.get("type") == 2:
                    errors.check_length(f"{here}.label", child.get("label"), 80)
                    is_link = child.get("style") in (5, 6)
                    if is_link == bool(child.get("custom_id")):
                        code = "COMPONENT_LINK_CUSTOM_ID" if is_link else "COMPONENT_CUSTOM_ID_REQUIRED"
                        errors.add(f"{here}.custom_id", code, "Link buttons have a url and no custom_id; others the reverse")
                if child.get("type") == 3:
                    options = child.get("options") or []
                    if not 1 <= len(options) <= 25:
                        errors.add(f"{here}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
                    for opt_index, option in enumerate(options):
                        errors.check_length(f"{here}.options.{opt_index}.label", option.get("label"), 100, 1)
                        errors.check_length(f"{here}.options.{opt_index}.value", option.get("value"), 100, 1)
                errors.check_length(f"{here}.placeholder", child.get("placeholder"), 150)

    @staticmethod
    def _validate_custom_ids(components: list[JSON], errors: _FormErrors) -> None:
        seen: set[str] = set()
        for component in _walk_components(components):
            custom_id = component.get("custom_id")
            if custom_id is None:
                continue
            if not 1 <= len(custom_id) <= 100:
                errors.add("components", "BASE_TYPE_BAD_LENGTH", "custom_id must be between 1 and 100 in length.")
            if custom_id in seen:
                errors.add("components", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
            seen.add(custom_id)

    def _build_attachments(
        self,
        channel_id: str,
        metadata: list[JSON] | None,
        files: Sequence[tuple[str, str, bytes, str]],
        existing: list[JSON] | None,
        *,
        ephemeral: bool = False,
    ) -> list[JSON]:
        """Resolve ``attachments`` metadata against uploaded ``files[n]`` and kept existing attachments."""
        uploads = {name: (filename, data, ctype) for name, filename, data, ctype in files}
        kept = {a["id"]: a for a in existing or []}
        result: list[JSON] = []
        used: set[str] = set()
        if metadata is None:
            metadata = [{"id": name[len("files["):-1]} for name in uploads if name.startswith("files[")]
            result.extend(existing or [])
        for entry in metadata:
            key = str(entry.get("id"))
            field_name = f"files[{key}]"
            if field_name in uploads and field_name not in used:
                used.add(field_name)
                filename, data, ctype = uploads[field_name]
                result.append(self._store_attachment(channel_id, entry.get("filename") or filename, data, ctype,
                                                     description=entry.get("description"), ephemeral=ephemeral))
            elif key in kept:
                result.append(kept[key])
            else:
                errors = _FormErrors()
                errors.add("attachments", "ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
                errors.raise_if_any()
        for name, (filename, data, ctype) in uploads.items():  # files sent without metadata are attached anyway
            if name not in used and name.startswith("files[") and not any(str(e.get("id")) == name[6:-1] for e in metadata):
                result.append(self._store_attachment(channel_id, filename, data, ctype, ephemeral=ephemeral))
        return result

    def _store_attachment(
        self,
        channel_id: str,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> JSON:
        """Keep the bytes (served at the attachment's url) and return the attachment object."""
        attachment_id = self._snowflake()
        ctype = _guess_content_type(filename, content_type)
        self.attachments[attachment_id] = (filename, bytes(data), ctype)
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{urllib.parse.quote(filename)}"
        attachment: JSON = {"id": attachment_id, "filename": filename, "size": len(data), "url": url,
                            "proxy_url": url, "content_type": ctype, "flags": 0}
        if description is not None:
            attachment["description"] = description
        if ephemeral:
            attachment["ephemeral"] = True
        size = _image_size(data) if ctype.startswith("image/") else None
        if size is not None:
            attachment["width"], attachment["height"] = size
        return attachment

    def _refresh_mentions(self, message: JSON, allowed: JSON | None) -> None:
        """Set ``mentions`` / ``mention_roles`` / ``mention_everyone`` the way Discord resolves them.

        Mentions are parsed from the content, filtered by ``allowed_mentions`` (absent = parse everything),
        and, like Discord, @everyone/@here and non-mentionable roles only count when the author has
        MENTION_EVERYONE.  A reply also pings the replied-to author unless ``replied_user`` is false.
        """
        content = message.get("content") or ""
        author_id = message["author"]["id"]
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
        allowed_users = set(_str_ids((allowed or {}).get("users")))
        allowed_roles = set(_str_ids((allowed or {}).get("roles")))
        known = {BOT_USER_ID, *self.users}
        user_ids: list[str] = []
        for user_id in _USER_MENTION.findall(content):
            if user_id in known and user_id not in user_ids and ("users" in parse or user_id in allowed_users):
                user_ids.append(user_id)
        replied = (message.get("referenced_message") or {}).get("author", {}).get("id")
        ping_reply = allowed is None or bool(allowed.get("replied_user"))
        if replied and ping_reply and replied in known and replied not in user_ids:
            user_ids.append(replied)
        may_mention_all = bool(self._permissions(author_id, message["channel_id"]) & Permission.MENTION_EVERYONE)
        roles = {r["id"]: r for r in self._roles()}
        message["mentions"] = [self._user_payload(uid) for uid in user_ids]
        message["mention_roles"] = [
            role_id for role_id in dict.fromkeys(_ROLE_MENTION.findall(content))
            if role_id in roles and ("roles" in parse or role_id in allowed_roles)
            and (roles[role_id]["mentionable"] or may_mention_all)
        ]
        message["mention_everyone"] = bool(_EVERYONE_MENTION.search(content)) and "everyone" in parse and may_mention_all

    def _make_message(
        self,
        channel_id: str,
        author_id: str,
        body: JSON,
        files: Sequence[tuple[str, str, bytes, str]],
        *,
        msg_type: int = 0,
        flags: int | None = None,
        webhook: bool = False,
    ) -> JSON:
        """A complete message object (not yet stored)."""
        channel = self.channels[channel_id]
        message_flags = int(body.get("flags") or 0) if flags is None else flags
        ephemeral = bool(message_flags & MessageFlag.EPHEMERAL)
        message: JSON = {
            "id": self._snowflake(),
            "channel_id": channel_id,
            "author": self._user_payload(author_id),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._build_attachments(channel_id, body.get("attachments"), files, None, ephemeral=ephemeral),
            "embeds": [self._normalise_embed(e) for e in body.get("embeds") or []],
            "components": self._number_components(copy.deepcopy(body.get("components") or [])),
            "pinned": False,
            "type": msg_type,
            "flags": message_flags,
        }
        if channel["type"] != CHANNEL_DM:
            message["guild_id"] = self.guild_id
        if channel["type"] in THREAD_TYPES:
            message["position"] = channel["total_message_sent"]
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("poll"):
            message["poll"] = copy.deepcopy(body["poll"])
        if webhook:
            message["webhook_id"] = self.application_id
            message["application_id"] = self.application_id
        self._refresh_mentions(message, body.get("allowed_mentions"))
        return message

    @staticmethod
    def _normalise_embed(embed: JSON) -> JSON:
        result = copy.deepcopy(embed)
        result.setdefault("type", "rich")
        result.setdefault("content_scan_version", 0)
        return result

    @staticmethod
    def _number_components(components: list[JSON]) -> list[JSON]:
        """Discord assigns every component a numeric ``id`` when the client did not."""
        next_id = 1
        for component in _walk_components(components):
            if "id" not in component:
                component["id"] = next_id  # type: ignore[index]
            next_id = max(next_id, int(component["id"])) + 1
        return components

    async def _store_and_announce(self, message: JSON, *, allowed_mentions: Any = None) -> None:
        """Store a new message and dispatch MESSAGE_CREATE (ephemeral messages are never dispatched)."""
        channel_id = message["channel_id"]
        self.messages.setdefault(channel_id, {})[message["id"]] = message
        self._message_channel[message["id"]] = channel_id
        self.sent_allowed_mentions[message["id"]] = [allowed_mentions]
        if message["flags"] & MessageFlag.EPHEMERAL:
            return
        channel = self.channels[channel_id]
        channel["last_message_id"] = message["id"]
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        await self._dispatch("MESSAGE_CREATE", self._gateway_message(message))

    def _gateway_message(self, message: JSON) -> JSON:
        """The MESSAGE_CREATE/UPDATE shape: the stored message plus the author's ``member`` in guilds."""
        event = copy.deepcopy(message)
        author_id = message["author"]["id"]
        if "guild_id" in message and "webhook_id" not in message and (author_id in self.users or author_id == BOT_USER_ID):
            event["member"] = self._member_payload(author_id, with_user=False)
        return event

    async def _apply_edit(self, message: JSON, body: JSON, files: Sequence[tuple[str, str, bytes, str]]) -> None:
        """PATCH semantics: only present keys change; ``attachments`` lists what to keep plus new uploads."""
        self._validate_message(body, files, creating=False, existing=message)
        ephemeral = bool(message["flags"] & MessageFlag.EPHEMERAL)
        if "content" in body:
            message["content"] = body["content"] or ""
        if "embeds" in body:
            message["embeds"] = [self._normalise_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = self._number_components(copy.deepcopy(body["components"] or []))
        if "attachments" in body or files:
            message["attachments"] = self._build_attachments(message["channel_id"], body.get("attachments"), files,
                                                             message["attachments"], ephemeral=ephemeral)
        if "flags" in body and body["flags"] is not None:
            wanted = int(body["flags"])
            keep = message["flags"] & ~int(MessageFlag.SUPPRESS_EMBEDS)
            message["flags"] = keep | (wanted & (MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2))
        if message["flags"] & MessageFlag.LOADING:  # the first real content replaces the "thinking" state
            message["flags"] &= ~int(MessageFlag.LOADING)
        if not (message["content"] or message["embeds"] or message["attachments"] or message["components"]
                or message.get("poll")):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        history = self.sent_allowed_mentions.setdefault(message["id"], [])
        allowed = body.get("allowed_mentions", next((a for a in reversed(history) if a is not None), None))
        history.append(body.get("allowed_mentions"))
        if "content" in body:
            self._refresh_mentions(message, allowed)
        message["edited_timestamp"] = _now_iso()
        if not ephemeral:
            await self._dispatch("MESSAGE_UPDATE", self._gateway_message(message))

    def _forget(self, message: JSON) -> None:
        self.messages.get(message["channel_id"], {}).pop(message["id"], None)
        self.deleted_messages[message["id"]] = message
        self.pins[message["channel_id"]] = [p for p in self.pins.get(message["channel_id"], []) if p[0] != message["id"]]

    async def _delete(self, message: JSON) -> None:
        self._forget(message)
        channel = self.channels.get(message["channel_id"])
        if channel is not None and channel["type"] in THREAD_TYPES:
            channel["message_count"] = max(0, channel["message_count"] - 1)
        if not message["flags"] & MessageFlag.EPHEMERAL:
            event = {"id": message["id"], "channel_id": message["channel_id"]}
            if "guild_id" in message:
                event["guild_id"] = self.guild_id
            await self._dispatch("MESSAGE_DELETE", event)

    # ---------------------------------------------------------------- interactions: callbacks

    def _interaction_error(self, record: InteractionRecord | None, error: _ApiError) -> _ApiError:
        if record is not None:
            record.errors.append({"status": error.status, "code": error.code, "message": error.message})
        return error

    async def _h_callback(self, call: _Call, interaction_id: str, token: str) -> web.Response:
        """POST /interactions/{id}/{token}/callback: the 3-second, exactly-once response."""
        record = self.interactions.get(interaction_id)
        now = self.clock()
        if record is None or record.token != token:
            raise _ApiError(404, 10062, "Unknown interaction")
        if record.callbacks:
            raise self._interaction_error(record, _ApiError(400, 40060, "Interaction has already been acknowledged."))
        if now - record.dispatched_at > self.ack_deadline:
            raise self._interaction_error(record, _ApiError(404, 10062, "Unknown interaction"))
        body: JSON = call.json or {}
        kind = body.get("type")
        data: JSON = body.get("data") or {}
        try:
            self._validate_callback(record, kind, data, call.files)
        except _ApiError as error:
            raise self._interaction_error(record, error) from None
        # Acknowledge before any await, so a concurrent second callback sees it.
        record.callbacks.append({"type": kind, "data": copy.deepcopy(data), "at": now})
        record.acknowledged_at = now
        resource = await self._perform_callback(record, kind, data, call.files)
        if call.query.get("with_response") not in ("1", "true", "True"):
            return _no_content()
        interaction: JSON = {"id": record.id, "type": record.type}
        message = record.original if kind in (4, 5, 7) else None
        if message is not None:
            interaction.update(response_message_id=message["id"],
                               response_message_loading=bool(message["flags"] & MessageFlag.LOADING),
                               response_message_ephemeral=bool(message["flags"] & MessageFlag.EPHEMERAL))
        return _json_response({"interaction": interaction, "resource": resource})

    def _validate_callback(
        self, record: InteractionRecord, kind: Any, data: JSON, files: Sequence[tuple[str, str, bytes, str]]
    ) -> None:
        """Reject response types the interaction cannot take and bodies Discord would refuse."""
        allowed = set(_ALLOWED_CALLBACKS.get(record.type, frozenset()))
        if record.type == INTERACTION_MODAL_SUBMIT and "message" not in record.payload:
            allowed -= {7}  # only modals opened from a component can update that component's message
        if kind not in allowed:
            errors = _FormErrors()
            errors.add("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Interaction response type {kind} is not valid here")
            errors.raise_if_any()
        if kind in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            source = record.payload.get("message") if kind == CALLBACK_UPDATE_MESSAGE else None
            self._validate_message(data, files, creating=kind == CALLBACK_CHANNEL_MESSAGE, existing=source)
        elif kind == CALLBACK_AUTOCOMPLETE_RESULT:
            self._validate_choices(data.get("choices") or [])
        elif kind == CALLBACK_MODAL:
            self._validate_modal(data)

    @staticmethod
    def _validate_choices(choices: list[JSON]) -> None:
        errors = _FormErrors()
        if len(choices) > 25:
            errors.add("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for index, choice in enumerate(choices):
            errors.check_length(f"data.choices.{index}.name", choice.get("name"), 100, 1)
            if isinstance(choice.get("value"), str):
                errors.check_length(f"data.choices.{index}.value", choice["value"], 100)
        errors.raise_if_any()

    @staticmethod
    def _validate_modal(data: JSON) -> None:
        errors = _FormErrors()
        errors.check_length("data.title", data.get("title"), 45, 1)
        errors.check_length("data.custom_id", data.get("custom_id"), 100, 1)
        components = data.get("components") or []
        if not 1 <= len(components) <= 5:
            errors.add("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for index, component in enumerate(_walk_components(components)):
            if component.get("type") == 4:
                errors.check_length(f"data.components.{index}.label", component.get("label"), 45)
                errors.check_length(f"data.components.{index}.placeholder", component.get("placeholder"), 100)
                errors.check_length(f"data.components.{index}.value", component.get("value"), 4000)
                if int(component.get("max_length") or 4000) > 4000:
                    errors.add(f"data.components.{index}.max_length", "NUMBER_TYPE_MAX", "int value should be <= 4000.")
            if component.get("type") == 18:
                errors.check_length(f"data.components.{index}.label", component.get("label"), 45, 1)
        errors.raise_if_any()

    async def _perform_callback(
        self, record: InteractionRecord, kind: int, data: JSON, files: Sequence[tuple[str, str, bytes, str]]
    ) -> JSON:
        """Carry out an accepted callback; returns the ``resource`` of the with_response body."""
        channel_id = record.payload["channel_id"]
        resource: JSON = {"type": kind}
        if kind == CALLBACK_CHANNEL_MESSAGE:
            message = self._interaction_message(record, channel_id, data, files, original=True)
            record.original = message
            await self._store_and_announce(message, allowed_mentions=data.get("allowed_mentions"))
            resource["message"] = copy.deepcopy(message)
        elif kind == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            flags = MessageFlag.LOADING | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            message = self._interaction_message(record, channel_id, {}, [], original=True, flags=int(flags))
            record.original = message
            await self._store_and_announce(message)
        elif kind in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            source = self._source_message(record)
            record.original = source
            if kind == CALLBACK_UPDATE_MESSAGE and source is not None:
                await self._apply_edit(source, data, files)
                resource["message"] = copy.deepcopy(source)
        elif kind == CALLBACK_AUTOCOMPLETE_RESULT:
            record.choices = copy.deepcopy(data.get("choices") or [])
        elif kind == CALLBACK_MODAL:
            record.modal = copy.deepcopy(data)
            self.modals.append({"interaction_id": record.id, "user_id": record.user_id,
                                "custom_id": data.get("custom_id"), "title": data.get("title"),
                                "components": copy.deepcopy(data.get("components") or []),
                                "message": record.payload.get("message")})
        return resource

    def _source_message(self, record: InteractionRecord) -> JSON | None:
        """The live stored message a component (or component-opened modal) interaction came from."""
        source = record.payload.get("message")
        if source is None:
            return None
        channel_id = self._message_channel.get(source["id"], source["channel_id"])
        return self.messages.get(channel_id, {}).get(source["id"])

    def _interaction_message(
        self,
        record: InteractionRecord,
        channel_id: str,
        data: JSON,
        files: Sequence[tuple[str, str, bytes, str]],
        *,
        original: bool,
        flags: int | None = None,
    ) -> JSON:
        """A message sent through the interaction (the response or a follow-up): authored by the bot's webhook."""
        msg_type = 20 if original and record.type == INTERACTION_APPLICATION_COMMAND else 0
        message = self._make_message(channel_id, BOT_USER_ID, data, files, msg_type=msg_type, flags=flags, webhook=True)
        metadata: JSON = {"id": record.id, "type": record.type, "user": self._user_payload(record.user_id),
                          "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {})}
        if not original and record.original is not None:
            metadata["original_response_message_id"] = record.original["id"]
        if record.type == INTERACTION_COMPONENT and "message" in record.payload:
            metadata["interacted_message_id"] = record.payload["message"]["id"]
        message["interaction_metadata"] = metadata
        return message

    # ---------------------------------------------------------------- interactions: webhooks (follow-ups)

    def _webhook_interaction(self, app_id: str, token: str) -> InteractionRecord:
        """The interaction behind an application webhook token, enforcing Discord's token rules."""
        record = next((r for r in self.interactions.values() if r.token == token), None)
        if app_id != self.application_id or record is None:
            raise _ApiError(404, 10015, "Unknown Webhook")
        if self.clock() - record.dispatched_at > self.token_lifetime:
            raise self._interaction_error(record, _ApiError(401, 50027, "Invalid Webhook Token"))
        if not record.callbacks:
            raise self._interaction_error(record, _ApiError(404, 10015, "Unknown Webhook"))
        return record

    def _webhook_message(self, record: InteractionRecord, message_id: str) -> JSON:
        if message_id == "@original":
            message = record.original
            if message is None or record.response_type in (CALLBACK_MODAL, CALLBACK_AUTOCOMPLETE_RESULT):
                raise self._interaction_error(record, _unknown("Message", 10008))
        else:
            ids = {m["id"] for m in record.followups} | ({record.original["id"]} if record.original else set())
            message = next((m for m in [record.original, *record.followups] if m and m["id"] == message_id), None)
            if message_id not in ids or message is None:
                raise self._interaction_error(record, _unknown("Message", 10008))
        if message["id"] in self.deleted_messages:
            raise self._interaction_error(record, _unknown("Message", 10008))
        return message

    async def _h_webhook_execute(self, call: _Call, app_id: str, token: str) -> web.Response:
        """A follow-up.  The first one after a "thinking" defer *replaces* the loading message (and keeps its
        ephemerality, whatever the follow-up's own flags say)."""
        record = self._webhook_interaction(app_id, token)
        body: JSON = call.json or {}
        channel_id = call.query.get("thread_id") or record.payload["channel_id"]
        self._channel_or_404(channel_id)
        try:
            self._validate_message(body, call.files, creating=True)
        except _ApiError as error:
            raise self._interaction_error(record, error) from None
        original = record.original
        if original is not None and original["flags"] & MessageFlag.LOADING and original["id"] not in self.deleted_messages:
            edit = {k: v for k, v in body.items() if k not in ("flags", "tts", "username", "avatar_url")}
            edit.setdefault("content", "")
            await self._apply_edit(original, edit, call.files)
            message = original
        else:
            settable = (MessageFlag.EPHEMERAL | MessageFlag.SUPPRESS_EMBEDS | MessageFlag.SUPPRESS_NOTIFICATIONS
                        | MessageFlag.IS_COMPONENTS_V2)
            flags = int(body.get("flags") or 0) & int(settable)
            message = self._interaction_message(record, channel_id, body, call.files, original=False, flags=flags)
            await self._store_and_announce(message, allowed_mentions=body.get("allowed_mentions"))
        record.followups.append(message)
        if call.query.get("wait") in ("1", "true", "True"):
            return _json_response(copy.deepcopy(message))
        return _no_content()

    async def _h_webhook_get(self, call: _Call, app_id: str, token: str, message_id: str) -> web.Response:
        record = self._webhook_interaction(app_id, token)
        return _json_response(copy.deepcopy(self._webhook_message(record, message_id)))

    async def _h_webhook_edit(self, call: _Call, app_id: str, token: str, message_id: str) -> web.Response:
        record = self._webhook_interaction(app_id, token)
        message = self._webhook_message(record, message_id)
        try:
            await self._apply_edit(message, call.json or {}, call.files)
        except _ApiError as error:
            raise self._interaction_error(record, error) from None
        return _json_response(copy.deepcopy(message))

    async def _h_webhook_delete(self, call: _Call, app_id: str, token: str, message_id: str) -> web.Response:
        record = self._webhook_interaction(app_id, token)
        message = self._webhook_message(record, message_id)
        await self._delete(message)
        return _no_content()

    # ---------------------------------------------------------------- gateway

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        """One gateway websocket: HELLO, then IDENTIFY or RESUME, heartbeats, and dispatches from ``_dispatch``."""
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self._http_handler(request)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = request.query
        compressor = None
        if self.gateway_compression and query.get("compress") == "zlib-stream":
            compressor = zlib.compressobj()
        conn = _GatewayConn(ws=ws, compressor=compressor)
        self._conns.add(conn)
        try:
            if query.get("v", str(API_VERSION)) != str(API_VERSION):
                await ws.close(code=4012, message=b"Invalid API version")
                return ws
            if query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Decode error")
                return ws
            await self._send(conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                                     "_trace": ["[\"discord-emulator\"]"]}})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    raw = msg.data
                elif msg.type is WSMsgType.BINARY:
                    raw = msg.data.decode()
                else:
                    break
                try:
                    payload = json.loads(raw)
                except ValueError:
                    await ws.close(code=4002, message=b"Decode error")
                    break
                try:
                    await self._on_gateway_payload(conn, payload)
                except Exception:  # an emulator bug: record it and drop the connection (the client resumes)
                    self.internal_errors.append(f"gateway op {payload.get('op')}: {traceback.format_exc()}")
                    await ws.close(code=4000, message=b"emulator internal error")
                    break
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    async def _on_gateway_payload(self, conn: _GatewayConn, payload: JSON) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(conn, {"op": 11})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated")
        elif op == 3:
            self.presence_updates.append(data or {})
        elif op == 4:
            pass  # voice state updates: no voice here
        elif op == 8:
            await self._member_chunk(data or {})
        else:
            self.unhandled.append(f"GATEWAY op {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    async def _identify(self, conn: _GatewayConn, data: JSON) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        if "intents" not in data:
            await conn.ws.close(code=4013, message=b"Invalid intent(s)")
            return
        intents = int(data["intents"])
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s)")
            return
        self.identifies += 1
        self.identify_payloads.append(copy.deepcopy(data))
        if self._session is not None:
            self._session.resumable = False
        session = _GatewaySession(session_id=secrets.token_hex(16), intents=intents, conn=conn)
        conn.session = session
        self._session = session
        self._joined_at.setdefault(BOT_USER_ID, _now_iso())
        ready = {
            "v": API_VERSION,
            "user": dict(self.bot_user),
            "guilds": [{"id": self.guild_id, "unavailable": True}],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "user_settings": {},
            "_trace": ["[\"discord-emulator\"]"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._dispatch("READY", ready)
        guild = self._guild_payload()
        if not intents & GatewayIntent.GUILD_PRESENCES:
            # Like Discord: without presences only our own member is inlined (member_count stays true, so a
            # client with the GUILD_MEMBERS intent requests the rest with op 8 REQUEST_GUILD_MEMBERS).
            guild["members"] = [m for m in guild["members"] if m["user"]["id"] == BOT_USER_ID]
        await self._dispatch("GUILD_CREATE", guild)
        self.ready_count += 1

    async def _resume(self, conn: _GatewayConn, data: JSON) -> None:
        session = self._session
        if (session is None or not session.resumable or data.get("session_id") != session.session_id
                or data.get("token") != self.token):
            await self._send(conn, {"op": 9, "d": False})
            return
        self.resumes += 1
        conn.session = session
        session.conn = conn
        last_seen = int(data.get("seq") or 0)
        async with conn.lock:  # replay what the client missed, then RESUMED, before any newer dispatch
            for seq, event, event_data in list(session.log):
                if seq > last_seen:
                    self.replayed += 1
                    await self._send_locked(conn, {"op": 0, "t": event, "s": seq, "d": event_data})
            session.seq += 1
            await self._send_locked(conn, {"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": []}})

    async def _member_chunk(self, data: JSON) -> None:
        members = [self._member_payload(BOT_USER_ID)] + [self._member_payload(uid) for uid in self.users]
        if data.get("user_ids"):
            wanted = set(_str_ids(data["user_ids"] if isinstance(data["user_ids"], list) else [data["user_ids"]]))
            members = [m for m in members if m["user"]["id"] in wanted]
        elif data.get("query"):
            members = [m for m in members if m["user"]["username"].startswith(data["query"])]
        if data.get("limit"):
            members = members[: int(data["limit"])]
        chunk: JSON = {"guild_id": self.guild_id, "members": members, "chunk_index": 0, "chunk_count": 1,
                       "not_found": [], "presences": []}
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _wants(self, session: _GatewaySession, event: str, data: JSON) -> bool:
        table = _GUILD_EVENT_INTENTS if "guild_id" in data else _DM_EVENT_INTENTS
        needed = table.get(event)
        return needed is None or bool(session.intents & needed)

    def _strip_content(self, message: JSON) -> None:
        """What Discord does to a member's message for an app without MESSAGE_CONTENT (unless it mentions us)."""
        if message.get("author", {}).get("id") == BOT_USER_ID or "guild_id" not in message:
            return
        if any(m.get("id") == BOT_USER_ID for m in message.get("mentions") or []):
            return
        message.update(content="", embeds=[], attachments=[], components=[])
        message.pop("poll", None)

    async def _dispatch(self, event: str, data: JSON) -> None:
        """Queue a dispatch on the current session (intent-filtered); sent now if connected, else on RESUME."""
        session = self._session
        if session is None or not session.resumable:
            return
        if not self._wants(session, event, data):
            return
        data = copy.deepcopy(data)
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & GatewayIntent.MESSAGE_CONTENT:
            self._strip_content(data)
            if isinstance(data.get("referenced_message"), dict):
                self._strip_content(data["referenced_message"])
        session.seq += 1
        seq = session.seq
        session.log.append((seq, event, data))
        self.events.append((event, data))
        conn = session.conn
        if conn is not None:
            await self._send(conn, {"op": 0, "t": event, "s": seq, "d": data})

    async def _send(self, conn: _GatewayConn, payload: JSON) -> bool:
        async with conn.lock:
            return await self._send_locked(conn, payload)

    async def _send_locked(self, conn: _GatewayConn, payload: JSON) -> bool:
        """Send one gateway payload (zlib-stream: one shared deflate stream, each ending in Z_SYNC_FLUSH)."""
        if conn.ws.closed:
            return False
        text = json.dumps(payload)
        try:
            if conn.compressor is not None:
                data = conn.compressor.compress(text.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
                await conn.ws.send_bytes(data)
            else:
                await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    # ---------------------------------------------------------------- driving API: waiting

    @property
    def connected(self) -> bool:
        """True while an identified (or resumed) websocket is attached to the live session."""
        return self._session is not None and self._session.conn is not None and not self._session.conn.ws.closed

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 20, *, what: str | None = None) -> Any:
        """Poll ``predicate`` every 20 ms until it is truthy and return its value.

        On timeout raise AssertionError with context (recent requests, unhandled routes, interaction errors)
        so a failing end-to-end test says *why* rather than just "timed out".
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(what or getattr(predicate, "__name__", "predicate"), timeout))
            await asyncio.sleep(0.02)

    def _timeout_report(self, what: str, timeout: float) -> str:
        recent = [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-8:]]
        errors = [f"  interaction {r.id}: {e}" for r in self.interactions.values() for e in r.errors]
        return "\n".join([
            f"{what} not satisfied within {timeout}s",
            f"gateway: connected={self.connected} identifies={self.identifies} resumes={self.resumes}",
            "recent requests:", *(recent or ["  (none)"]),
            "unhandled routes: " + (", ".join(self.unhandled) or "none"),
            *(["EMULATOR INTERNAL ERRORS:", *self.internal_errors] if self.internal_errors else []),
            *(["interaction errors:", *errors] if errors else []),
        ])

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until READY and GUILD_CREATE went out to an identified client (discord.py's on_ready follows
        ``guild_ready_timeout`` later; use ``bot.wait_until_ready()`` for that)."""
        await self.wait_for(lambda: self.ready_count > 0 and self.connected, timeout, what="gateway READY")

    async def wait_commands(self, timeout: float = 30) -> None:
        """Until the client bulk-overwrote its application commands (``tree.sync()``) at least once."""
        await self.wait_for(lambda: self.command_puts > 0, timeout, what="application command sync")

    async def wait_response(self, record: InteractionRecord, timeout: float = 20) -> JSON:
        """Until the bot answered the interaction; returns that callback ``{"type", "data", "at"}``."""
        return await self.wait_for(lambda: record.callbacks and record.callbacks[0], timeout,
                                   what=f"a response to interaction {record.id}")

    def channel_messages(self, channel_id: str, *, include_ephemeral: bool = False) -> list[JSON]:
        """Messages in a channel (or thread) in creation order; ephemeral ones only on request."""
        found = sorted(self.messages.get(str(channel_id), {}).values(), key=lambda m: int(m["id"]))
        return [m for m in found if include_ephemeral or not m["flags"] & MessageFlag.EPHEMERAL]

    def threads(self) -> list[JSON]:
        """All threads (active and archived) in creation order."""
        return sorted((c for c in self.channels.values() if c["type"] in THREAD_TYPES), key=lambda c: int(c["id"]))

    def message(self, message_id: str) -> JSON:
        """A stored message by id (any channel, ephemeral included)."""
        channel_id = self._message_channel.get(str(message_id))
        found = self.messages.get(channel_id or "", {}).get(str(message_id))
        if found is None:
            raise KeyError(f"no live message {message_id}")
        return found

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests whose path fully matches a regex (handy for counting retries)."""
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    # ---------------------------------------------------------------- driving API: interactions

    def _require_session(self) -> None:
        if self._session is None:
            raise RuntimeError("no identified gateway session: start the bot and await emu.wait_ready() first")

    def _interaction_payload(self, kind: int, user_id: str, channel_id: str | None, locale: str | None,
                             *, guild: bool = True) -> JSON:
        """Everything but ``data``: ids, token, member with permissions, channel, locales, app permissions."""
        user = self._user(user_id)
        payload: JSON = {
            "id": self._snowflake(),
            "application_id": self.application_id,
            "type": kind,
            "token": "emu_" + secrets.token_urlsafe(48),
            "version": 1,
            "locale": locale or user.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.filesize_limit,
        }
        if guild:
            channel_id = str(channel_id or next(iter(self.channels)))
            channel = self._channel_for_interaction(channel_id)
            payload.update(
                guild_id=self.guild_id,
                guild={"id": self.guild_id, "locale": self.guild_locale, "features": []},
                guild_locale=self.guild_locale,
                channel_id=channel_id,
                channel={**copy.deepcopy(channel), "permissions": str(self._permissions(user.id, channel_id))},
                member={**self._member_payload(user.id), "permissions": str(self._permissions(user.id, channel_id))},
                app_permissions=str(self._permissions(BOT_USER_ID, channel_id)),
                authorizing_integration_owners={"0": self.guild_id},
                context=0,
            )
        else:
            channel = self.dm_channel(user.id)
            payload.update(
                channel_id=channel["id"],
                channel=copy.deepcopy(channel),
                user=self._user_payload(user.id),
                app_permissions=str(ALL_PERMISSIONS & ~int(Permission.ADMINISTRATOR)),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        return payload

    def _channel_for_interaction(self, channel_id: str) -> JSON:
        if channel_id not in self.channels:
            raise ValueError(f"unknown channel {channel_id!r}")
        return self.channels[channel_id]

    async def _await_client_handler(self, message_id: str | None, custom_id: str, timeout: float = 3.0) -> None:
        """Give the client up to ``timeout`` s to register the handler it just sent, as a person's reaction time does.

        Proceeds either way, so a test of an expired or unknown component still reaches the client.
        """
        ready = self.client_ready
        if ready is None:
            return
        deadline = time.monotonic() + timeout
        while not ready(message_id, custom_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _start_interaction(self, payload: JSON, user_id: str) -> InteractionRecord:
        self._require_session()
        record = InteractionRecord(id=payload["id"], token=payload["token"], type=payload["type"], user_id=user_id,
                                   payload=payload, dispatched_at=self.clock())
        self.interactions[record.id] = record
        await self._dispatch("INTERACTION_CREATE", payload)
        return record

    def _find_command(self, name: str, *, guild: bool) -> tuple[JSON, str | None]:
        scopes: list[str | None] = [self.guild_id, None] if guild else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, scope
        registered = sorted({c["name"] for cmds in self.commands.values() for c in cmds})
        raise DiscordRefused(f"/{name} is not registered (registered: {registered}); did setup_hook sync the tree?")

    def _check_can_use(self, command: JSON, user_id: str, *, guild: bool) -> None:
        required = command.get("default_member_permissions")
        if guild and required is not None:
            perms = self._permissions(user_id)
            admins_only = int(required) == 0  # "0": hidden from everyone but administrators
            if (admins_only and perms != ALL_PERMISSIONS) or perms & int(required) != int(required):
                raise DiscordRefused(f"/{command['name']} is hidden from {user_id}: needs permissions {required}")
        contexts = command.get("contexts")
        if contexts is not None and (0 if guild else 1) not in contexts:
            raise DiscordRefused(f"/{command['name']} is not available in this context ({'guild' if guild else 'DM'})")

    @staticmethod
    def _leaf_options(command: JSON, subcommand: str | None, group: str | None) -> tuple[list[JSON], list[str]]:
        """The option definitions the user fills in, and the path of group/subcommand names to them."""
        options = command.get("options") or []
        path: list[str] = []
        if group is not None:
            found = next((o for o in options if o["type"] == OPT_SUB_COMMAND_GROUP and o["name"] == group), None)
            if found is None:
                raise DiscordRefused(f"/{command['name']} has no subcommand group {group!r}")
            options, path = found.get("options") or [], [group]
        if subcommand is not None:
            found = next((o for o in options if o["type"] == OPT_SUB_COMMAND and o["name"] == subcommand), None)
            if found is None:
                raise DiscordRefused(f"/{command['name']} {' '.join(path)} has no subcommand {subcommand!r}")
            options, path = found.get("options") or [], [*path, subcommand]
        elif any(o["type"] in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP) for o in options):
            raise DiscordRefused(f"/{command['name']} needs a subcommand")
        return options, path

    def _is_role(self, value: Any) -> bool:
        return any(r["id"] == str(value) for r in self._roles())

    def _encode_option(
        self, definition: JSON, value: Any, resolved: JSON, channel_id: str, attachments: Mapping[str, tuple[str, bytes, str]]
    ) -> Any:
        """Turn a Python value into the typed wire value (+ ``resolved`` entries), checking Discord's limits."""
        kind, name = definition["type"], definition["name"]
        if kind == OPT_STRING:
            value = str(value)
            if not definition.get("min_length", 0) <= len(value) <= definition.get("max_length", 6000):
                raise DiscordRefused(f"option {name!r}: length {len(value)} outside the allowed range")
        elif kind == OPT_INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise DiscordRefused(f"option {name!r} takes an integer, got {value!r}")
        elif kind == OPT_NUMBER:
            value = float(value)
        elif kind == OPT_BOOLEAN:
            value = bool(value)
        elif kind == OPT_USER or (kind == OPT_MENTIONABLE and not self._is_role(value)):
            user_id = value.id if isinstance(value, EmuUser) else str(value)
            if user_id != BOT_USER_ID:
                self._user(user_id)
            resolved.setdefault("users", {})[user_id] = self._user_payload(user_id)
            resolved.setdefault("members", {})[user_id] = {**self._member_payload(user_id, with_user=False),
                                                           "permissions": str(self._permissions(user_id, channel_id))}
            value = user_id
        elif kind in (OPT_ROLE, OPT_MENTIONABLE):
            role = next((r for r in self._roles() if r["id"] == str(value)), None)
            if role is None:
                raise DiscordRefused(f"option {name!r}: unknown role {value!r}")
            resolved.setdefault("roles", {})[role["id"]] = role
            value = role["id"]
        elif kind == OPT_CHANNEL:
            channel = self._channel_for_interaction(str(value))
            if definition.get("channel_types") and channel["type"] not in definition["channel_types"]:
                raise DiscordRefused(f"option {name!r}: channel type {channel['type']} not allowed")
            keys = ("id", "type", "name", "parent_id", "thread_metadata", "guild_id")
            entry = {k: channel[k] for k in keys if k in channel}
            entry["permissions"] = str(self._permissions(BOT_USER_ID, channel["id"]))
            resolved.setdefault("channels", {})[channel["id"]] = entry
            value = channel["id"]
        elif kind == OPT_ATTACHMENT:
            upload = value if isinstance(value, tuple) else attachments.get(name)
            if upload is None:
                raise DiscordRefused(f"option {name!r} is an attachment: pass attachments={{{name!r}: "
                                     "(filename, bytes, content_type)}}")
            filename, data, ctype = upload
            attachment = self._store_attachment(channel_id, filename, data, ctype, ephemeral=True)
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            value = attachment["id"]
        if kind in (OPT_INTEGER, OPT_NUMBER):
            low, high = definition.get("min_value"), definition.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise DiscordRefused(f"option {name!r}: {value} outside [{low}, {high}]")
        choices = definition.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise DiscordRefused(f"option {name!r}: {value!r} is not one of the choices {[c['value'] for c in choices]}")
        return value

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        subcommand: str | None,
        group: str | None,
        guild: bool,
        channel_id: str,
        attachments: Mapping[str, tuple[str, bytes, str]] | None,
        user_id: str,
        focused: str | None = None,
    ) -> JSON:
        """``data`` of an APPLICATION_COMMAND / AUTOCOMPLETE interaction, typed from the *registered* command."""
        command, scope = self._find_command(name, guild=guild)
        self._check_can_use(command, user_id, guild=guild)
        definitions, path = self._leaf_options(command, subcommand, group)
        by_name = {d["name"]: d for d in definitions}
        given = dict(options or {})
        for key in list(given) + [k for k in (attachments or {}) if k not in given]:
            if key not in by_name:
                raise ValueError(f"/{name} has no option {key!r} (registered: {sorted(by_name)})")
        resolved: JSON = {}
        encoded: list[JSON] = []
        for definition in definitions:
            option_name = definition["name"]
            present = option_name in given or option_name in (attachments or {}) or option_name == focused
            if not present:
                if definition.get("required") and focused is None:
                    raise DiscordRefused(f"/{name}: required option {option_name!r} missing")
                continue
            value = given.get(option_name)
            if focused == option_name:
                encoded.append({"name": option_name, "type": definition["type"], "value": str(value or ""), "focused": True})
                continue
            wire = self._encode_option(definition, value, resolved, channel_id, attachments or {})
            encoded.append({"name": option_name, "type": definition["type"], "value": wire})
        if focused is not None and focused not in by_name:
            raise ValueError(f"/{name} has no option {focused!r} to autocomplete")
        if focused is not None and not by_name[focused].get("autocomplete"):
            raise DiscordRefused(f"/{name}: option {focused!r} does not have autocomplete enabled")
        for level, sub_name in reversed(list(enumerate(path))):
            kind = OPT_SUB_COMMAND_GROUP if (group is not None and level == 0) else OPT_SUB_COMMAND
            encoded = [{"name": sub_name, "type": kind, "options": encoded}]
        data: JSON = {"id": command["id"], "name": name, "type": 1, "options": encoded}
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = scope
        return data

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: str,
        channel_id: str | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str | None = None,
        attachments: Mapping[str, tuple[str, bytes, str]] | None = None,
        guild: bool = True,
    ) -> InteractionRecord:
        """A member runs ``/name``: dispatch INTERACTION_CREATE (type 2) and return at once (no waiting).

        Options are typed from the registered command (user ids, channel ids, role ids and attachment
        tuples ``(filename, bytes, content_type)`` become ``resolved`` entries).
        """
        user_id = self._user(user).id
        payload = self._interaction_payload(INTERACTION_APPLICATION_COMMAND, user_id, channel_id, locale, guild=guild)
        payload["data"] = self._command_data(name, options, subcommand=subcommand, group=group, guild=guild,
                                             channel_id=payload["channel_id"], attachments=attachments, user_id=user_id)
        return await self._start_interaction(payload, user_id)

    async def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        *,
        user: str,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str | None = None,
        channel_id: str | None = None,
        timeout: float = 10,
    ) -> list[JSON]:
        """A member types into ``focused``: dispatch AUTOCOMPLETE (type 4), wait for the choices, return them."""
        user_id = self._user(user).id
        payload = self._interaction_payload(INTERACTION_AUTOCOMPLETE, user_id, channel_id, locale)
        payload["data"] = self._command_data(name, options, subcommand=subcommand, group=group, guild=True,
                                             channel_id=payload["channel_id"], attachments=None, user_id=user_id,
                                             focused=focused)
        record = await self._start_interaction(payload, user_id)
        await self.wait_for(lambda: record.choices is not None or record.errors, timeout,
                            what=f"autocomplete choices for /{name} {focused}")
        if record.choices is None:
            raise AssertionError(f"autocomplete failed: {record.errors}")
        return record.choices

    def _live_message(self, message: JSON | str) -> JSON:
        message_id = message["id"] if isinstance(message, Mapping) else str(message)
        if message_id in self.deleted_messages:
            raise DiscordRefused(f"message {message_id} was deleted")
        try:
            return self.message(message_id)
        except KeyError:
            raise DiscordRefused(f"no message {message_id}") from None

    async def click(
        self,
        message: JSON | str,
        custom_id: str,
        *,
        user: str,
        locale: str | None = None,
        values: Sequence[str] | None = None,
    ) -> InteractionRecord:
        """A member presses a button (or picks ``values`` in a select) on a message: MESSAGE_COMPONENT (type 3)."""
        user_id = self._user(user).id
        live = self._live_message(message)
        component = next((c for c in _walk_components(live["components"]) if c.get("custom_id") == custom_id), None)
        if component is None:
            present = [c.get("custom_id") for c in _walk_components(live["components"]) if c.get("custom_id")]
            raise DiscordRefused(f"message {live['id']} has no component {custom_id!r} (has {present})")
        if component.get("disabled"):
            raise DiscordRefused(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if "id" in component:
            data["id"] = component["id"]
        if component["type"] != 2:
            chosen = list(values or [])
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise DiscordRefused(f"select {custom_id!r} takes {low}..{high} values, got {chosen}")
            if component["type"] == 3:
                allowed = [o["value"] for o in component.get("options") or []]
                if any(v not in allowed for v in chosen):
                    raise DiscordRefused(f"select {custom_id!r}: {chosen} not within {allowed}")
            elif component["type"] in (5, 6, 7, 8):
                data["resolved"] = self._resolve_select(component["type"], chosen, live["channel_id"])
            data["values"] = chosen
        elif values:
            raise ValueError("buttons take no values")
        payload = self._interaction_payload(INTERACTION_COMPONENT, user_id, live["channel_id"], locale,
                                            guild="guild_id" in live)
        payload["message"] = copy.deepcopy(live)
        payload["data"] = data
        await self._await_client_handler(live["id"], custom_id)
        return await self._start_interaction(payload, user_id)

    def _resolve_select(self, kind: int, chosen: list[str], channel_id: str) -> JSON:
        resolved: JSON = {}
        for value in chosen:
            if kind in (5, 7) and value in {BOT_USER_ID, *self.users}:
                resolved.setdefault("users", {})[value] = self._user_payload(value)
                resolved.setdefault("members", {})[value] = {**self._member_payload(value, with_user=False),
                                                             "permissions": str(self._permissions(value, channel_id))}
            elif kind in (6, 7) and any(r["id"] == value for r in self._roles()):
                resolved.setdefault("roles", {})[value] = next(r for r in self._roles() if r["id"] == value)
            elif kind == 8 and value in self.channels:
                channel = self.channels[value]
                resolved.setdefault("channels", {})[value] = {"id": value, "type": channel["type"],
                                                              "name": channel.get("name"), "permissions": "0"}
            else:
                raise DiscordRefused(f"select value {value!r} is not selectable here")
        return resolved

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: str,
        message: JSON | str | None = None,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A member submits a modal the bot showed them: MODAL_SUBMIT (type 5).

        ``values`` are keyed by a text input's ``custom_id`` *or* its label (discord.py generates random
        custom ids).  The submitted ``components`` mirror the modal's layout, so both the classic action-row
        form (``{type 1, components: [{type 4, custom_id, value}]}``) and discord.py 2.6+ Label form
        (``{type 18, component: {...}}``) reach ``Modal.on_submit`` the way Discord sends them.
        """
        user_id = self._user(user).id
        shown = [m for m in self.modals if m["custom_id"] == custom_id and m["user_id"] == user_id]
        if not shown:
            raise DiscordRefused(f"no modal {custom_id!r} was shown to user {user_id}")
        modal = shown[-1]
        remaining = dict(values)
        components = [self._submitted_component(c, remaining, label=None) for c in modal["components"]]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(remaining)}")
        source = message if message is not None else modal["message"]
        channel_id = None
        if source is not None:
            source = self._live_message(source)
            channel_id = source["channel_id"]
        origin = self.interactions.get(modal["interaction_id"])
        if channel_id is None and origin is not None:
            channel_id = origin.payload.get("channel_id")
        payload = self._interaction_payload(INTERACTION_MODAL_SUBMIT, user_id, channel_id, locale)
        payload["data"] = {"custom_id": custom_id, "components": [c for c in components if c is not None]}
        if source is not None:
            payload["message"] = copy.deepcopy(source)
        await self._await_client_handler(None, custom_id)
        return await self._start_interaction(payload, user_id)

    def _submitted_component(self, component: JSON, values: dict[str, Any], *, label: str | None) -> JSON | None:
        """Mirror one modal component into its submitted form, consuming the matching entry of ``values``."""
        kind = component.get("type")
        if kind == 1:
            children = [self._submitted_component(c, values, label=None) for c in component.get("components") or []]
            return {"type": 1, "id": component.get("id", 0), "components": [c for c in children if c is not None]}
        if kind == 18:
            inner = self._submitted_component(component["component"], values, label=component.get("label"))
            return {"type": 18, "id": component.get("id", 0), "component": inner} if inner is not None else None
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None  # text displays and other static parts are not submitted
        label = component.get("label") or label
        key = custom_id if custom_id in values else (label if label in values else None)
        value = values.pop(key) if key is not None else None
        if kind == 4:
            text = "" if value is None else str(value)
            required = component.get("required", True)
            if required and not text:
                raise DiscordRefused(f"modal input {label or custom_id!r} is required")
            if text and not component.get("min_length", 0) <= len(text) <= component.get("max_length", 4000):
                raise DiscordRefused(f"modal input {label or custom_id!r}: length {len(text)} out of range")
            return {"type": 4, "id": component.get("id", 0), "custom_id": custom_id, "value": text}
        chosen = [] if value is None else ([value] if isinstance(value, str) else list(value))
        return {"type": kind, "id": component.get("id", 0), "custom_id": custom_id, "values": chosen}

    # ---------------------------------------------------------------- driving API: member activity

    async def post_message(
        self,
        content: str,
        *,
        user: str,
        channel_id: str | None = None,
        mentions_bot: bool = False,
        reply_to: JSON | str | None = None,
        attachments: Sequence[tuple[str, bytes, str]] | None = None,
        ping_reply: bool = True,
    ) -> JSON:
        """A member posts a message (MESSAGE_CREATE with ``member``); returns the stored message.

        Mentions are parsed from ``content`` (write ``f"<@{emu.bot_user['id']}>"`` to mention the bot);
        ``mentions_bot`` adds the bot to ``mentions`` even when the content does not contain it.
        """
        user_id = self._user(user).id
        channel_id = str(channel_id or next(iter(self.channels)))
        channel = self._channel_for_interaction(channel_id)
        uploads = [(f"files[{i}]", name, data, ctype) for i, (name, data, ctype) in enumerate(attachments or [])]
        message = self._make_message(channel_id, user_id, {"content": content}, uploads)
        if reply_to is not None:
            target = self._live_message(reply_to)
            self._attach_reply(message, {"message_id": target["id"], "channel_id": target["channel_id"]})
            no_ping = {"parse": ["users", "roles", "everyone"], "replied_user": False}
            self._refresh_mentions(message, None if ping_reply else no_ping)
        if mentions_bot and not any(m["id"] == BOT_USER_ID for m in message["mentions"]):
            message["mentions"].append(self._user_payload(BOT_USER_ID))
        if channel["type"] in THREAD_TYPES:
            await self._ensure_thread_open(channel)
        await self._store_and_announce(message)
        return message

    async def add_reaction(self, message: JSON | str, emoji: str, *, user: str) -> None:
        """A member reacts to a message (MESSAGE_REACTION_ADD)."""
        await self._react(self._live_message(message), emoji, self._user(user).id)

    async def add_member(self, user_id: str, username: str, *, permissions: int = 0, locale: str = "en-US") -> EmuUser:
        """Like :meth:`add_user`, but waits until GUILD_MEMBER_ADD was dispatched."""
        user = EmuUser(id=str(user_id), username=username, permissions=int(permissions), locale=locale)
        self.users[user.id] = user
        self._joined_at[user.id] = _now_iso()
        if permissions:
            self._user_roles[user.id] = self._snowflake()
        await self._announce_member(user)
        return user

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 0.1,
        is_global: bool = False,
        code: int = 0,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching REST requests with ``status`` instead of handling them.

        ``path_pattern`` is a regex that must *fully* match the path after ``/api/v10`` (e.g.
        ``r"/channels/\\d+/messages"``); ``method`` may be ``"*"``.  429 bodies carry ``retry_after`` and
        ``global`` plus the ``Via`` header discord.py requires before it will retry (without ``Via`` it
        treats a 429 as a Cloudflare ban and raises).
        """
        self._faults.append(_Fault(method.upper(), re.compile(path_pattern), int(status), int(times),
                                   float(retry_after), bool(is_global), int(code), message))

    async def drop_gateway(self, *, code: int = 4000) -> None:
        """Close the bot's websocket with ``code``.  discord.py reconnects and RESUMEs; after 4007/4009 the
        session is gone, so the RESUME is answered with INVALID_SESSION and the client IDENTIFYs again.
        Fatal codes (4004, 4010-4014) make ``Client.start`` raise, as with Discord."""
        session = self._session
        if session is None or session.conn is None:
            raise RuntimeError("the bot is not connected")
        if code in _SESSION_ENDING_CLOSE_CODES:
            session.resumable = False
        conn = session.conn
        session.conn = None
        await conn.ws.close(code=code, message=b"emulator closed the connection")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT (Discord does this during deploys); the client should RESUME."""
        self._require_session()
        if self._session is not None and self._session.conn is not None:
            await self._send(self._session.conn, {"op": 7, "d": None})

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with ``resumable=False`` the client must IDENTIFY again."""
        self._require_session()
        session = self._session
        assert session is not None
        if not resumable:
            session.resumable = False
        if session.conn is not None:
            await self._send(session.conn, {"op": 9, "d": resumable})
