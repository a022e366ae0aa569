"""Builds the imaging side (styles, prompt enhancer, backends, queue) from `Settings`.

Part of the one factory: `Services.imaging` creates this lazily, so `huayi ask` never
pays for CLIP or diffusers, and `huayi prompt` never loads a diffusion model.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from imaging.backends.base import GenerationResult, ImageBackend
from imaging.backends.chain import BackendChain
from imaging.clip_tokenizer import TokenCounter, load_clip_tokenizer
from imaging.enhancer import Fact, PromptEnhancer, PromptPlan, Rewriter
from imaging.errors import ImagingError, OutputWriteError
from imaging.output import ImageMetadata, image_directory, save_image
from imaging.prompt_text import DEFAULT_BLOCKLIST, Blocklist
from imaging.request import GenerationRequest, RequestLimits, parse_size
from imaging.styles import StyleLibrary, StyleTemplate, load_styles
from rag.errors import RagError

from .draw_support import prompt_glossary, retrieve_facts, term_finder

if TYPE_CHECKING:
    from imaging.jobs import Job, JobStore
    from imaging.scheduler import GenerationScheduler

    from .services import Services

__all__ = ["ImagingServices", "REWRITE_INSTRUCTIONS"]

log = logging.getLogger(__name__)

REWRITE_INSTRUCTIONS = (
    "You improve Stable Diffusion XL prompts for floral art. Rewrite the prompt below as one line of "
    "comma-separated English phrases, at most 60 words, most important first. Keep every one of these "
    "terms verbatim: {terms}. Add only visual detail (composition, light, texture); no Chinese, no "
    "quotes, no explanations. Reply with the prompt only.\n\nPrompt: {prompt}"
)


class ImagingServices:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.settings = services.settings

    @cached_property
    def styles(self) -> StyleLibrary:
        return load_styles()

    def style(self, key: str | None) -> StyleTemplate:
        return self.styles.get(key or self.settings.image_default_style)

    @cached_property
    def token_counter(self) -> TokenCounter:
        return TokenCounter(load_clip_tokenizer(self.settings.cache_dir / "clip-tokenizer"))

    @cached_property
    def blocklist(self) -> Blocklist:
        paths = [DEFAULT_BLOCKLIST]
        if self.settings.image_blocklist_path is not None:
            paths.append(self.settings.image_blocklist_path)
        extra = [w for w in self.settings.image_blocklist_extra.split(",") if w.strip()]
        return Blocklist.load(paths, extra)

    def _rewriter(self) -> Rewriter | None:
        s = self.settings
        if not s.image_llm_rewrite or s.llm_provider == "none":
            return None
        from .services import build_chat_model

        model: Any = None

        def rewrite(plan: PromptPlan) -> str:
            nonlocal model
            model = model or build_chat_model(s)
            terms = ", ".join(t.english for t in plan.terms if t.origin == "user") or "(none)"
            reply = model.invoke(REWRITE_INSTRUCTIONS.format(terms=terms, prompt=plan.prompt))
            return str(getattr(reply, "content", reply))

        return rewrite

    @cached_property
    def enhancer(self) -> PromptEnhancer:
        return PromptEnhancer(
            term_finder(prompt_glossary(self._services.glossary)),
            self.token_counter,
            self.blocklist,
            self.settings.image_max_idea_chars,
            self._rewriter(),
        )

    def facts(self, idea: str, style: StyleTemplate) -> list[Fact]:
        """Knowledge-base passages about the idea; none (not an error) when there is no index yet.

        Drawing must not wait minutes for a first index build; `huayi index` or the first
        question builds it.
        """
        if self.settings.image_facts_top_k == 0:
            return []
        try:
            self._services.index(auto_build=False)
            rag = self._services.rag()
        except RagError as exc:
            log.warning("no knowledge facts for the prompt (%s)", exc.code)
            return []
        return retrieve_facts(rag, f"{idea} {style.name.en}", self.settings.image_facts_top_k)

    def plan(self, idea: str, style_key: str | None = None, negative: str = "") -> PromptPlan:
        """Validate, retrieve facts, and build the prompt plan (blocking: CLIP and retrieval)."""
        style = self.style(style_key)
        self.enhancer.check_idea(idea)  # refuse blocked or malformed ideas before retrieval
        return self.enhancer.enhance(idea, style, self.facts(str(idea), style), negative)

    @property
    def limits(self) -> RequestLimits:
        s = self.settings
        return RequestLimits(max_steps=s.image_max_steps, max_count=s.image_max_count)

    def request(
        self,
        plan: PromptPlan,
        *,
        size: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        count: int = 1,
        seed: int | None = None,
    ) -> GenerationRequest:
        s = self.settings
        width, height = parse_size(size or s.image_default_size)
        request = GenerationRequest(
            prompt=plan.prompt,
            prompt_2=plan.prompt_2,
            negative_prompt=plan.negative_prompt,
            width=width,
            height=height,
            steps=steps if steps is not None else s.image_default_steps,
            cfg=cfg if cfg is not None else s.image_default_cfg,
            count=count,
            seed=seed,
            style_id=plan.style_id,
            style_preset=plan.style_preset,
        )
        request.check_inputs(self.limits)
        return request

    # Backends ------------------------------------------------------------------
    def backend_names(self) -> list[str]:
        names = self.settings.image_backends
        return ["local", "stability"] if names == "auto" else names.split(",")

    @cached_property
    def backend(self) -> BackendChain:
        s = self.settings
        backends: list[ImageBackend] = []
        for name in self.backend_names():
            if name == "local":
                from imaging.backends.local_sdxl import LocalSDXLBackend, LocalSDXLConfig

                backends.append(
                    LocalSDXLBackend(
                        LocalSDXLConfig(
                            model=s.image_model,
                            device=s.image_device,
                            allow_cpu=s.image_allow_cpu,
                            precision=s.image_precision,
                            variant=s.image_model_variant,
                            vae=s.image_vae,
                            max_batch=s.image_max_batch,
                            warmup=s.image_warmup,
                            local_files_only=s.image_local_files_only,
                            attention_slicing=s.image_attention_slicing,
                            vae_tiling=s.image_vae_tiling,
                        )
                    )
                )
            else:
                from imaging.backends.stability import StabilityBackend

                backends.append(
                    StabilityBackend(
                        s.stability_api_key,
                        base_url=s.stability_api_base,
                        engine=s.stability_engine,
                        timeout_s=s.stability_timeout_s,
                        max_attempts=s.stability_max_attempts,
                    )
                )
        return BackendChain(backends)

    def preload(self) -> list[str]:
        """Load the local model now (blocking); returns the backends loaded.

        The bot calls this before it connects: loading SDXL in a thread while connected
        holds the GIL for long stretches, and interactions arriving then could miss
        Discord's 3-second acknowledgement deadline.
        """
        loaded = []
        for backend in self.backend.backends:
            load = getattr(backend, "load", None)
            if load is None or not backend.availability().ok:
                continue
            try:
                load()
            except ImagingError as exc:
                log.warning("could not preload the %s image backend: %s", backend.name, exc.detail)
                continue
            loaded.append(backend.name)
        return loaded

    # Output and queue ------------------------------------------------------------
    async def save(self, job: Job, result: GenerationResult) -> dict[str, Any]:
        """Write the job's images (PNG + metadata + sidecar) and describe them for the job row."""
        directory = image_directory(self.settings.data_dir)

        def write() -> list[dict[str, Any]]:
            saved = []
            for n, image in enumerate(result.images):
                metadata = ImageMetadata.from_generation(job.request, result, image, job_id=job.id)
                files = save_image(image.image, metadata, directory, f"{job.id}-{n}")
                saved.append({"path": str(files.png_path), "json": str(files.json_path), "seed": image.seed})
            return saved

        try:
            images = await asyncio.to_thread(write)
        except OSError as exc:
            raise OutputWriteError(str(exc), path=str(directory), reason=exc.strerror or type(exc).__name__) from exc
        return {
            "images": images,
            "backend": result.backend,
            "model": result.model,
            "sampler": result.sampler,
            "seconds": round(result.seconds, 3),
            "fallback_reason": result.fallback_reason,
        }

    async def open_scheduler(self) -> GenerationScheduler:
        """A started scheduler on the data directory's database (call from the running loop)."""
        from imaging.jobs import JobStore
        from imaging.scheduler import GenerationScheduler, QueueLimits

        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store: JobStore = JobStore(s.database_path)
        await store.open()
        scheduler = GenerationScheduler(
            self.backend,
            store,
            self.save,
            QueueLimits(
                max_per_user=s.queue_max_per_user,
                max_total=s.queue_max_total,
                max_batch_images=s.queue_max_batch_images,
                max_attempts=s.queue_max_attempts,
            ),
        )
        await scheduler.start()
        return scheduler

    async def close_scheduler(self, scheduler: GenerationScheduler) -> None:
        """Stop the worker (a running job goes back to the queue), close the database, free the backends."""
        try:
            await scheduler.aclose()
        finally:
            try:
                await scheduler.store.close()
            finally:
                await self.backend.aclose()
