"""`jobmatch projections`: rebuild the profile views from the log, and fingerprint them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

projections_app = typer.Typer(help="The profile views (read side).", no_args_is_help=True)
err = Console(stderr=True)

# The defaults are where `jobmatch up` (port base 8700) puts the broker and Redis.
Bootstrap = Annotated[
    str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port of the broker")
]
RedisUrl = Annotated[str, typer.Option(envvar="REDIS_URL", help="redis:// URL of the views")]


@projections_app.command("rebuild")
def rebuild_command(
    bootstrap: Bootstrap = "127.0.0.1:8703",
    redis_url: RedisUrl = "redis://127.0.0.1:8704/0",
    keep_old: Annotated[bool, typer.Option(help="Keep the old keyspace after the switch")] = False,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds before dropping the old keyspace")
    ] = 2.0,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes replaying the log [default: one a core, <= 8]"),
    ] = None,
    without_keys: Annotated[
        bool,
        typer.Option(help="Rebuild with no key store: sealed personal data reads as erased"),
    ] = False,
    keystore: Annotated[
        str | None,
        typer.Option(
            envvar="KEYSTORE_PATH",
            help="The key store sealed events are opened with "
            "[default: $JOBMATCH_HOME/keys/keys.sqlite if there]",
        ),
    ] = None,
) -> None:
    """Replay the whole log into a fresh keyspace, then switch readers over to it at once.

    Worker processes replay the log's partitions in parallel. The running profiles service
    goes on serving the old views meanwhile, and follows the switch by itself."""
    from pathlib import Path

    from services.keys.cli import default_keystore
    from services.profiles.rebuild import RebuildFailed, RebuildRunning, rebuild

    if keystore is None and Path(default_keystore()).is_file():
        keystore = default_keystore()
    if not without_keys and not (keystore and Path(keystore).is_file()):
        # Without the keys every sealed card, note and reason would be rebuilt as erased.
        err.print(
            "[red]Ingen nøglebutik fundet (--keystore / KEYSTORE_PATH / $JOBMATCH_HOME/keys): "
            "uden den ville alle forseglede personoplysninger blive genopbygget som slettede. "
            "No key store found: sealed personal data would be rebuilt as erased "
            "(--without-keys to rebuild anyway).[/red]"
        )
        raise typer.Exit(2)

    async def run() -> None:
        redis = Redis.from_url(redis_url)
        columns = (
            TextColumn("rebuilding views"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=err) as bar:
                task = bar.add_task("rebuild", total=None)

                def show(done: int, known: int) -> None:
                    bar.update(task, completed=done, total=max(known, done) or None)

                report = await rebuild(
                    bootstrap,
                    redis,
                    progress=show,
                    keep_old=keep_old,
                    grace_s=grace,
                    workers=workers,
                    keystore=keystore or "",
                )
        except (RebuildRunning, RebuildFailed) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        finally:
            await redis.aclose()
        err.print(
            f"rebuilt {report.events:,} events ({report.skipped} malformed skipped) in "
            f"{report.seconds:.1f} s with {report.workers} workers: {report.rate:,.0f} events/s"
        )
        dropped = "kept" if report.dropped_keys is None else f"dropped {report.dropped_keys} keys"
        err.print(f"readers now use {report.prefix} (was {report.previous}: {dropped})")
        print(report.prefix)

    asyncio.run(run())


@projections_app.command("checksum")
def checksum_command(
    redis_url: RedisUrl = "redis://127.0.0.1:8704/0",
    prefix: Annotated[
        str | None, typer.Option("--keyspace", help="A keyspace prefix (default: the active)")
    ] = None,
) -> None:
    """Print a digest of every view in a keyspace: equal views, equal digests."""
    from services.profiles import keyspace

    async def run() -> None:
        redis = Redis.from_url(redis_url)
        try:
            chosen = prefix or await keyspace.active(redis)
            result = await keyspace.checksum(redis, chosen)
        finally:
            await redis.aclose()
        print(f"{result.digest}  {result.keys} keys  {chosen}")

    asyncio.run(run())
