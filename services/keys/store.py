"""What a key store does: one AES-256 key per citizen, and a tombstone once it is deleted.

A deleted key is never made again: the tombstone makes `get_or_create` refuse, so a command
racing an erasure cannot give the citizen a new key. Implementations: `SqliteKeyStore` (the
embedded stack; a file under the data folder), `MemoryKeyStore` (unit tests); production
puts Vault transit or a cloud KMS behind the same interface (docs/privacy.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class KeyStore(Protocol):
    def get(self, key_id: str) -> bytes | None:
        """The key, or None (never made, or deleted)."""

    def get_or_create(self, key_id: str) -> bytes | None:
        """The key, made now if there is none; None if it was deleted (erased)."""

    def erase(self, key_id: str) -> None:
        """Delete the key for good and leave a tombstone (idempotent)."""

    def is_erased(self, key_id: str) -> bool: ...

    def unannounced(self, older_than_s: float = 0.0) -> list[str]:
        """Key ids erased at least `older_than_s` ago whose `CitizenErased` is not yet known
        to be in the log."""

    def announced(self, key_id: str) -> None:
        """The `CitizenErased` of `key_id` is in the log."""

    def backup(self, dest: Path) -> int:
        """A consistent copy of the store at `dest`; returns how many keys it holds."""

    def close(self) -> None: ...
