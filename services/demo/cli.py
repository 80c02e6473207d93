"""`jobmatch demo ...`: the synthetic history for cold-start training (mounted by services.cli)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

demo_app = typer.Typer(help="Demo and synthetic data.")


@demo_app.callback()
def _group() -> None:
    # A callback keeps `generate` a sub-command even while it is the only one.
    """Demo and synthetic data."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("must be a date, YYYY-MM-DD", param_hint="--start") from None


@demo_app.command()
def generate(
    cards: Annotated[int, typer.Option(min=1, help="Competence cards (citizens)")] = 2000,
    orders: Annotated[int, typer.Option(min=1, help="Job orders")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files")] = 7,
    months: Annotated[int, typer.Option(min=1, max=120, help="Length of the history")] = 18,
    start: Annotated[str, typer.Option(help="First day of the history (YYYY-MM-DD)")] = (
        "2025-01-01"
    ),
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("var/synthetic"),
) -> None:
    """Write a SYNTHETIC history (cards, orders, outcome events, monitoring, hidden truth).

    Not real citizens or employers: a model trained on it is trained on synthetic data.
    """
    from services.demo.synthetic import SYNTHETIC_NOTE, generate, write_history

    first = _date(start)
    began = time.perf_counter()
    history = generate(cards, orders, seed, first, months)
    paths = write_history(history, out)
    took = time.perf_counter() - began
    typer.echo(SYNTHETIC_NOTE, err=True)
    for path in paths.values():
        data = path.read_bytes()
        lines = data.count(b"\n")
        typer.echo(f"{path}: {lines} lines, {len(data)} bytes", err=True)
    typer.echo(
        f"generated {cards} cards, {orders} orders, {len(history.events)} events "
        f"({history.start} to {history.end}, seed {seed}) in {took:.1f} s",
        err=True,
    )
