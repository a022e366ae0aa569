"""`huayi` command line: index, ask, chat, styles, prompt, draw and doctor."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from contextlib import contextmanager
from typing import Annotated, Iterator, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from rag.answer import Answer
from rag.conversation import Turn
from rag.errors import InvalidQuestionError, RagError
from rag.messages import render_error
from rag.text import Lang, detect_lang

from .cli_bot import register as register_bot
from .cli_imaging import register as register_imaging
from .services import Services
from .settings import load_settings

__all__ = ["app", "main", "run_main"]

app = typer.Typer(
    help="Huayi (花艺): floral Q&A and flower art for Discord communities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)


def _ui_lang() -> Lang:
    locale = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh" if locale.lower().startswith("zh") else "en"


def _services(ctx: typer.Context | None = None) -> Services:
    """The Services passed by the caller (tests, embedding hosts) or a fresh set from settings."""
    if ctx is not None and isinstance(ctx.obj, Services):
        return ctx.obj
    try:
        settings = load_settings()
    except ValidationError as exc:
        for problem in exc.errors():
            name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
            err.print(f"[red]✗[/red] {escape(name)}: {escape(problem['msg'].removeprefix('Value error, '))}")
        err.print("See .env.example for every setting. 每个设置项的说明见 .env.example。")
        raise typer.Exit(2)
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return Services(settings)


def _fail(error: RagError, lang: Lang, code: int = 1) -> typer.Exit:
    err.print(f"[red]✗[/red] {escape(render_error(error, lang))}")
    return typer.Exit(code)


@contextmanager
def _index_progress(enabled: bool) -> Iterator[object]:
    """A rich progress bar for long index runs; silent when output is not a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    labels = {
        "load": "Reading documents",
        "embed": "Embedding chunks",
        "bm25": "Building BM25",
        "dictionary": "Writing the query dictionary",
    }
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    ) as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(labels.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield update


@app.command()
def index(
    ctx: typer.Context,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything from scratch.")] = False) -> None:
    """Build or update the knowledge index (only changed files are re-embedded)."""
    services = _services(ctx)
    lang = _ui_lang()
    try:
        with _index_progress(err.is_terminal) as progress:
            report = services.build_index(rebuild=rebuild, progress=progress)  # type: ignore[arg-type]
    except RagError as exc:
        raise _fail(exc, lang)
    out.print(
        f"[green]✓[/green] index {report.version}: {report.chunks} chunks "
        f"(+{len(report.added)} new, ~{len(report.updated)} changed, -{len(report.removed)} removed, "
        f"{report.unchanged} unchanged; {report.embedded_chunks} chunks embedded) in {report.seconds:.1f}s"
    )
    for path, reason in report.skipped.items():
        err.print(f"[yellow]![/yellow] skipped {escape(path)}: {escape(reason)}")


def _print_answer(answer: Answer) -> None:
    style = "yellow" if answer.abstained else "green"
    out.print(Panel(escape(answer.text), border_style=style, title="花艺 Huayi"))
    for n, source in enumerate(answer.sources, start=1):
        out.print(f"  [bold][{n}][/bold] {escape(source.title)} [dim]— {escape(source.path)} ({source.score:.3f})[/dim]")
    if answer.fallback_reason:
        err.print(f"[dim]LLM unavailable ({escape(answer.fallback_reason)}); extractive answer shown.[/dim]")


def _error_json(error: RagError, lang: Lang) -> dict[str, object]:
    return {"answer": render_error(error, lang), "abstained": True, "sources": [], "error": error.code}


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help='The question, or "-" to read one question per line from stdin.')],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of formatted text.")] = False,
    mode: Annotated[str, typer.Option(help="Retrieval mode: hybrid, dense or bm25.")] = "hybrid",
) -> None:
    """Ask the knowledge base a question, in Chinese or English."""
    if mode not in {"hybrid", "dense", "bm25"}:
        err.print(f"[red]✗[/red] --mode must be hybrid, dense or bm25, not {escape(mode)!r}")
        raise typer.Exit(2)
    services = _services(ctx)
    if question == "-":
        _ask_stream(services, as_json, mode)
        return
    lang = detect_lang(question) if question.strip() else _ui_lang()
    try:
        with _index_progress(err.is_terminal) as progress:
            rag = services.rag(progress=progress)  # type: ignore[arg-type]
        answer = rag.ask(question, mode=mode)  # type: ignore[arg-type]
    except InvalidQuestionError as exc:
        if as_json:
            out.print_json(data=_error_json(exc, lang))
        raise _fail(exc, lang, code=2)
    except RagError as exc:
        raise _fail(exc, lang)
    if as_json:
        sys.stdout.write(json.dumps(answer.as_json(), ensure_ascii=False) + "\n")
    else:
        _print_answer(answer)


def _ask_stream(services: Services, as_json: bool, mode: str) -> None:
    """One question per stdin line, one answer per line, same order, one warm process."""
    try:
        with _index_progress(err.is_terminal) as progress:
            rag = services.rag(progress=progress)  # type: ignore[arg-type]
    except RagError as exc:
        raise _fail(exc, _ui_lang())
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        lang = detect_lang(line) if line.strip() else _ui_lang()
        try:
            payload = rag.ask(line, mode=mode).as_json()  # type: ignore[arg-type]
        except RagError as exc:
            payload = _error_json(exc, lang)
        if as_json:
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(str(payload["answer"]) + "\n\n")
        sys.stdout.flush()


@app.command()
def chat(ctx: typer.Context) -> None:
    """An interactive, multi-turn conversation in the terminal (/reset, /exit)."""
    services = _services(ctx)
    lang = _ui_lang()
    try:
        with err.status("Loading the knowledge base… 正在加载知识库…"):
            rag = services.rag()
    except RagError as exc:
        raise _fail(exc, lang)
    out.print("[bold]花艺 Huayi[/bold] — ask about flowers in 中文 or English. /reset starts over, /exit quits.")
    history: list[Turn] = []
    while True:
        try:
            line = out.input("[bold cyan]› [/bold cyan]")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if line.strip() in {"/exit", "/quit"}:
            return
        if line.strip() == "/reset":
            history.clear()
            out.print("[dim]Conversation cleared. 已开始新的对话。[/dim]")
            continue
        if not line.strip():
            continue
        try:
            answer = rag.ask(line, history)
        except RagError as exc:
            err.print(f"[red]✗[/red] {escape(render_error(exc, detect_lang(line)))}")
            continue
        _print_answer(answer)
        history += [Turn("user", line), Turn("assistant", answer.text)]


register_imaging(app)
register_bot(app)


def _end_process(code: object) -> NoReturn:
    """End the `huayi` process without tearing the interpreter down, when that is safe.

    A command's files are closed (the index is fsynced) before it returns. What is left
    is freeing torch, jieba's dictionary and a gigabyte of arrays object by object, which
    took 2-3 s after `huayi index` on a small VM and served nobody. If a Python thread
    is still working (the bot's lanes after a stop), the normal exit waits for it.
    """
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(status)


def main() -> None:
    """The `huayi` console script."""
    try:
        app()
    except SystemExit as exc:
        _end_process(exc.code)


def run_main() -> None:
    """`python -m bot`: the same as `huayi run`."""
    app(args=["run"], prog_name="python -m bot")


if __name__ == "__main__":
    main()
