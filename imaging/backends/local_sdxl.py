"""Local SDXL through diffusers: loaded once, warmed up, batched, cancellable.

Why these choices:
- `StableDiffusionXLPipeline.from_pretrained(IMAGE_MODEL)` takes a hub id or a local
  directory, so tests load a tiny saved pipeline through exactly production's path.
- On CUDA it runs in half precision with PyTorch's SDPA attention; the fp16-safe VAE
  is optional because the stock SDXL VAE overflows in fp16 (diffusers then upcasts it,
  which costs time and memory).
- Every image gets its own `torch.Generator`, so a seed reproduces one image no matter
  which batch it was rendered in.
- The pipeline is blocking GPU work: it runs in a worker thread, one call at a time,
  and reports progress and honours cancellation from `callback_on_step_end`.
- CPU rendering is refused unless explicitly allowed: a 30-step SDXL image takes many
  minutes on a CPU, which a Discord member would read as a hang.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import BackendUnavailableError, GenerationFailedError, GpuOutOfMemoryError, JobCancelledError, MissingExtraError
from ..request import GenerationRequest
from .base import Availability, CancelToken, GeneratedImage, GenerationResult, ProgressCallback, ProgressEvent

__all__ = ["LocalSDXLConfig", "LocalSDXLBackend", "sampler_name", "DEFAULT_MODEL"]

log = logging.getLogger(__name__)
DEFAULT_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
Precision = Literal["auto", "float16", "bfloat16", "float32"]
# AUTOMATIC1111's names for diffusers schedulers, for the PNG `parameters` chunk.
_SAMPLER_NAMES = {
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DDIMScheduler": "DDIM",
    "UniPCMultistepScheduler": "UniPC",
    "HeunDiscreteScheduler": "Heun",
    "LMSDiscreteScheduler": "LMS",
    "PNDMScheduler": "PNDM",
}


def sampler_name(scheduler: object) -> str:
    name = type(scheduler).__name__
    label = _SAMPLER_NAMES.get(name, name)
    if getattr(getattr(scheduler, "config", None), "use_karras_sigmas", False):
        label += " Karras"
    return label


@dataclass(frozen=True)
class LocalSDXLConfig:
    """How the local pipeline is loaded; the `IMAGE_*` settings fill it."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    allow_cpu: bool = False
    precision: Precision = "auto"
    variant: str | None = "auto"
    vae: str | None = None
    max_batch: int = 4
    warmup: bool = True
    warmup_steps: int = 2
    local_files_only: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False


