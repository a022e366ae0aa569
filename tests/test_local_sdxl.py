"""Local SDXL on a tiny random-weight pipeline, loaded through production's from_pretrained path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imaging.backends.base import CancelToken, ImageBackend
from imaging.backends.chain import BackendChain
from imaging.backends.local_sdxl import LocalSDXLBackend, LocalSDXLConfig
from imaging.backends.stability import StabilityBackend
from imaging.errors import GpuOutOfMemoryError, JobCancelledError, StabilityError
from imaging.output import ImageMetadata, read_metadata, save_image
from imaging.request import GenerationRequest

from .conftest import make_services
from .fake_stability import FAKE_KEY, fake_stability  # noqa: F401

STEPS = 2


def _request(prompt: str = "a white peony in a celadon vase", **kwargs) -> GenerationRequest:
    return GenerationRequest(prompt, negative_prompt="blurry", steps=STEPS, cfg=6.0, **kwargs)


def _pixels(result, n: int = 0) -> np.ndarray:
    return np.asarray(result.images[n].image.convert("RGB"), dtype=np.int16)


async def test_the_settings_path_loads_the_saved_pipeline_and_draws(tiny_sdxl_dir, tmp_path, embeddings):
    services = make_services(
        tmp_path, embeddings, image_model=str(tiny_sdxl_dir), image_allow_cpu=True, image_backends="local", image_warmup=True
    )
    chain = services.imaging.backend
    (local,) = chain.backends
    assert isinstance(local, LocalSDXLBackend) and isinstance(chain, ImageBackend)
    assert chain.availability().ok
    (result,) = await chain.generate([_request(seed=7, width=1216, height=832)])
    assert result.backend == "local" and result.model == str(tiny_sdxl_dir)
    assert result.sampler == "Euler" and result.fallback_reason is None
    assert local.load_seconds is not None  # loaded once, with the warm-up run
    assert [(i.seed, i.image.size) for i in result.images] == [(7, (1216, 832))]
    await chain.aclose()


async def test_seeds_reproduce_images_alone_or_batched(tiny_backend):
    events = []
    alone, = await tiny_backend.generate([_request(seed=11)])
    batched = await tiny_backend.generate([_request("a red rose", seed=3), _request(seed=11)], events.append)
    # Batch-size-dependent kernels may move a pixel by a unit of rounding, never more.
    assert np.abs(_pixels(alone) - _pixels(batched[1])).max() <= 2
    assert np.abs(_pixels(batched[0]) - _pixels(batched[1])).mean() > 5
    # One pipeline call served both requests: the steps were counted once, not twice.
    assert [(e.step, e.total) for e in events] == [(1, STEPS), (2, STEPS)]
    assert events[-1].eta_s == 0


async def test_counts_give_consecutive_seeds_and_oom_halves_the_batch(tiny_backend):
    real_pipe = tiny_backend._pipe
    calls: list[int] = []

    class OneAtATime:
        """A GPU that only has memory for one image per call."""

        def __init__(self, pipe):
            self._pipe = pipe

        def __getattr__(self, name):
            return getattr(self._pipe, name)

        def __call__(self, **kwargs):
            calls.append(len(kwargs["prompt"]))
            if len(kwargs["prompt"]) > 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return self._pipe(**kwargs)

    tiny_backend._pipe = OneAtATime(real_pipe)
    try:
        (result,) = await tiny_backend.generate([_request(seed=20, count=2)])
        assert [i.seed for i in result.images] == [20, 21]
        assert calls == [2, 1, 1]
        tiny_backend._pipe = OneAtATime(_AlwaysOOM())
        with pytest.raises(GpuOutOfMemoryError):
            await tiny_backend.generate([_request(seed=1)])
    finally:
        tiny_backend._pipe = real_pipe


class _AlwaysOOM:
    scheduler = None

    def __call__(self, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")


async def test_cancelling_mid_run_stops_the_pipeline(tiny_backend):
    cancel = CancelToken()
    seen = []

    def on_progress(event):
        seen.append(event.step)
        cancel.cancel()

    request = GenerationRequest("peony", steps=6, seed=1)
    with pytest.raises(JobCancelledError):
        await tiny_backend.generate([request], on_progress, cancel)
    assert seen == [1]


async def test_generated_png_carries_its_parameters(tiny_backend, tmp_path):
    request = _request(seed=5).with_seeds()
    (result,) = await tiny_backend.generate([request])
    metadata = ImageMetadata.from_generation(request, result, result.images[0], job_id="job1")
    saved = save_image(result.images[0].image, metadata, tmp_path, "job1-0")
    assert read_metadata(saved.png_path) == metadata
    from PIL import Image

    with Image.open(saved.png_path) as image:
        parameters = image.text["parameters"]
    assert parameters.startswith("a white peony in a celadon vase\nNegative prompt: blurry\n")
    assert f"Steps: {STEPS}, Sampler: Euler, CFG scale: 6.0, Seed: 5, Size: 1024x1024" in parameters


def test_cpu_rendering_needs_explicit_permission(tiny_sdxl_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    state = LocalSDXLBackend(LocalSDXLConfig(model=str(tiny_sdxl_dir))).availability()
    assert not state.ok and "IMAGE_ALLOW_CPU" in state.reason
    missing = LocalSDXLBackend(LocalSDXLConfig(model=str(tiny_sdxl_dir.parent / "nope"), allow_cpu=True)).availability()
    assert not missing.ok and "model_index.json" in missing.reason


async def test_the_chain_falls_back_to_stability_and_says_why(tiny_sdxl_dir, fake_stability):  # noqa: F811
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    local = LocalSDXLBackend(LocalSDXLConfig(model=str(tiny_sdxl_dir)))
    stability = StabilityBackend(FAKE_KEY, base_url=fake_stability.base_url, backoff_s=0.01)
    chain = BackendChain([local, stability])
    (result,) = await chain.generate([_request(seed=9)])
    assert result.backend == "stability"
    assert "local unavailable" in result.fallback_reason and "IMAGE_ALLOW_CPU" in result.fallback_reason
    fake_stability.script(403)
    with pytest.raises(StabilityError) as refused:
        await chain.generate([_request(seed=9)])
    assert refused.value.code == "stability_moderated"
    # When the last backend fails too, the member hears its real reason, not "unavailable".
    fake_stability.script(429, 429, 429)
    with pytest.raises(StabilityError) as limited:
        await chain.generate([_request(seed=9)])
    assert limited.value.code == "stability_rate_limited" and "local unavailable" in limited.value.params["fallback_reasons"]
    await chain.aclose()
