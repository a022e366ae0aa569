"""`huayi styles`, `huayi prompt`, `huayi draw` and `huayi doctor`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from imaging.backends.base import CancelToken, GenerationResult, ProgressEvent
from imaging.enhancer import PromptPlan
from imaging.errors import BackendUnavailableError, ImagingError, OutputWriteError
from imaging.messages import render_error as render_imaging_error
from imaging.output import ImageMetadata, image_directory, save_image
from imaging.request import GenerationRequest
from rag.errors import RagError
from rag.messages import render_error as render_rag_error
from rag.text import Lang, detect_lang

if TYPE_CHECKING:
    from .imaging_services import ImagingServices

__all__ = ["register"]


def _fail(error: ImagingError | RagError | ValueError, lang: Lang, code: int = 1) -> typer.Exit:
    from .cli import err

    if isinstance(error, ImagingError):
        text = render_imaging_error(error, lang)
        if isinstance(error, BackendUnavailableError) and error.detail:
            text += f"\n  {error.detail}"  # the admin at the terminal needs the reasons
    elif isinstance(error, RagError):
        text = render_rag_error(error, lang)
    else:
        text = str(error)
    err.print(f"[red]✗[/red] {escape(text)}")
    return typer.Exit(code)


def _plan_dict(plan: PromptPlan) -> dict[str, Any]:
    data = plan.to_dict()
    data["terms"] = [dict(t) for t in data["terms"]]
    return data


def _print_plan(plan: PromptPlan) -> None:
    from .cli import err, out

    out.print(f"[bold]prompt[/bold]    ({plan.tokens['prompt']}/77) {escape(plan.prompt)}")
    out.print(f"[bold]prompt_2[/bold]  ({plan.tokens['prompt_2']}/77) {escape(plan.prompt_2)}")
    out.print(f"[bold]negative[/bold]  ({plan.tokens['negative_prompt']}/77) {escape(plan.negative_prompt)}")
    table = Table("term", "English", "kind", "from", box=None, pad_edge=False)
    for term in plan.terms:
        origin = term.origin + (f": {term.reference}" if term.reference else "")
        table.add_row(escape(term.text), escape(term.english), term.category, escape(origin))
    out.print(table)
    if plan.dropped:
        err.print(f"[yellow]![/yellow] not in the glossary, left out: {escape('、'.join(plan.dropped))}")
    if plan.omitted:
        err.print(f"[yellow]![/yellow] over the 77-token budget, left out: {escape('; '.join(plan.omitted))}")
    for note in plan.notes:
        err.print(f"[dim]{escape(note)}[/dim]")


def styles(ctx: typer.Context) -> None:
    """List the style templates for `--style`."""
    from .cli import _services, _ui_lang, out

    library = _services(ctx).imaging.styles
    lang = _ui_lang()
    table = Table("id", "名称 / name", "description")
    for style in library:
        table.add_row(style.id, f"{style.name.zh} / {style.name.en}", escape(style.description.get(lang)))
    out.print(table)


def prompt(
    ctx: typer.Context,
    idea: Annotated[str, typer.Argument(help="The image idea, in Chinese or English.")],
    style: Annotated[str | None, typer.Option("--style", "-s", help="Style id or name (see `huayi styles`).")] = None,
    negative: Annotated[str, typer.Option(help="Extra things to avoid.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the prompt plan as JSON.")] = False,
) -> None:
    """Show the English SDXL prompt Huayi builds for an idea (no image is made)."""
    from .cli import _services, out

    services = _services(ctx)
    lang = detect_lang(idea) if idea.strip() else "en"
    try:
        plan = services.imaging.plan(idea, style, negative)
    except (ImagingError, RagError) as exc:
        raise _fail(exc, lang, code=2)
    if as_json:
        sys.stdout.write(json.dumps(_plan_dict(plan), ensure_ascii=False) + "\n")
    else:
        _print_plan(plan)
        out.print(f"[dim]style {plan.style_id} · Stability preset {plan.style_preset}[/dim]")


def draw(
    ctx: typer.Context,
    idea: Annotated[str, typer.Argument(help="The image idea, in Chinese or English.")],
    style: Annotated[str | None, typer.Option("--style", "-s", help="Style id or name.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the first image (the next get +1, +2…).")] = None,
    size: Annotated[str | None, typer.Option(help="An SDXL size, e.g. 1024x1024 or 1216x832.")] = None,
    count: Annotated[int, typer.Option(help="Number of images.")] = 1,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    cfg: Annotated[float | None, typer.Option(help="Guidance (CFG) scale.")] = None,
    negative: Annotated[str, typer.Option(help="Extra things to avoid.")] = "",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the images (default: the data directory).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make flower art from an idea with the configured image backends."""
    from .cli import _services, err, out

    services = _services(ctx)
    imaging = services.imaging
    lang = detect_lang(idea) if idea.strip() else "en"
    try:
        with err.status("Preparing the prompt… 正在生成提示词…") if err.is_terminal else nullcontext():
            plan = imaging.plan(idea, style, negative)
            request = imaging.request(plan, size=size, steps=steps, cfg=cfg, count=count, seed=seed).with_seeds()
    except (ImagingError, RagError) as exc:
        raise _fail(exc, lang, code=2)
    except ValueError as exc:
        raise _fail(exc, lang, code=2)
    if not as_json:
        _print_plan(plan)
    started = time.perf_counter()
    try:
        result = asyncio.run(_generate(imaging, request, show_progress=err.is_terminal))
    except ImagingError as exc:
        raise _fail(exc, lang)
    except KeyboardInterrupt:
        err.print("[yellow]cancelled 已取消[/yellow]")
        raise typer.Exit(130)
    seconds = time.perf_counter() - started
    directory = out_dir or image_directory(services.settings.data_dir)
    stem = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    images = []
    try:
        for n, image in enumerate(result.images):
            metadata = ImageMetadata.from_generation(request, result, image)
            saved = save_image(image.image, metadata, directory, f"{stem}-{n}")
            images.append({"path": str(saved.png_path), "seed": image.seed})
    except OSError as exc:
        raise _fail(OutputWriteError(str(exc), path=str(directory), reason=exc.strerror or type(exc).__name__), lang)
    payload = {
        "images": images,
        "prompt": plan.prompt,
        "prompt_2": plan.prompt_2,
        "negative_prompt": plan.negative_prompt,
        "style": plan.style_id,
        "backend": result.backend,
        "fallback_reason": result.fallback_reason,
        "seconds": round(seconds, 2),
    }
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    for image_info in images:
        out.print(f"[green]✓[/green] {escape(image_info['path'])} [dim](seed {image_info['seed']})[/dim]")
    note = f" after fallback: {result.fallback_reason}" if result.fallback_reason else ""
    out.print(f"[dim]{result.backend} · {result.model} · {seconds:.1f}s{escape(note)}[/dim]")


