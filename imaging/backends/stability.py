"""Stability AI's hosted REST API as an image backend (v2beta Stable Image, or v1 SDXL).

Why: a server without a GPU (or one whose GPU is busy or out of memory) can still make
flower art through Stability's API. The backend speaks the documented contract only,
maps every HTTP answer to a `StabilityError` with a stable message code and an honest
`fallback_ok` (an outage may fall back to another backend, a refusal must not), retries
rate limits and outages with exponential backoff, and never lets the API key reach a
log line, an exception or `repr()`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from io import BytesIO
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..errors import BackendUnavailableError, StabilityError
from ..request import GenerationRequest, aspect_ratio
from .base import (
    Availability,
    CancelToken,
    GeneratedImage,
    GenerationResult,
    ProgressCallback,
    ProgressEvent,
)

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "StabilityEngine",
    "StabilityAccept",
    "StabilityBackend",
    "DEFAULT_BASE_URL",
    "V1_ENGINE_ID",
    "status_to_error",
]

logger = logging.getLogger(__name__)

StabilityEngine = Literal["core", "sd3", "ultra", "v1-sdxl"]
StabilityAccept = Literal["image", "json"]

DEFAULT_BASE_URL: Final = "https://api.stability.ai"
V1_ENGINE_ID: Final = "stable-diffusion-xl-1024-v1-0"
_V2_PATH: Final = "/v2beta/stable-image/generate/{engine}"
_V1_PATH: Final = f"/v1/generation/{V1_ENGINE_ID}/text-to-image"
_DETAIL_LIMIT: Final = 200
_RETRY_STATUSES: Final = frozenset({429})
# status → (message code, may another backend serve the same request?)
_STATUS_CODES: Final[dict[int, tuple[str, bool]]] = {
    400: ("stability_bad_request", False),
    401: ("stability_unauthorized", True),
    402: ("stability_payment_required", True),
    403: ("stability_moderated", False),
    404: ("stability_bad_request", True),  # wrong base URL or engine: a setup problem, not a refusal
    413: ("stability_too_large", False),
    422: ("stability_invalid", False),
    429: ("stability_rate_limited", True),
}
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


class _Secret:
    """Holds the API key so that no repr, vars() dump or f-string shows it by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _Retryable(Exception):
    """Internal: wraps a StabilityError that tenacity may retry (429, 5xx, transport)."""

    def __init__(self, error: StabilityError, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


def _trim(text: str, limit: int = _DETAIL_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_to_error(status: int, detail: str = "", **params: object) -> StabilityError:
    """The documented mapping of an HTTP status to a `StabilityError` (code and fallback_ok)."""
    if status >= 500:
        code, fallback_ok = "stability_server_error", True
    else:
        code, fallback_ok = _STATUS_CODES.get(status, ("stability_bad_request", False))
    return StabilityError(detail or f"HTTP {status}", status=status, code=code, fallback_ok=fallback_ok, **params)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `retry-after` header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class StabilityBackend:
    """`ImageBackend` over Stability's REST API: one HTTP call per image, per-image seeds kept.

    `engine` picks the endpoint: "core", "sd3" and "ultra" are the v2beta Stable Image
    endpoints (aspect ratio, multipart form), "v1-sdxl" is the v1 SDXL text-to-image
    endpoint (exact size, steps and CFG, JSON body).
    """

    name = "stability"
    max_batch = 1

    def __init__(
        self,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        engine: StabilityEngine = "core",
        timeout_s: float = 60.0,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        accept: StabilityAccept = "image",
        sd3_model: str | None = None,
        v1_sampler: str | None = "K_DPMPP_2M",
        max_retry_after_s: float = 30.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        if engine not in get_args(StabilityEngine):
            raise ValueError(f"unknown Stability engine {engine!r}; choose one of {get_args(StabilityEngine)}")
        if accept not in get_args(StabilityAccept):
            raise ValueError(f"accept must be 'image' or 'json', not {accept!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout_s <= 0 or backoff_s < 0 or max_retry_after_s < 0 or max_backoff_s < 0:
            raise ValueError("timeouts and delays must not be negative")
        key = (api_key or "").strip()
        self._key: _Secret | None = _Secret(key) if key else None
        self.base_url = base_url.rstrip("/")
        self.engine: StabilityEngine = engine
        self.timeout_s = float(timeout_s)
        self.max_attempts = int(max_attempts)
        self.backoff_s = float(backoff_s)
        self.accept: StabilityAccept = accept
        self.sd3_model = sd3_model
        self.v1_sampler = v1_sampler
        self.max_retry_after_s = float(max_retry_after_s)
        self._backoff = wait_exponential(multiplier=self.backoff_s, min=0, max=max(max_backoff_s, self.backoff_s))
        self._transport = transport
        self._client = client
        self._owns_client = client is None

    # ----------------------------------------------------------------- description

    def __repr__(self) -> str:
        key = "set" if self._key else "missing"
        return f"StabilityBackend(engine={self.engine!r}, base_url={self.base_url!r}, api_key={key})"

    @property
    def model(self) -> str:
        """The model name recorded on results (and shown to members)."""
        if self.engine == "v1-sdxl":
            return V1_ENGINE_ID
        if self.engine == "sd3" and self.sd3_model:
            return f"stability-{self.sd3_model}"
        return f"stability-{self.engine}"

    @property
    def sampler(self) -> str:
        """The v1 sampler we send, or the engine name: v2beta picks its own sampler server-side."""
        if self.engine == "v1-sdxl":
            return self.v1_sampler or "stability-default"
        return f"stability-{self.engine}"

    def availability(self) -> Availability:
        if self._key is None:
            return Availability(False, "STABILITY_API_KEY is not set")
        if not self._key.reveal().isascii() or not self._key.reveal().isprintable():
            return Availability(False, "STABILITY_API_KEY contains characters a header cannot carry")
        return Availability(True)

    # ------------------------------------------------------------------ generation

    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        """One result per request, in order; each image is one API call with its own seed."""
        for request in requests:
            request.check_inputs()
        state = self.availability()
        if not state.ok:
            raise BackendUnavailableError(state.reason, backend=self.name)
        prepared = [request.with_seeds() for request in requests]
        total = sum(len(request.seeds) for request in prepared)
        started = time.perf_counter()
        done = 0
        results: list[GenerationResult] = []
        for request in prepared:
            request_started = time.perf_counter()
            images: list[GeneratedImage] = []
            for seed in request.seeds:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                images.append(await self._generate_one(request, seed, cancel))
                done += 1
                if progress is not None:
                    progress(ProgressEvent(step=done, total=total, elapsed_s=time.perf_counter() - started))
            results.append(
                GenerationResult(
                    images=images,
                    backend=self.name,
                    model=self.model,
                    sampler=self.sampler,
                    seconds=time.perf_counter() - request_started,
                )
            )
        logger.info(
            "stability %s: %d image(s) for %d request(s) in %.1f s",
            self.engine,
            done,
            len(prepared),
            time.perf_counter() - started,
        )
        return results

    async def _generate_one(self, request: GenerationRequest, seed: int, cancel: CancelToken | None) -> GeneratedImage:
        if self.engine == "v1-sdxl":
            response = await self._post_with_retries(
                self.base_url + _V1_PATH, accept="application/json", cancel=cancel, json=self._v1_body(request, seed)
            )
            return self._read_v1(response, seed)
        accept = "image/*" if self.accept == "image" else "application/json"
        response = await self._post_with_retries(
            self.base_url + _V2_PATH.format(engine=self.engine),
            accept=accept,
            cancel=cancel,
            files=self._v2_fields(request, seed),
        )
        return self._read_v2(response, seed)

    def _v2_fields(self, request: GenerationRequest, seed: int) -> dict[str, tuple[None, str]]:
        """Multipart form fields; (None, value) makes httpx send form-data parts without a filename."""
        fields = {
            "prompt": request.prompt,
            "aspect_ratio": aspect_ratio(request.width, request.height),
            "seed": str(seed),
            "output_format": "png",
        }
        if request.negative_prompt.strip():
            fields["negative_prompt"] = request.negative_prompt
        if self.engine == "core" and request.style_preset:
            fields["style_preset"] = request.style_preset
        if self.engine == "sd3" and self.sd3_model:
            fields["model"] = self.sd3_model
        return {name: (None, value) for name, value in fields.items()}

    def _v1_body(self, request: GenerationRequest, seed: int) -> dict[str, Any]:
        prompts: list[dict[str, Any]] = [{"text": request.prompt, "weight": 1}]
        if request.negative_prompt.strip():
            prompts.append({"text": request.negative_prompt, "weight": -1})
        body: dict[str, Any] = {
            "text_prompts": prompts,
            "cfg_scale": request.cfg,
            "steps": request.steps,
            "samples": 1,  # one call per image, so every image keeps its own seed
            "width": request.width,
            "height": request.height,
            "seed": seed,
        }
        if request.style_preset:
            body["style_preset"] = request.style_preset
        if self.v1_sampler:
            body["sampler"] = self.v1_sampler
        return body

    # ------------------------------------------------------------------- transport

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self.timeout_s)
            self._owns_client = True
        return self._client

    async def _post_with_retries(
        self, url: str, *, accept: str, cancel: CancelToken | None, **body: Any
    ) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=self._log_retry,
            sleep=asyncio.sleep,
            reraise=True,
        )
        try:
            return await retrying(self._post_once, url, accept, cancel, body)
        except _Retryable as failure:
            error = failure.error
            error.params["attempts"] = self.max_attempts
            logger.warning("stability %s: giving up after %d attempt(s): %s", self.engine, self.max_attempts, error)
            raise error from failure.__cause__

    async def _post_once(
        self, url: str, accept: str, cancel: CancelToken | None, body: dict[str, Any]
    ) -> httpx.Response:
        if cancel is not None:
            cancel.raise_if_cancelled()
        assert self._key is not None  # generate() checked availability
        headers = {
            "authorization": f"Bearer {self._key.reveal()}",
            "accept": accept,
            "stability-client-id": "huayi",
        }
        try:
            response = await self._http().post(url, headers=headers, timeout=self.timeout_s, **body)
        except httpx.TimeoutException as exc:
            error = self._error(0, "stability_unreachable", f"no answer within {self.timeout_s:g} s", True)
            raise _Retryable(error) from exc
        except httpx.TransportError as exc:
            detail = f"{type(exc).__name__}: {self._scrub(str(exc))}".rstrip(": ")
            raise _Retryable(self._error(0, "stability_unreachable", detail, True)) from exc
        if response.is_success:
            return response
        error = self._status_error(response)
        if response.status_code in _RETRY_STATUSES or response.status_code >= 500:
            raise _Retryable(error, _parse_retry_after(response.headers.get("retry-after")))
        logger.warning("stability %s: %s", self.engine, error)
        raise error

    def _wait(self, state: RetryCallState) -> float:
        """Back off exponentially, or as long as the server's `retry-after` asks (capped)."""
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _Retryable) and failure.retry_after_s is not None:
            return min(failure.retry_after_s, self.max_retry_after_s)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "stability %s: attempt %d/%d failed (%s); retrying in %.2f s",
            self.engine,
            state.attempt_number,
            self.max_attempts,
            failure.error if isinstance(failure, _Retryable) else failure,
            delay,
        )

    # -------------------------------------------------------------------- answers

    def _scrub(self, text: str) -> str:
        if self._key is not None:
            text = text.replace(self._key.reveal(), "***")
        return _BEARER.sub(r"\1***", text)

    def _error(self, status: int, code: str, detail: str, fallback_ok: bool, **params: object) -> StabilityError:
        return StabilityError(
            _trim(self._scrub(detail)), status=status, code=code, fallback_ok=fallback_ok, engine=self.engine, **params
        )

    def _status_error(self, response: httpx.Response) -> StabilityError:
        """Map an error answer; the server's first error text (scrubbed, ≤200 chars) becomes `detail`."""
        name, text, error_id = "", "", ""
        try:
            payload = response.json()
        except ValueError:
            text = response.text
        else:
            if isinstance(payload, dict):
                name = str(payload.get("name") or "")
                error_id = str(payload.get("id") or "")
                errors = payload.get("errors")
                if isinstance(errors, list) and errors:
                    text = str(errors[0])
                elif payload.get("message"):
                    text = str(payload["message"])
        text = _trim(self._scrub(text or name or response.reason_phrase or f"HTTP {response.status_code}"))
        params: dict[str, object] = {"engine": self.engine}
        if name:
            params["name"] = _trim(self._scrub(name), 80)
        if error_id:
            params["error_id"] = _trim(self._scrub(error_id), 80)
        return status_to_error(response.status_code, text, **params)

    def _check_finish(self, finish_reason: str | None, status: int) -> None:
        reason = (finish_reason or "SUCCESS").strip().upper()
        if reason == "SUCCESS":
            return
        if reason == "CONTENT_FILTERED":
            raise self._error(status, "stability_moderated", "content filtered", False, finish_reason=reason)
        raise self._error(status, "stability_server_error", f"finish reason {reason}", True, finish_reason=reason)

    def _read_v2(self, response: httpx.Response, sent_seed: int) -> GeneratedImage:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type.startswith("image/"):
            self._check_finish(response.headers.get("finish-reason"), response.status_code)
            data = response.content
            seed = response.headers.get("seed")
        elif content_type == "application/json":
            payload = self._json(response)
            self._check_finish(payload.get("finish_reason"), response.status_code)
            data = self._b64(payload.get("image"), response.status_code)
            seed = payload.get("seed")
        else:
            raise self._error(
                response.status_code, "stability_server_error", f"unexpected content type {content_type!r}", True
            )
        return GeneratedImage(self._decode(data, response.status_code), self._seed(seed, sent_seed))

    def _read_v1(self, response: httpx.Response, sent_seed: int) -> GeneratedImage:
        payload = self._json(response)
        artifacts = payload.get("artifacts")
        if not isinstance(artifacts, list) or not artifacts or not isinstance(artifacts[0], dict):
            raise self._error(response.status_code, "stability_server_error", "answer without artifacts", True)
        artifact = artifacts[0]
        self._check_finish(artifact.get("finishReason"), response.status_code)
        data = self._b64(artifact.get("base64"), response.status_code)
        return GeneratedImage(self._decode(data, response.status_code), self._seed(artifact.get("seed"), sent_seed))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise self._error(response.status_code, "stability_server_error", "answer is not a JSON object", True)
        return payload

    def _b64(self, value: object, status: int) -> bytes:
        if not isinstance(value, str) or not value:
            raise self._error(status, "stability_server_error", "answer without image data", True)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self._error(status, "stability_server_error", "image data is not valid base64", True) from None

    def _decode(self, data: bytes, status: int) -> Image:
        from PIL import Image as PILImage

        try:
            image = PILImage.open(BytesIO(data))
            image.load()
        except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
            detail = f"unreadable image ({type(exc).__name__})"
            raise self._error(status, "stability_server_error", detail, True) from exc
        return image if image.mode == "RGB" else image.convert("RGB")

    @staticmethod
    def _seed(value: object, sent_seed: int) -> int:
        """The seed the server reports (it picks one when we send 0), else the one we sent."""
        try:
            return int(str(value)) if value is not None and str(value).strip() else sent_seed
        except ValueError:
            return sent_seed

    # ------------------------------------------------------------------- lifecycle

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it (an injected one belongs to its owner)."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
