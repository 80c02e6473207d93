"""A key store in a dict: for unit tests of pure code, and throwaway runs."""

from __future__ import annotations

from pathlib import Path

from schemas.sealing import new_key


class MemoryKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.erased: dict[str, bool] = {}  # key id -> announced

    def get(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)

    def get_or_create(self, key_id: str) -> bytes | None:
        if key_id in self.erased:
            return None
        return self.keys.setdefault(key_id, new_key())

    def erase(self, key_id: str) -> None:
        self.keys.pop(key_id, None)
        self.erased.setdefault(key_id, False)

    def is_erased(self, key_id: str) -> bool:
        return key_id in self.erased

    def unannounced(self, older_than_s: float = 0.0) -> list[str]:
        return sorted(k for k, done in self.erased.items() if not done)

    def announced(self, key_id: str) -> None:
        if key_id in self.erased:
            self.erased[key_id] = True

    def backup(self, dest: Path) -> int:
        raise NotImplementedError("a memory key store has nothing to back up")

    def close(self) -> None:
        pass
