"""Discord-free drawing steps shared by /draw and group sessions.

1. check the idea and the member's limits, 2. plan the prompt (retrieval, CLIP budget)
in a worker thread, 3. build a validated request, 4. submit it to the shared fair queue
with the metadata that lets any process deliver the result (also after a restart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imaging.enhancer import PromptPlan
from imaging.jobs import Job
from imaging.request import GenerationRequest

from .runtime import HuayiRuntime

__all__ = ["DrawSpec", "PlannedDraw", "precheck", "plan_draw", "planned_meta", "submit_request", "job_kind"]


@dataclass(frozen=True)
class DrawSpec:
    """What a member asked for, before any model work."""

    idea: str
    style: str | None = None
    size: str | None = None
    count: int = 1
    seed: int | None = None
    negative: str = ""


@dataclass(frozen=True)
class PlannedDraw:
    spec: DrawSpec
    plan: PromptPlan
    request: GenerationRequest


def precheck(runtime: HuayiRuntime, spec: DrawSpec) -> None:
    """The checks that need no model (text, blocklist, style, size, count, seed), so a refusal
    can be sent privately before the interaction is deferred."""
    from imaging.errors import InvalidRequestError
    from imaging.prompt_text import validate_idea
    from imaging.request import MAX_SEED, parse_size

    imaging = runtime.services.imaging
    settings = runtime.settings
    idea = validate_idea(spec.idea, settings.image_max_idea_chars)
    imaging.blocklist.check(idea)
    if spec.negative.strip():
        validate_idea(spec.negative, settings.image_max_idea_chars)
    imaging.style(spec.style)
    parse_size(spec.size or settings.image_default_size)
    if not 1 <= spec.count <= settings.image_max_count:
        raise InvalidRequestError(f"count {spec.count}", reason="count", high=settings.image_max_count)
    if spec.seed is not None and not 0 <= spec.seed <= MAX_SEED:
        raise InvalidRequestError(f"seed {spec.seed}", reason="seed", high=MAX_SEED)


def _plan(runtime: HuayiRuntime, spec: DrawSpec) -> PlannedDraw:
    imaging = runtime.services.imaging
    plan = imaging.plan(spec.idea, spec.style, spec.negative)
    request = imaging.request(plan, size=spec.size, count=spec.count, seed=spec.seed)
    return PlannedDraw(spec, plan, request)


async def plan_draw(runtime: HuayiRuntime, spec: DrawSpec, *, member: int | str | None = None) -> PlannedDraw:
    """Validate and plan (blocklist, style, size, count, seed) off the event loop.

    One plan per `member` at a time, so a member's second drawing is planned after everyone
    else's first, the same turn-taking the drawing queue applies afterwards.
    Raises the imaging layer's InvalidPromptError, BlockedPromptError, UnknownStyleError
    or InvalidRequestError, which the error path turns into a sentence.
    """
    async with runtime.turn("plan", member):
        return await runtime.run_blocking(_plan, runtime, spec, lane="drawing")


def planned_meta(planned: PlannedDraw) -> dict[str, Any]:
    """What a job keeps about its plan: shown by ℹ️ Info and carried by re-rolls and variations."""
    spec = planned.spec
    return {
        "idea": spec.idea,
        "style": planned.plan.style_id,
        "size": f"{planned.request.width}x{planned.request.height}",
        "negative": spec.negative,
        "lang": planned.plan.language,
        "plan_notes": list(planned.plan.notes),
    }


async def submit_request(
    runtime: HuayiRuntime,
    request: GenerationRequest,
    *,
    user_id: int | str,
    guild_id: int | str | None,
    channel_id: int | str | None,
    kind: str,
    meta: Mapping[str, Any] | None = None,
) -> Job:
    """Queue a request; `kind` ("draw", "session") says which feature delivers the result."""
    scheduler = await runtime.scheduler()
    return await scheduler.submit(
        str(user_id),
        request,
        guild_id=None if guild_id is None else str(guild_id),
        channel_id=None if channel_id is None else str(channel_id),
        meta={"kind": kind, **dict(meta or {})},
    )


def job_kind(job: Job | None) -> str | None:
    return None if job is None else job.meta.get("kind")
