"""A loopback Stability AI REST server that follows the documented contract, for tests.

It serves `POST /v2beta/stable-image/generate/{core|sd3|ultra}` (multipart form, answer
as image bytes with `finish-reason`/`seed` headers or as JSON by `Accept`) and
`POST /v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image` (JSON body, JSON
`artifacts`). It checks the bearer key and the fields, draws a tiny real PNG whose
colour comes from the seed, records every request, and can be scripted to fail:
`fake.script(429, 503, Scripted(finish_reason="CONTENT_FILTERED"), Scripted(delay_s=2))`
answers the next calls in that order, then succeeds again.

Runs in a thread (stdlib `http.server`), so it serves sync and async tests alike.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

__all__ = ["FAKE_KEY", "Scripted", "Recorded", "FakeStability", "fake_stability", "png_size_for", "seed_colour"]

FAKE_KEY = "sk-fake-0123456789abcdefSECRET"
V2_ENGINES = ("core", "sd3", "ultra")
V2_PREFIX = "/v2beta/stable-image/generate/"
V1_PATH = "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image"
ASPECTS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}
SDXL_SIZES = {
    (1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216),
    (1344, 768), (768, 1344), (1536, 640), (640, 1536),
}  # fmt: skip
STYLE_PRESETS = {
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
}  # fmt: skip
MAX_V2_SEED = 4294967294
MAX_V1_SEED = 4294967295
_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "content_moderation",
    404: "not_found",
    413: "payload_too_large",
    422: "invalid_parameters",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


def seed_colour(seed: int) -> tuple[int, int, int]:
    """A solid colour that identifies the seed, so tests can check which seed drew an image."""
    return (seed % 251, (seed // 251) % 251, (seed // 63001) % 251)


def png_size_for(width: int, height: int, long_side: int = 64) -> tuple[int, int]:
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _aspect_size(ratio: str) -> tuple[int, int]:
    w, h = (int(part) for part in ratio.split(":"))
    return png_size_for(w * 100, h * 100)


def _png(size: tuple[int, int], seed: int) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, seed_colour(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Scripted:
    """How to answer one call: an HTTP error, a finish reason, a delay, or a raw body."""

    status: int = 200
    finish_reason: str = "SUCCESS"
    delay_s: float = 0.0
    retry_after: str | None = None
    error_text: str | None = None
    raw_image: bytes | None = None  # replaces the PNG (e.g. garbage bytes)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, str] = field(default_factory=dict)  # multipart form fields (v2beta)
    json: Any = None  # JSON body (v1)
    answered: int = 0  # the status the fake answered


class _Reject(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise _Reject(400, "content-type: expected multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise _Reject(400, "body: malformed multipart/form-data")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise _Reject(400, "body: form part without a name")
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload.decode("utf-8")
    return fields


class FakeStability:
    """The fake server; use as a context manager (or the `fake_stability` fixture)."""

    def __init__(self, api_key: str = FAKE_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                outer._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                outer._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stability", daemon=True
        )

    # ----------------------------------------------------------------- scripting

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, *answers: int | Scripted) -> None:
        """Queue answers for the next calls (an int is an HTTP error status); then it succeeds."""
        with self._lock:
            for answer in answers:
                self._script.append(answer if isinstance(answer, Scripted) else Scripted(status=answer))

    def clear_script(self) -> None:
        """Forget answers not used yet (e.g. when a call failed before consuming them all)."""
        with self._lock:
            self._script.clear()

    @property
    def calls(self) -> int:
        return len(self.requests)

    # ------------------------------------------------------------------ serving

    def _next(self) -> Scripted:
        with self._lock:
            return self._script.popleft() if self._script else Scripted()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = Recorded(
            method=handler.command,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
        v1 = handler.path == V1_PATH
        scripted: Scripted | None = None
        try:
            if handler.command != "POST":
                raise _Reject(405, "method not allowed")
            if not (v1 or (handler.path.startswith(V2_PREFIX) and handler.path[len(V2_PREFIX):] in V2_ENGINES)):
                raise _Reject(404, f"no route for {handler.path}")
            if record.headers.get("authorization") != f"Bearer {self.api_key}":
                raise _Reject(401, "authorization: invalid or missing API key")
            scripted = self._next()
            if scripted.delay_s and self._stop.wait(scripted.delay_s):
                return
            if scripted.status >= 400:
                text = scripted.error_text or f"scripted failure {scripted.status}"
                raise _Reject(scripted.status, text)
            if v1:
                self._serve_v1(handler, record, scripted)
            else:
                self._serve_v2(handler, record, scripted, handler.path[len(V2_PREFIX):])
        except _Reject as reject:
            retry_after = scripted.retry_after if scripted is not None and scripted.status == reject.status else None
            self._send_error(handler, record, reject, v1=v1, retry_after=retry_after)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _serve_v2(self, handler: BaseHTTPRequestHandler, record: Recorded, scripted: Scripted, engine: str) -> None:
        record.fields = fields = _parse_multipart(handler.headers.get("Content-Type", ""), record.body)
        prompt = fields.get("prompt", "")
        if not prompt.strip():
            raise _Reject(400, "prompt: cannot be empty")
        if len(prompt) > 10000 or len(fields.get("negative_prompt", "")) > 10000:
            raise _Reject(413, "prompt: too long")
        ratio = fields.get("aspect_ratio", "1:1")
        if ratio not in ASPECTS:
            raise _Reject(400, f"aspect_ratio: must be one of {sorted(ASPECTS)}")
        output_format = fields.get("output_format", "png")
        if output_format not in {"png", "jpeg", "webp"}:
            raise _Reject(400, "output_format: must be png, jpeg or webp")
        seed = self._int_field(fields.get("seed", "0"), "seed", MAX_V2_SEED)
        if "style_preset" in fields and fields["style_preset"] not in STYLE_PRESETS:
            raise _Reject(400, "style_preset: unknown preset")
        if engine == "sd3" and fields.get("model", "sd3.5-large") not in {
            "sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash", "sd3-large", "sd3-medium",
        }:  # fmt: skip
            raise _Reject(400, "model: unknown sd3 model")
        accept = handler.headers.get("Accept", "image/*").lower()
        seed = seed or 424242  # seed 0 asks the server to pick one
        data = scripted.raw_image if scripted.raw_image is not None else _png(_aspect_size(ratio), seed)
        if accept.startswith("image/"):
            extra = {"finish-reason": scripted.finish_reason, "seed": str(seed)}
            self._send(handler, record, 200, data, "image/png", extra)
        elif accept.startswith("application/json"):
            payload = {"image": base64.b64encode(data).decode(), "finish_reason": scripted.finish_reason, "seed": seed}
            self._send(handler, record, 200, json.dumps(payload).encode(), "application/json")
        else:
            raise _Reject(400, "accept: must be image/* or application/json")

    def _serve_v1(self, handler: BaseHTTPRequestHandler, record: Recorded, scripted: Scripted) -> None:
        if not handler.headers.get("Content-Type", "").lower().startswith("application/json"):
            raise _Reject(400, "content-type: expected application/json")
        if not handler.headers.get("Accept", "").lower().startswith("application/json"):
            raise _Reject(400, "accept: this fake answers application/json only")
        try:
            body = record.json = json.loads(record.body)
        except ValueError:
            raise _Reject(400, "body: invalid JSON") from None
        prompts = body.get("text_prompts")
        if not isinstance(prompts, list) or not prompts:
            raise _Reject(400, "text_prompts: required")
        for item in prompts:
            if not isinstance(item, dict) or not str(item.get("text", "")).strip() or not isinstance(
                item.get("weight", 1), (int, float)
            ):
                raise _Reject(400, "text_prompts: each needs a non-empty text and a numeric weight")
        size = (body.get("width", 1024), body.get("height", 1024))
        if size not in SDXL_SIZES:
            raise _Reject(400, "width/height: not an SDXL dimension")
        self._int_field(body.get("steps", 30), "steps", 50, low=10)
        cfg = body.get("cfg_scale", 7)
        if not isinstance(cfg, (int, float)) or not 0 <= cfg <= 35:
            raise _Reject(400, "cfg_scale: must be 0 to 35")
        samples = self._int_field(body.get("samples", 1), "samples", 10, low=1)
        seed = self._int_field(body.get("seed", 0), "seed", MAX_V1_SEED)
        if "style_preset" in body and body["style_preset"] not in STYLE_PRESETS:
            raise _Reject(400, "style_preset: unknown preset")
        seed = seed or 424242
        artifacts = []
        for i in range(samples):
            data = scripted.raw_image if scripted.raw_image is not None else _png(png_size_for(*size), seed + i)
            encoded = base64.b64encode(data).decode()
            artifacts.append({"base64": encoded, "seed": seed + i, "finishReason": scripted.finish_reason})
        self._send(handler, record, 200, json.dumps({"artifacts": artifacts}).encode(), "application/json")

    @staticmethod
    def _int_field(value: object, name: str, high: int, low: int = 0) -> int:
        try:
            number = int(str(value))
        except ValueError:
            raise _Reject(400, f"{name}: must be an integer") from None
        if not low <= number <= high:
            raise _Reject(400, f"{name}: must be between {low} and {high}")
        return number

    def _send_error(
        self, handler: BaseHTTPRequestHandler, record: Recorded, reject: _Reject, *, v1: bool, retry_after: str | None
    ) -> None:
        name = _ERROR_NAMES.get(reject.status, "error")
        error_id = uuid.uuid4().hex
        payload: dict[str, Any] = (
            {"id": error_id, "name": name, "message": reject.text}
            if v1
            else {"id": error_id, "name": name, "errors": [reject.text]}
        )
        extra = {"retry-after": retry_after} if retry_after is not None else {}
        self._send(handler, record, reject.status, json.dumps(payload).encode(), "application/json", extra)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        record: Recorded,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        record.answered = status
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeStability:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # releases slow handlers
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_stability() -> Iterator[FakeStability]:
    """A fresh fake Stability server on 127.0.0.1 (ephemeral port); `.base_url`, `.api_key`."""
    with FakeStability() as fake:
        yield fake
