"""The key stores: a key per citizen, a tombstone that keeps it from coming back, the cache."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from services.keys.memory import MemoryKeyStore
from services.keys.ring import CachedKeyRing
from services.keys.sqlite import KeyStoreError, SqliteKeyStore
from services.keys.store import KeyStore


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    if request.param == "memory":
        return MemoryKeyStore()
    return SqliteKeyStore(tmp_path / "keys" / "keys.sqlite")


def test_a_key_is_made_once_and_deleted_for_good(store: KeyStore) -> None:
    assert store.get("cit-1") is None
    key = store.get_or_create("cit-1")
    assert key is not None and len(key) == 32
    assert store.get_or_create("cit-1") == key == store.get("cit-1")
    assert store.get_or_create("cit-2") != key
    store.erase("cit-1")
    store.erase("cit-1")  # idempotent
    assert store.get("cit-1") is None and store.is_erased("cit-1")
    assert store.get_or_create("cit-1") is None, "an erased citizen never gets a new key"
    assert store.unannounced() == ["cit-1"]
    store.announced("cit-1")
    assert store.unannounced() == []


def test_the_sqlite_file_keeps_no_trace_of_a_deleted_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keys.sqlite"
    store = SqliteKeyStore(path)
    keys = [store.get_or_create(f"cit-{i}") for i in range(50)]
    store.erase("cit-7")
    doomed = keys[7]
    assert doomed is not None
    for file in path.parent.iterdir():
        assert doomed not in file.read_bytes(), file.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Another process (a second store on the file) sees the deletion.
    other = SqliteKeyStore(path)
    assert other.get("cit-7") is None and other.get("cit-8") == keys[8]
    assert other.get_or_create("cit-7") is None
    other.close()
    store.close()


def test_a_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "keys.sqlite")
    key = store.get_or_create("cit-1")
    store.get_or_create("cit-2")
    store.erase("cit-2")
    dest = tmp_path / "backup" / "keys.sqlite"
    assert store.backup(dest) == 1
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    copy = SqliteKeyStore(dest)
    assert copy.get("cit-1") == key and copy.is_erased("cit-2")
    copy.close()
    with pytest.raises(KeyStoreError):
        store.backup(dest)
    store.close()
    with sqlite3.connect(dest) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_ring_caches_with_a_bound_and_forgets() -> None:
    store = MemoryKeyStore()
    ring = CachedKeyRing(store, max_keys=3)
    for i in range(5):
        assert ring.sealer(f"cit-{i}") is not None
    assert len(ring) == 3
    lookups = ring.lookups
    assert ring.opener("cit-4") is not None and ring.lookups == lookups
    ring.erase("cit-4")
    assert ring.opener("cit-4") is None and ring.sealer("cit-4") is None
    assert ring.opener("cit-0") is not None, "dropped from the cache, still in the store"


def test_an_empty_ring_is_still_a_ring() -> None:
    """`if ring:` on a ring with nothing cached yet once left a card unsealed."""
    from services.keys.memory import MemoryKeyStore
    from services.keys.ring import CachedKeyRing

    ring = CachedKeyRing(MemoryKeyStore())
    assert len(ring) == 0 and bool(ring)
