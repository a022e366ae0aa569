"""`huayi run`: the Discord bot from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    from .cli import _services

    @app.command("run")
    def run(ctx: typer.Context) -> None:
        """Start the Discord bot (needs DISCORD_TOKEN; see README → Discord)."""
        from .app import HuayiBot
        from .runner import BotStartError, check_token, run_bot

        services = _services(ctx)
        try:
            check_token(services.settings.discord_token)
            run_bot(services.settings, HuayiBot(services.settings, services))
        except BotStartError as exc:
            Console(stderr=True, soft_wrap=True).print(f"[red]✗[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
