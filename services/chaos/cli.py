"""`jobmatch chaos`: a fault drill against a stack of its own, and its report."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

chaos_app = typer.Typer(
    help="Fault drill: SIGKILL services and the broker under load, then reconcile the log."
)


@chaos_app.callback(invoke_without_command=True)
def chaos(
    kills: Annotated[int, typer.Option(min=0, help="SIGKILLs of each kind of process")] = 2,
    commands_per_kill: Annotated[
        int, typer.Option(min=1, help="Commands decided (any answer but 429/503) between faults")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seeds the schedule and the workload")] = 1,
    home: Annotated[
        Path | None, typer.Option(help="Data folder of the drill's stack (default: a temp dir)")
    ] = None,
    port_base: Annotated[
        int | None, typer.Option(help="Ports as `jobmatch up` lays them out (default: free ones)")
    ] = None,
    memory: Annotated[
        bool,
        typer.Option(help="Memory storage (broker kills are then skipped); default: durable"),
    ] = False,
    launcher: Annotated[
        str,
        typer.Option(
            help="stack: in-process, killed pieces brought back by services.stack.Supervisor "
            "(by the harness where there is none); up: run `jobmatch up` and rely on it"
        ),
    ] = "stack",
    only: Annotated[
        str | None,
        typer.Option(help="Kinds to kill, comma-separated (matching,profiles,events,broker)"),
    ] = None,
    flush: Annotated[bool, typer.Option(help="Wipe Redis (FLUSHALL) once during the run")] = True,
    lanes: Annotated[int, typer.Option(min=1, help="Concurrent consultants sending commands")] = 6,
    readers: Annotated[int, typer.Option(min=0, help="Concurrent readers of the views")] = 2,
    recover_timeout: Annotated[
        float, typer.Option(help="Seconds a killed process has to be ready again")
    ] = 180.0,
    rebuild: Annotated[
        bool, typer.Option(help="Compare the views' checksum with a rebuild's at the end")
    ] = True,
    rebuild_timeout: Annotated[
        float, typer.Option(help="Seconds the rebuild may take before it counts as failed")
    ] = 600.0,
    replay: Annotated[
        bool, typer.Option(help="Compare the matching state with a fresh replay's at the end")
    ] = True,
    keep_home: Annotated[bool, typer.Option(help="Keep the temp data folder (logs)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    json_file: Annotated[
        Path | None, typer.Option(help="Also write the report as JSON here (every finding)")
    ] = None,
) -> None:
    """Start a stack of its own, drive commands and queries while SIGKILLing the matching
    worker, the profiles and events services and the broker at random moments (and wiping
    Redis once), restart them, then read the whole log and check that every 202 is in it
    once, that no view misses an event, that no suggestion is doubled or orphaned, that
    the matching state equals a fresh replay's and the views' checksum a rebuild's.
    Exits 1 if any invariant fails."""
    from services.chaos.faults import KILLABLE
    from services.chaos.run import ChaosOptions, run_chaos

    # The harness probes a killed broker on purpose: its clients' reconnect noise is not news.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    if launcher not in ("stack", "up"):
        raise typer.BadParameter("must be stack or up", param_hint="--launcher")
    kinds = tuple(k.strip() for k in only.split(",") if k.strip()) if only else KILLABLE
    unknown = set(kinds) - set(KILLABLE)
    if unknown:
        raise typer.BadParameter(f"unknown: {', '.join(sorted(unknown))}", param_hint="--only")
    options = ChaosOptions(
        kills=kills,
        commands_per_kill=commands_per_kill,
        seed=seed,
        storage="memory" if memory else "durable",
        launcher=launcher,  # type: ignore[arg-type]
        kinds=kinds,
        flush=flush,
        lanes=lanes,
        readers=readers,
        recover_timeout=recover_timeout,
        rebuild_check=rebuild,
        rebuild_timeout=rebuild_timeout,
        replay_check=replay,
        home=home.resolve() if home else None,
        port_base=port_base,
        keep_home=keep_home,
    )
    report = asyncio.run(run_chaos(options))
    if json_file is not None:
        json_file.write_text(json.dumps(report.to_json(samples=100_000), indent=1) + "\n")
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        report.render(Console())
    raise typer.Exit(0 if report.ok else 1)
