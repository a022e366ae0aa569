"""What a finished job's message and its ℹ️ details say (Discord-free)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imaging.jobs import Job

from ...i18n import Lang, render
from ...text_limits import clip
from ._text import TEXTS

__all__ = ["ResultCard", "result_card", "info_fields", "image_paths"]


@dataclass(frozen=True)
class ResultCard:
    title: str
    description: str
    fields: list[tuple[str, str]]
    fallback_note: str | None


def _seeds(job: Job) -> str:
    seeds = [str(s) for s in job.request.seeds] or [str(job.request.seed)]
    return ", ".join(seeds)


def _backend(result: dict[str, Any], lang: Lang) -> str:
    name = str(result.get("backend") or "")
    key = f"backend.{name}"
    return render(TEXTS, key, lang) if key in TEXTS else name


def result_card(job: Job, styles_name: str, lang: Lang) -> ResultCard:
    """Title (the member's idea), the enhanced prompt, and style, seed, backend, time."""
    result = job.result or {}
    seconds = float(result.get("seconds") or 0.0)
    fields = [
        (render(TEXTS, "field.style", lang), styles_name),
        (render(TEXTS, "field.seed", lang), _seeds(job)),
        (render(TEXTS, "field.backend", lang), _backend(result, lang)),
        (render(TEXTS, "field.time", lang), render(TEXTS, "seconds", lang, seconds=f"{seconds:.1f}")),
    ]
    fallback = render(TEXTS, "fallback", lang) if result.get("fallback_reason") else None
    return ResultCard(
        title=clip(render(TEXTS, "title", lang, idea=" ".join(str(job.meta.get("idea", "")).split())), 256),
        description=clip(job.request.prompt, 4000),
        fields=fields,
        fallback_note=fallback,
    )


def info_fields(job: Job, lang: Lang) -> list[tuple[str, str]]:
    """Everything needed to reproduce the image elsewhere."""
    request, result = job.request, job.result or {}
    fields = [
        (render(TEXTS, "prompt_label", lang), clip(request.prompt, 1024)),
        (render(TEXTS, "field.prompt_2", lang), clip(request.prompt_2 or "—", 1024)),
        (render(TEXTS, "field.negative", lang), clip(request.negative_prompt or "—", 1024)),
        (render(TEXTS, "field.size", lang), f"{request.width}×{request.height}"),
        (render(TEXTS, "field.steps", lang), f"{request.steps} / {request.cfg:g}"),
        (render(TEXTS, "field.seed", lang), _seeds(job)),
        (render(TEXTS, "field.style", lang), str(job.meta.get("style") or request.style_id or "—")),
        (render(TEXTS, "field.model", lang), f"{result.get('model') or '—'} / {result.get('sampler') or '—'}"),
        (render(TEXTS, "field.backend", lang), _backend(result, lang) or "—"),
        (render(TEXTS, "field.job", lang), job.id),
    ]
    notes = job.meta.get("plan_notes") or []
    if notes:
        fields.append((render(TEXTS, "field.notes", lang), clip("\n".join(str(n) for n in notes), 1024)))
    return fields


def image_paths(job: Job) -> list[str]:
    return [str(image["path"]) for image in (job.result or {}).get("images", [])]
