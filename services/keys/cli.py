"""`jobmatch keys` (the key store) and `jobmatch privacy` (the one-off migration)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

keys_app = typer.Typer(help="The citizens' data keys (crypto-shredding).", no_args_is_help=True)
privacy_app = typer.Typer(help="Personal data in the log.", no_args_is_help=True)
err = Console(stderr=True)


def default_keystore() -> str:
    """Where `jobmatch up` keeps the key store: under $JOBMATCH_HOME (default ./var)."""
    from services.keys.setup import keystore_path

    return str(keystore_path(Path(os.environ.get("JOBMATCH_HOME", "var")).resolve()))


Keystore = Annotated[
    str | None,
    typer.Option(
        envvar="KEYSTORE_PATH",
        help="The key store's SQLite file [default: $JOBMATCH_HOME/keys/keys.sqlite]",
    ),
]
Bootstrap = Annotated[
    str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port of the broker")
]


def _existing(keystore: str | None) -> Path:
    path = Path(keystore or default_keystore())
    if not path.is_file():
        err.print(f"[red]no key store at {path}[/red]")
        raise typer.Exit(1)
    return path


@keys_app.command("backup")
def backup_command(
    dest: Annotated[Path, typer.Argument(help="The copy to write (must not exist)")],
    keystore: Keystore = None,
) -> None:
    """Copy the key store consistently (SQLite's online backup) while services run.

    Keep the copy as safe as the store: it holds every citizen's key. A key deleted by an
    erasure after the copy was taken is still in the copy: rotate backups out (docs/privacy.md)."""
    from services.keys.sqlite import KeyStoreError, SqliteKeyStore

    store = SqliteKeyStore(_existing(keystore))
    try:
        count = store.backup(dest)
    except KeyStoreError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        store.close()
    err.print(f"{count} keys copied to {dest}")


@privacy_app.command("migrate")
def migrate_command(bootstrap: Bootstrap = "127.0.0.1:8703", keystore: Keystore = None) -> None:
    """Seal the personal fields of events written before sealing (one-off; services stopped).

    Copies jobmatch.citizens and jobmatch.placements through staging topics with every
    event's personal fields sealed, under the same names, partitions and offsets; resumable.
    Afterwards: `jobmatch projections rebuild` (see docs/privacy.md)."""
    from services.keys.migrate import MigrationError, migrate
    from services.keys.ring import CachedKeyRing
    from services.keys.sqlite import SqliteKeyStore

    path = Path(keystore or default_keystore())
    store = SqliteKeyStore(path)
    try:
        report = asyncio.run(
            migrate(bootstrap, CachedKeyRing(store), path.with_name("migrate-state.json"))
        )
    except MigrationError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        store.close()
    for t in report.topics:
        err.print(
            f"{t.topic}: {t.records} records, {t.sealed} sealed, {t.already_sealed} were "
            f"sealed already, {t.copied_as_is} copied as they were (not events)"
        )