class LocalSDXLBackend:
    """The `ImageBackend` for a diffusers SDXL pipeline on this machine."""

    name = "local"

    def __init__(self, config: LocalSDXLConfig = LocalSDXLConfig()) -> None:
        self.config = config
        self.max_batch = max(1, config.max_batch)
        self._pipe: Any = None
        self._device: str | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.load_seconds: float | None = None

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def _resolve_device(self) -> str:
        """The device to render on, or BackendUnavailableError explaining why there is none."""
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
            raise MissingExtraError("local SDXL needs torch and diffusers (pip install 'huayi[gpu]')", extra="gpu")
        import torch

        wanted = self.config.device
        if wanted == "auto":
            if torch.cuda.is_available():
                return "cuda"
            if self.config.allow_cpu:
                return "cpu"
            raise BackendUnavailableError("no CUDA GPU (set IMAGE_ALLOW_CPU=true to render on the CPU)")
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(f"IMAGE_DEVICE={wanted} but CUDA is not available")
        if wanted == "cpu" and not self.config.allow_cpu:
            raise BackendUnavailableError("CPU rendering is off (set IMAGE_ALLOW_CPU=true)")
        return wanted

    def _model_resolvable(self) -> str | None:
        """None when the model can be loaded; otherwise why not (checked without network)."""
        model = self.config.model
        path = Path(model).expanduser()
        if path.exists() or model.startswith((".", "/", "~")):
            return None if (path / "model_index.json").is_file() else f"{model} has no model_index.json"
        if self.config.local_files_only:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "model_index.json")
            if not isinstance(cached, str):
                return f"{model} is not in the Hugging Face cache and downloads are off"
        return None

    def availability(self) -> Availability:
        if self._pipe is not None:
            return Availability(True)
        try:
            self._resolve_device()
        except (BackendUnavailableError, MissingExtraError) as exc:
            return Availability(False, exc.detail)
        problem = self._model_resolvable()
        return Availability(problem is None, problem or "")

    # Loading -----------------------------------------------------------------
    def load(self) -> Any:
        """Load (once) and warm up the pipeline; blocking, so call it from a worker thread."""
        with self._load_lock:
            if self._pipe is None:
                self._pipe = self._load()
            return self._pipe

    def _load(self) -> Any:
        import torch
        from diffusers import AutoencoderKL, StableDiffusionXLPipeline

        started = time.perf_counter()
        device = self._resolve_device()
        problem = self._model_resolvable()
        if problem:
            raise BackendUnavailableError(problem)
        dtype = self._dtype(torch, device)
        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": self.config.local_files_only}
        variant = self.config.variant
        if variant == "auto":
            is_hub_id = not Path(self.config.model).expanduser().exists()
            variant = "fp16" if is_hub_id and dtype == torch.float16 else None
        if variant:
            kwargs["variant"] = variant
        if self.config.vae:
            kwargs["vae"] = AutoencoderKL.from_pretrained(
                self.config.vae, dtype=dtype, local_files_only=self.config.local_files_only
            )
        try:
            pipe = StableDiffusionXLPipeline.from_pretrained(self.config.model, **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(f"cannot load {self.config.model}: {exc}") from exc
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(device)
        if device.startswith("cuda"):
            from diffusers.models.attention_processor import AttnProcessor2_0

            pipe.unet.set_attn_processor(AttnProcessor2_0())
            pipe.vae.set_attn_processor(AttnProcessor2_0())
        if self.config.attention_slicing:
            pipe.enable_attention_slicing()
        if self.config.vae_tiling:
            pipe.vae.enable_tiling()
        self._device = device
        if self.config.warmup:
            # The first call pays for kernel selection and allocator growth; members should not.
            pipe(
                "warm-up",
                num_inference_steps=max(1, self.config.warmup_steps),
                width=1024,
                height=1024,
                output_type="latent",
                generator=torch.Generator(device).manual_seed(0),
            )
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s on %s (%s) in %.1fs", self.config.model, device, dtype, self.load_seconds)
        return pipe

    def _dtype(self, torch: Any, device: str) -> Any:
        precision = self.config.precision
        if precision == "auto":
            precision = "float16" if device.startswith("cuda") else "float32"
        return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[precision]

    # Generation --------------------------------------------------------------
    async def generate(
        self,
        requests: Sequence[GenerationRequest],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[GenerationResult]:
        requests = [r.with_seeds() for r in requests]
        for request in requests:
            request.check_inputs()
        if len({r.batch_key() for r in requests}) > 1:
            raise ValueError("a local SDXL call needs requests with one batch_key()")
        return await asyncio.to_thread(self._generate_blocking, requests, progress, cancel)

    def _generate_blocking(
        self, requests: list[GenerationRequest], progress: ProgressCallback | None, cancel: CancelToken | None
    ) -> list[GenerationResult]:
        pipe = self.load()
        started = time.perf_counter()
        jobs = [(r, seed) for r in requests for seed in r.seeds]
        with self._run_lock:
            images = self._render(pipe, jobs, progress, cancel, started)
        seconds = time.perf_counter() - started
        sampler = sampler_name(pipe.scheduler)
        results: list[GenerationResult] = []
        position = 0
        for request in requests:
            mine = images[position : position + request.count]
            position += request.count
            results.append(
                GenerationResult(
                    images=[GeneratedImage(image, seed) for image, seed in zip(mine, request.seeds)],
                    backend=self.name,
                    model=self.config.model,
                    sampler=sampler,
                    seconds=seconds,
                )
            )
        return results

    def _render(
        self,
        pipe: Any,
        jobs: list[tuple[GenerationRequest, int]],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        started: float,
    ) -> list[Any]:
        """All images, in order, in chunks of `max_batch`; a CUDA OOM halves the chunk and retries."""
        import torch

        out: list[Any] = []
        chunk = min(self.max_batch, len(jobs))
        start = 0
        calls_done = 0
        while start < len(jobs):
            part = jobs[start : start + chunk]
            calls = calls_done + -(-(len(jobs) - start) // chunk)
            try:
                out += self._call(pipe, part, progress, cancel, started, calls_done, calls)
                start += len(part)
                calls_done += 1
            except torch.cuda.OutOfMemoryError as exc:
                torch.cuda.empty_cache()
                if chunk == 1:
                    raise GpuOutOfMemoryError("CUDA out of memory at batch size 1") from exc
                chunk = max(1, chunk // 2)
                log.warning("CUDA out of memory; retrying with batches of %d", chunk)
        return out

    def _call(
        self,
        pipe: Any,
        part: list[tuple[GenerationRequest, int]],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        started: float,
        calls_done: int,
        calls: int,
    ) -> list[Any]:
        import torch

        first = part[0][0]
        steps = first.steps
        # Steps are counted across all pipeline calls of this batch, so the ETA covers all of it.
        total_steps = steps * calls

        def on_step_end(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                done = calls_done * steps + step + 1
                progress(ProgressEvent(done, total_steps, time.perf_counter() - started))
            if cancel is not None and cancel.cancelled:
                pipeline._interrupt = True  # diffusers skips the remaining steps
            return kwargs

        if cancel is not None:
            cancel.raise_if_cancelled()
        generator_device = "cpu" if self._device in (None, "cpu") else self._device
        try:
            output = pipe(
                prompt=[r.prompt for r, _ in part],
                prompt_2=[r.prompt_2 or r.prompt for r, _ in part],
                negative_prompt=[r.negative_prompt for r, _ in part],
                negative_prompt_2=[r.negative_prompt_2 or r.negative_prompt for r, _ in part],
                width=first.width,
                height=first.height,
                num_inference_steps=steps,
                guidance_scale=first.cfg,
                generator=[torch.Generator(generator_device).manual_seed(seed) for _, seed in part],
                callback_on_step_end=on_step_end,
            )
        except torch.cuda.OutOfMemoryError:
            raise
        except JobCancelledError:
            raise
        except Exception as exc:
            log.exception("SDXL pipeline call failed")
            raise GenerationFailedError(f"{type(exc).__name__}: {exc}") from exc
        if cancel is not None:
            cancel.raise_if_cancelled()
        return list(output.images)

    async def aclose(self) -> None:
        """Free GPU memory once no generation is running; a later request loads the model again."""
        await asyncio.to_thread(self._unload)

    def _unload(self) -> None:
        with self._load_lock, self._run_lock:
            self._pipe = None
            if importlib.util.find_spec("torch") is not None:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    def model_status(self) -> tuple[bool | None, str]:
        """Whether IMAGE_MODEL can be loaded here: True (local or cached), None (will download), False."""
        model = self.config.model
        path = Path(model).expanduser()
        if path.exists() or model.startswith((".", "/", "~")):
            ok = (path / "model_index.json").is_file()
            return ok, f"{model} ({'a local diffusers directory' if ok else 'no model_index.json there'})"
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "model_index.json"), str):
            return True, f"{model} (in the Hugging Face cache)"
        if self.config.local_files_only:
            return False, f"{model} is not in the Hugging Face cache and IMAGE_LOCAL_FILES_ONLY is on"
        return None, f"{model} (not downloaded yet; the first image downloads it)"
