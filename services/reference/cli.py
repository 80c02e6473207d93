"""`jobmatch taxonomy ...`: ESCO look-ups from the command line (mounted by services.cli)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

taxonomy_app = typer.Typer(help="ESCO taxonomy look-ups.", no_args_is_help=True)

LANGS = ("da", "en")


@taxonomy_app.callback()
def _group() -> None:
    # A callback keeps `link` a sub-command even while it is the only one.
    """ESCO taxonomy look-ups."""


@taxonomy_app.command()
def link(
    input: Annotated[
        str, typer.Option("--input", "-i", help="File with one job title per line; - = stdin")
    ] = "-",
    lang: Annotated[str, typer.Option(help="Label language: da (falls back to en) or en")] = "da",
    top: Annotated[int, typer.Option(min=1, max=100, help="Occupations per title")] = 10,
) -> None:
    """Link job titles to ESCO occupations; one JSON line per title on stdout."""
    from services.reference.esco import load_taxonomy, occupation_label

    if lang not in LANGS:
        raise typer.BadParameter(f"must be one of {', '.join(LANGS)}", param_hint="--lang")
    taxonomy = load_taxonomy()

    def run(lines: TextIO) -> None:
        for line in lines:
            title = line.strip()
            if not title:
                continue
            results = [
                {
                    "uri": uri,
                    "label": occupation_label(taxonomy.occupations[uri], lang),
                    "score": round(score, 4),
                }
                for uri, score in taxonomy.link_occupation(title, top=top)
            ]
            typer.echo(json.dumps({"query": title, "results": results}, ensure_ascii=False))

    if input == "-":
        run(sys.stdin)
    else:
        with Path(input).open(encoding="utf-8") as fh:
            run(fh)