async def _generate(imaging: ImagingServices, request: GenerationRequest, show_progress: bool) -> GenerationResult:
    """One backend call with a progress bar (Ctrl-C cancels between steps); the backends are freed after."""
    try:
        return await _generate_with_progress(imaging, request, show_progress)
    finally:
        await imaging.backend.aclose()


async def _generate_with_progress(imaging: ImagingServices, request: GenerationRequest, show_progress: bool) -> GenerationResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .cli import err

    cancel = CancelToken()
    if not show_progress:
        try:
            return (await imaging.backend.generate([request], None, cancel))[0]
        except asyncio.CancelledError:
            cancel.cancel()
            raise
    with Progress(
        TextColumn("Drawing 作画"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("draw", total=request.steps)

        def on_progress(event: ProgressEvent) -> None:
            bar.update(task, completed=event.step, total=event.total)

        try:
            return (await imaging.backend.generate([request], on_progress, cancel))[0]
        except asyncio.CancelledError:
            cancel.cancel()
            raise


def doctor(ctx: typer.Context) -> None:
    """Report what Huayi can use here: torch, CUDA, the image model, Stability, the index."""
    from .cli import _services, out

    services = _services(ctx)
    s = services.settings
    rows: list[tuple[str, str, str]] = []

    def row(name: str, ok: bool | None, detail: str) -> None:
        mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[yellow]–[/yellow]"}[ok]
        rows.append((mark, name, detail))

    if importlib.util.find_spec("torch") is None:
        row("torch", False, "not installed")
    else:
        import torch

        row("torch", True, torch.__version__)
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                name = torch.cuda.get_device_name(i)
                row(f"CUDA {i}", True, f"{name}, {free / 2**30:.1f} of {total / 2**30:.1f} GiB free")
        else:
            row("CUDA", None, "no GPU visible" + ("; CPU rendering allowed" if s.image_allow_cpu else ""))
    try:
        backends = services.imaging.backend.backends
    except (ImagingError, ValueError) as exc:
        row("image backends", False, str(exc))
        backends = []
    for backend in backends:
        try:
            state = backend.availability()
            row(f"backend {backend.name}", state.ok, state.reason or "ready")
            if backend.name == "local":
                row("image model", *backend.model_status())  # type: ignore[attr-defined]
        except Exception as exc:  # a broken optional component must not hide the rest of the report
            row(f"backend {backend.name}", False, f"{type(exc).__name__}: {exc}")
    row("Stability key", bool(s.stability_api_key), "set" if s.stability_api_key else "not set")
    try:
        stats = services.index(auto_build=False).stats()
        row("index", True, f"{stats.get('chunks', '?')} chunks, {stats.get('documents', stats.get('files', '?'))} documents")
    except RagError as exc:
        row("index", False, render_rag_error(exc, "en"))
    row("embedding model", True, f"{s.embedding_model} ({services.embeddings.bulk_engine} for indexing)")
    row("data directory", s.data_dir.exists(), str(s.data_dir.resolve()))
    table = Table(box=None, show_header=False)
    for cells in rows:
        table.add_row(*cells)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(styles)
    app.command()(prompt)
    app.command()(draw)
    app.command()(doctor)
