"""The keys a service uses, cached with a bound: what `schemas.sealing` asks for.

Reading a log seals and opens thousands of records a second: each key is fetched from the
store once and kept as a ready cipher, the least recently used dropped beyond `max_keys`.
A key found missing is remembered as missing (a sealed record names a key only after it was
made, so a missing one was deleted and stays deleted). Reading an erasure drops the
citizen's entry (`forget`, called by the registry), so the next look-up asks the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.keys.store import KeyStore

DEFAULT_MAX_KEYS = 20_000


class CachedKeyRing:
    def __init__(self, store: KeyStore, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.store = store
        self._max = max_keys
        self._cache: OrderedDict[str, AESGCM | None] = OrderedDict()
        self._lock = threading.Lock()
        self.lookups = 0  # store reads: what the cache saves

    def opener(self, key_id: str) -> AESGCM | None:
        try:
            with self._lock:
                aead = self._cache[key_id]
                self._cache.move_to_end(key_id)
            return aead
        except KeyError:
            pass
        self.lookups += 1
        key = self.store.get(key_id)
        return self._remember(key_id, AESGCM(key) if key is not None else None)

    def sealer(self, key_id: str) -> AESGCM | None:
        aead = self.opener(key_id)
        if aead is not None:
            return aead
        self.lookups += 1
        key = self.store.get_or_create(key_id)
        return self._remember(key_id, AESGCM(key) if key is not None else None)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def erase(self, key_id: str) -> None:
        """Delete the citizen's key in the store and here."""
        self.store.erase(key_id)
        self.forget(key_id)

    def is_erased(self, key_id: str) -> bool:
        return self.store.is_erased(key_id)

    def __len__(self) -> int:
        return len(self._cache)

    def __bool__(self) -> bool:
        # A ring is there whether or not it has cached a key yet (`if ring:` must not
        # mean "has keys cached": that once wrote a card unsealed).
        return True

    def _remember(self, key_id: str, aead: AESGCM | None) -> AESGCM | None:
        with self._lock:
            self._cache[key_id] = aead
            self._cache.move_to_end(key_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return aead
