"""The Stability backend against a loopback fake that follows Stability's documented REST contract."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from imaging.backends.base import CancelToken, ImageBackend, ProgressEvent
from imaging.backends.stability import StabilityBackend, status_to_error
from imaging.errors import BackendUnavailableError, InvalidRequestError, JobCancelledError, StabilityError
from imaging.messages import render_error
from imaging.request import GenerationRequest

from .fake_stability import FAKE_KEY, FakeStability, Scripted, fake_stability, png_size_for, seed_colour  # noqa: F401

ERROR_CASES = [
    # status, code, fallback_ok, retried
    (400, "stability_bad_request", False, False),
    (401, "stability_unauthorized", True, False),
    (402, "stability_payment_required", True, False),
    (403, "stability_moderated", False, False),
    (413, "stability_too_large", False, False),
    (422, "stability_invalid", False, False),
    (429, "stability_rate_limited", True, True),
    (500, "stability_server_error", True, True),
    (503, "stability_server_error", True, True),
]
ALL_CODES = sorted({code for _, code, _, _ in ERROR_CASES} | {"stability_unreachable"})


def make(fake: FakeStability, **overrides: object) -> StabilityBackend:
    options: dict[str, object] = {"base_url": fake.base_url, "backoff_s": 0.001, "timeout_s": 30.0}  # generous: CI machines stall
    if "client" not in overrides:
        # Plain-HTTP loopback: skip loading the CA bundle into every test's client.
        options["transport"] = httpx.AsyncHTTPTransport(verify=False)
    options.update(overrides)
    return StabilityBackend(options.pop("api_key", fake.api_key), **options)  # type: ignore[arg-type]


def request(**overrides: object) -> GenerationRequest:
    fields: dict[str, object] = {"prompt": "a loose garden bouquet of peonies", "seeds": (11,), "count": 1}
    fields.update(overrides)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert FAKE_KEY not in str(text)
        assert FAKE_KEY not in repr(text)


def assert_key_only_in_auth(fake: FakeStability) -> None:
    assert fake.requests
    for recorded in fake.requests:
        assert recorded.headers["authorization"] == f"Bearer {FAKE_KEY}"
        assert FAKE_KEY not in recorded.path
        assert FAKE_KEY.encode() not in recorded.body
        for name, value in recorded.headers.items():
            if name != "authorization":
                assert FAKE_KEY not in value


async def fail(backend: StabilityBackend, req: GenerationRequest | None = None) -> StabilityError:
    with pytest.raises(StabilityError) as caught:
        await backend.generate([req or request()])
    return caught.value


# ------------------------------------------------------------------------ successes


async def test_core_success_fields_seeds_and_progress(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    assert isinstance(backend, ImageBackend)
    events: list[ProgressEvent] = []
    req = request(count=2, seeds=(11, 12), negative_prompt="wilted, blurry", style_preset="photographic")
    [result] = await backend.generate([req], progress=events.append)
    await backend.aclose()

    assert (result.backend, result.model, result.sampler) == ("stability", "stability-core", "stability-core")
    assert [image.seed for image in result.images] == [11, 12]
    for image in result.images:
        assert image.image.size == (64, 64)
        assert image.image.mode == "RGB"
        assert image.image.getpixel((5, 5)) == seed_colour(image.seed)
    assert result.seconds >= 0
    assert [(e.step, e.total) for e in events] == [(1, 2), (2, 2)]

    assert [r.path for r in fake_stability.requests] == ["/v2beta/stable-image/generate/core"] * 2
    first, second = (r.fields for r in fake_stability.requests)
    assert first == {
        "prompt": "a loose garden bouquet of peonies",
        "negative_prompt": "wilted, blurry",
        "aspect_ratio": "1:1",
        "seed": "11",
        "output_format": "png",
        "style_preset": "photographic",
    }
    assert second["seed"] == "12"
    assert fake_stability.requests[0].headers["accept"] == "image/*"
    assert fake_stability.requests[0].headers["content-type"].startswith("multipart/form-data")
    assert_key_only_in_auth(fake_stability)


@pytest.mark.parametrize("engine", ["sd3", "ultra"])
async def test_sd3_and_ultra_send_no_style_preset(fake_stability: FakeStability, engine: str) -> None:
    backend = make(fake_stability, engine=engine)
    req = request(width=1344, height=768, style_preset="photographic")
    [result] = await backend.generate([req])
    await backend.aclose()

    assert result.model == f"stability-{engine}"
    assert result.images[0].image.size == (64, 36)
    recorded = fake_stability.requests[0]
    assert recorded.path == f"/v2beta/stable-image/generate/{engine}"
    assert recorded.fields["aspect_ratio"] == "16:9"
    assert "style_preset" not in recorded.fields
    assert "negative_prompt" not in recorded.fields  # empty negative prompts are left out
    assert "model" not in recorded.fields


async def test_sd3_model_field(fake_stability: FakeStability) -> None:
    backend = make(fake_stability, engine="sd3", sd3_model="sd3.5-large")
    [result] = await backend.generate([request()])
    await backend.aclose()
    assert fake_stability.requests[0].fields["model"] == "sd3.5-large"
    assert result.model == "stability-sd3.5-large"


async def test_accept_json_path(fake_stability: FakeStability) -> None:
    backend = make(fake_stability, accept="json")
    [result] = await backend.generate([request(seeds=(7, 8), count=2, width=832, height=1216)])
    await backend.aclose()
    assert fake_stability.requests[0].headers["accept"] == "application/json"
    assert [i.seed for i in result.images] == [7, 8]
    assert result.images[1].image.size == (43, 64)
    assert result.images[1].image.getpixel((0, 0)) == seed_colour(8)


async def test_seed_zero_reports_the_servers_seed(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    [result] = await backend.generate([request(seeds=(0,))])
    await backend.aclose()
    assert result.images[0].seed == 424242  # the fake picks this seed when asked for 0


async def test_v1_sdxl_one_call_per_seed(fake_stability: FakeStability) -> None:
    backend = make(fake_stability, engine="v1-sdxl")
    req = request(
        count=3, seeds=(100, 5, 77), width=1216, height=832, steps=25, cfg=7.5,
        negative_prompt="text, watermark", style_preset="analog-film",
    )  # fmt: skip
    events: list[ProgressEvent] = []
    [result] = await backend.generate([req], progress=events.append)
    await backend.aclose()

    assert (result.model, result.sampler) == ("stable-diffusion-xl-1024-v1-0", "K_DPMPP_2M")
    assert [i.seed for i in result.images] == [100, 5, 77]
    assert all(i.image.size == png_size_for(1216, 832) for i in result.images)
    assert [i.image.getpixel((1, 1)) for i in result.images] == [seed_colour(s) for s in (100, 5, 77)]
    assert [e.step for e in events] == [1, 2, 3]
    assert fake_stability.calls == 3
    body = fake_stability.requests[0].json
    assert fake_stability.requests[0].path == "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image"
    assert fake_stability.requests[0].headers["accept"] == "application/json"
    assert body == {
        "text_prompts": [
            {"text": "a loose garden bouquet of peonies", "weight": 1},
            {"text": "text, watermark", "weight": -1},
        ],
        "cfg_scale": 7.5,
        "steps": 25,
        "samples": 1,
        "width": 1216,
        "height": 832,
        "seed": 100,
        "style_preset": "analog-film",
        "sampler": "K_DPMPP_2M",
    }
    assert [r.json["seed"] for r in fake_stability.requests] == [100, 5, 77]
    assert_key_only_in_auth(fake_stability)


async def test_several_requests_one_result_each(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    events: list[ProgressEvent] = []
    results = await backend.generate(
        [request(seeds=(1,)), request(prompt="ikebana with one camellia", count=2, seeds=(2, 3))],
        progress=events.append,
    )
    await backend.aclose()
    assert [[i.seed for i in r.images] for r in results] == [[1], [2, 3]]
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert fake_stability.requests[1].fields["prompt"] == "ikebana with one camellia"


async def test_unseeded_request_gets_seeds(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    [result] = await backend.generate([GenerationRequest(prompt="tulips", count=2, seed=41)])
    await backend.aclose()
    assert [i.seed for i in result.images] == [41, 42]


# ------------------------------------------------------------------------- failures


@pytest.mark.parametrize(("status", "code", "fallback_ok", "retried"), ERROR_CASES)
async def test_error_status_mapping(
    fake_stability: FakeStability, status: int, code: str, fallback_ok: bool, retried: bool
) -> None:
    fake_stability.script(*[status] * 3)
    backend = make(fake_stability, max_attempts=3)
    error = await fail(backend)
    await backend.aclose()
    assert (error.code, error.status, error.fallback_ok) == (code, status, fallback_ok)
    assert error.params["status"] == status
    assert fake_stability.calls == (3 if retried else 1)
    if retried:
        assert error.params["attempts"] == 3
    assert "scripted failure" in error.detail
    assert_no_key(error, error.detail, error.params)


async def test_v1_error_body_is_read(fake_stability: FakeStability) -> None:
    fake_stability.script(Scripted(status=400, error_text="height: must be a multiple of 64"))
    backend = make(fake_stability, engine="v1-sdxl")
    error = await fail(backend)
    await backend.aclose()
    assert error.code == "stability_bad_request"
    assert error.detail == "height: must be a multiple of 64"
    assert error.params["name"] == "bad_request"


async def test_wrong_key_is_unauthorized(fake_stability: FakeStability) -> None:
    backend = make(fake_stability, api_key="sk-not-the-right-one")
    error = await fail(backend)
    await backend.aclose()
    assert (error.code, error.fallback_ok, fake_stability.calls) == ("stability_unauthorized", True, 1)
    assert "sk-not-the-right-one" not in str(error) + repr(backend)


async def test_invalid_detail_is_trimmed_and_scrubbed(fake_stability: FakeStability) -> None:
    text = f"seed: invalid for key {FAKE_KEY} (Bearer {FAKE_KEY}) " + "x" * 400
    fake_stability.script(Scripted(status=422, error_text=text))
    backend = make(fake_stability)
    error = await fail(backend)
    await backend.aclose()
    assert error.code == "stability_invalid"
    assert error.detail.startswith("seed: invalid for key ***")
    assert len(error.detail) <= 200
    assert_no_key(error, error.detail, error.params)
    assert "seed: invalid" in render_error(error, "en")


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_then_success(fake_stability: FakeStability, status: int) -> None:
    fake_stability.script(status, status)
    backend = make(fake_stability, max_attempts=3)
    [result] = await backend.generate([request()])
    await backend.aclose()
    assert len(result.images) == 1
    assert [r.answered for r in fake_stability.requests] == [status, status, 200]


async def test_retry_after_is_respected_and_capped(fake_stability: FakeStability) -> None:
    fake_stability.script(Scripted(status=429, retry_after="0.3"))
    backend = make(fake_stability)
    started = time.perf_counter()
    await backend.generate([request()])
    assert time.perf_counter() - started >= 0.28

    fake_stability.script(Scripted(status=429, retry_after="3600"))
    capped = make(fake_stability, max_retry_after_s=0.05)
    started = time.perf_counter()
    await capped.generate([request()])
    assert time.perf_counter() - started < 5  # not the 3600 s the server asked for
    await backend.aclose()
    await capped.aclose()


async def test_timeout_is_unreachable(fake_stability: FakeStability) -> None:
    fake_stability.script(Scripted(delay_s=5), Scripted(delay_s=5))
    backend = make(fake_stability, timeout_s=0.5, max_attempts=2)
    error = await fail(backend)
    await backend.aclose()
    assert (error.code, error.status, error.fallback_ok) == ("stability_unreachable", 0, True)
    assert fake_stability.calls == 2


async def test_timeout_then_success(fake_stability: FakeStability) -> None:
    fake_stability.script(Scripted(delay_s=30))  # far past the timeout, so only the retry can succeed
    backend = make(fake_stability, timeout_s=4.0, max_attempts=2)  # room for a slow machine's stalls
    [result] = await backend.generate([request()])
    await backend.aclose()
    assert len(result.images) == 1 and fake_stability.calls == 2


async def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = StabilityBackend(FAKE_KEY, base_url=f"http://127.0.0.1:{port}", backoff_s=0.001, max_attempts=2)
    with pytest.raises(StabilityError) as caught:
        await backend.generate([request()])
    await backend.aclose()
    assert (caught.value.code, caught.value.fallback_ok) == ("stability_unreachable", True)
    assert_no_key(caught.value, caught.value.detail, caught.value.params)


@pytest.mark.parametrize("engine,accept", [("core", "image"), ("ultra", "json"), ("v1-sdxl", "image")])
async def test_content_filtered_is_moderated(fake_stability: FakeStability, engine: str, accept: str) -> None:
    fake_stability.script(Scripted(finish_reason="CONTENT_FILTERED"))
    backend = make(fake_stability, engine=engine, accept=accept)
    error = await fail(backend)
    await backend.aclose()
    assert (error.code, error.fallback_ok) == ("stability_moderated", False)
    assert fake_stability.calls == 1


async def test_unreadable_image_is_a_server_error(fake_stability: FakeStability) -> None:
    fake_stability.script(Scripted(raw_image=b"definitely not a png"))
    backend = make(fake_stability)
    error = await fail(backend)
    await backend.aclose()
    assert (error.code, error.fallback_ok) == ("stability_server_error", True)


async def test_missing_key_makes_no_network_call(fake_stability: FakeStability) -> None:
    calls: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(200)

    for key in (None, "", "   "):
        backend = StabilityBackend(key, base_url=fake_stability.base_url, transport=httpx.MockTransport(handler))
        assert backend.availability().ok is False
        assert "STABILITY_API_KEY" in backend.availability().reason
        with pytest.raises(BackendUnavailableError) as caught:
            await backend.generate([request()])
        assert caught.value.fallback_ok is True
        await backend.aclose()
    assert calls == [] and fake_stability.calls == 0
    assert StabilityBackend(FAKE_KEY).availability().ok is True


async def test_inputs_are_checked_before_anything(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    with pytest.raises(InvalidRequestError):
        await backend.generate([request(width=1000, height=1000)])
    with pytest.raises(InvalidRequestError):
        await StabilityBackend(None).generate([request(steps=0)])
    assert fake_stability.calls == 0
    await backend.aclose()


async def test_cancel_between_images(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    token = CancelToken()
    with pytest.raises(JobCancelledError):
        await backend.generate([request(count=3, seeds=(1, 2, 3))], progress=lambda _e: token.cancel(), cancel=token)
    await backend.aclose()
    assert fake_stability.calls == 1


async def test_cancelled_before_start_sends_nothing(fake_stability: FakeStability) -> None:
    backend = make(fake_stability)
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelledError):
        await backend.generate([request()], cancel=token)
    await backend.aclose()
    assert fake_stability.calls == 0


# ------------------------------------------------------------------- key and messages


async def test_key_never_leaks(fake_stability: FakeStability, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = make(fake_stability, max_attempts=2)
    assert_no_key(repr(backend), str(backend), vars(backend))
    errors: list[StabilityError] = []
    scenarios: list[list[int | Scripted]] = [[status] * 2 for status, *_ in ERROR_CASES] + [
        [Scripted(status=422, error_text=f"bad key {FAKE_KEY}")],
        [Scripted(status=500, error_text=f"authorization: Bearer {FAKE_KEY}")] * 2,
        [Scripted(finish_reason="CONTENT_FILTERED")],
    ]
    for scenario in scenarios:
        fake_stability.script(*scenario)
        errors.append(await fail(backend))
        fake_stability.clear_script()
    fake_stability.script(Scripted(delay_s=5))
    impatient = make(fake_stability, timeout_s=0.5, max_attempts=1)
    errors.append(await fail(impatient))
    fake_stability.clear_script()
    [ok] = await backend.generate([request()])
    await backend.aclose()
    await impatient.aclose()

    assert ok.images and {e.code for e in errors} >= set(ALL_CODES)
    for error in errors:
        assert_no_key(error, error.detail, error.params, error.args, render_error(error, "en"))
    assert caplog.records, "the backend should log its retries and failures"
    assert_no_key(caplog.text, *(r.getMessage() for r in caplog.records))
    assert_key_only_in_auth(fake_stability)


def test_repr_hides_key() -> None:
    backend = StabilityBackend(FAKE_KEY, engine="ultra")
    assert "ultra" in repr(backend) and "api_key=set" in repr(backend)
    assert_no_key(repr(backend), vars(backend))


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_has_distinct_messages(code: str) -> None:
    statuses = {c: s for s, c, _, _ in ERROR_CASES}
    error = StabilityError("seed: out of range", status=statuses.get(code, 0), code=code, fallback_ok=False)
    zh, en = render_error(error, "zh"), render_error(error, "en")
    assert zh.strip() and en.strip() and zh != en
    generic = render_error(StabilityError("", status=0, code="no_such_code", fallback_ok=False), "en")
    assert en != generic
    others = {
        render_error(StabilityError("x", status=0, code=other, fallback_ok=False), "en")
        for other in ALL_CODES
        if other != code
    }
    assert en not in others


def test_status_to_error_mapping() -> None:
    for status, code, fallback_ok, _ in ERROR_CASES:
        error = status_to_error(status)
        assert (error.code, error.fallback_ok) == (code, fallback_ok)
    assert status_to_error(502).code == "stability_server_error"


async def test_injected_client_is_not_closed(fake_stability: FakeStability) -> None:
    async with httpx.AsyncClient() as client:
        backend = make(fake_stability, client=client)
        await backend.generate([request()])
        await backend.aclose()
        assert not client.is_closed
    owned = StabilityBackend(FAKE_KEY, base_url=fake_stability.base_url)  # default transport
    await owned.generate([request()])
    http = owned._client
    await owned.aclose()
    assert http is not None and http.is_closed


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        StabilityBackend(FAKE_KEY, engine="sd9")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StabilityBackend(FAKE_KEY, max_attempts=0)
