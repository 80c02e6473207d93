"""Wiring a process to the key store: called by each composition root, never at import."""

from __future__ import annotations

import logging
from pathlib import Path

from schemas import sealing
from services.keys.ring import CachedKeyRing
from services.keys.sqlite import SqliteKeyStore
from services.keys.store import KeyStore

log = logging.getLogger(__name__)

KEYSTORE_FILE = Path("keys") / "keys.sqlite"


def keystore_path(home: Path) -> Path:
    """Where the embedded stack keeps its key store under the data folder."""
    return home / KEYSTORE_FILE


def install_keystore(path: str | Path | None, service: str) -> CachedKeyRing | None:
    """Open the store at `path` and make its ring the process's (every event written is
    sealed, every one read opened). Without a path, personal fields are written in plain
    text: said once in the log, loudly, since an erasure then cannot reach the log."""
    if not path:
        log.warning(
            "no key store (KEYSTORE_PATH): personal fields are written unsealed",
            extra={"service": service},
        )
        sealing.install(None)
        return None
    resolved = Path(path).resolve()
    ring = _open.get(resolved)
    if ring is None:
        ring = _open[resolved] = CachedKeyRing(SqliteKeyStore(resolved))
    sealing.install(ring)
    return ring


# One store (and cache) per file and process, open until the process ends: services that
# share a process (tests) share it, and none can close it under another.
_open: dict[Path, CachedKeyRing] = {}


def install_store(store: KeyStore) -> CachedKeyRing:
    ring = CachedKeyRing(store)
    sealing.install(ring)
    return ring


def installed_ring() -> CachedKeyRing | None:
    ring = sealing.installed()
    return ring if isinstance(ring, CachedKeyRing) else None


def installed_keystore_path() -> str:
    """The file of the process's key store, for child processes to open ("" if none)."""
    ring = installed_ring()
    store = ring.store if ring is not None else None
    return str(store.path) if isinstance(store, SqliteKeyStore) else ""
