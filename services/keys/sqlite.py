"""The embedded stack's key store: a SQLite file under the data folder, shared by its services.

Every process opens the file itself (WAL: readers do not block the writer; a busy timeout
for the rare concurrent writers). Deleting a key must leave no copy behind in the file:
`secure_delete` overwrites the freed page content with zeros, and the write-ahead log, which
still holds the page as it was, is checkpointed and truncated right after the deletion.
The file is created mode 0600 in a 0700 folder. `backup` uses SQLite's online backup API,
so a copy taken while services run is consistent.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.sealing import KEY_BYTES, new_key

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erased (
    key_id TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    announced INTEGER NOT NULL DEFAULT 0
);
"""


class KeyStoreError(RuntimeError):
    """The key store cannot do what was asked (damaged, unwritable, a checkpoint that
    would not complete)."""


class SqliteKeyStore:
    def __init__(self, path: Path | str, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE).
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def get(self, key_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM data_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return _key(row[0]) if row else None

    def get_or_create(self, key_id: str) -> bytes | None:
        found = self.get(key_id)
        if found is not None:
            return found
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM erased WHERE key_id = ?", (key_id,)).fetchone():
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    "INSERT OR IGNORE INTO data_keys (key_id, key, created_at) VALUES (?, ?, ?)",
                    (key_id, new_key(), _now()),
                )
                row = self._db.execute(
                    "SELECT key FROM data_keys WHERE key_id = ?", (key_id,)
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _key(row[0])

    def erase(self, key_id: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM data_keys WHERE key_id = ?", (key_id,))
                self._db.execute(
                    "INSERT OR IGNORE INTO erased (key_id, erased_at) VALUES (?, ?)",
                    (key_id, _now()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._checkpoint()

    def _checkpoint(self, attempts: int = 50) -> None:
        """Copy the WAL into the database and truncate it, so that the page that held the
        deleted key survives nowhere. Another process reading at that moment can hold the
        checkpoint back: try again for a while, then fail loudly."""
        for _ in range(attempts):
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.02)
        raise KeyStoreError("the key store's write-ahead log could not be checkpointed")

    def is_erased(self, key_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM erased WHERE key_id = ?", (key_id,)).fetchone()
        return row is not None

    def unannounced(self, older_than_s: float = 0.0) -> list[str]:
        before = (datetime.now(UTC) - timedelta(seconds=older_than_s)).isoformat()
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id FROM erased WHERE announced = 0 AND erased_at <= ? "
                "ORDER BY erased_at",
                (before,),
            ).fetchall()
        return [r[0] for r in rows]

    def announced(self, key_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE erased SET announced = 1 WHERE key_id = ?", (key_id,))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM data_keys").fetchone()[0])

    def backup(self, dest: Path) -> int:
        """A consistent copy at `dest` (a new file, mode 0600): SQLite's online backup."""
        dest = Path(dest)
        if dest.exists():
            raise KeyStoreError(f"{dest} exists: a backup never overwrites a file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        target = sqlite3.connect(dest)
        try:
            with self._lock:
                self._db.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
            (count,) = target.execute("SELECT count(*) FROM data_keys").fetchone()
        finally:
            target.close()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(value: bytes) -> bytes:
    if len(value) != KEY_BYTES:
        raise KeyStoreError("a stored key has the wrong length")
    return bytes(value)


def _now() -> str:
    return datetime.now(UTC).isoformat()
