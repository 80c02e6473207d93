"""The issuer's signing keys, fetched over HTTP and cached; a new key id triggers a refetch.

Key rotation: an issuer publishes its next key before signing with it, and a token signed
with a key id the cache does not know makes it fetch the set again (at most once a second,
`min_refresh_s`, so a flood of made-up key ids costs the issuer one request a second).
Keys older than `ttl_s` keep serving while one background fetch renews them; when the
issuer cannot be reached the keys already fetched keep serving. However many requests
wait, one fetch serves them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

log = logging.getLogger(__name__)
Fetch = Callable[[str], Awaitable[dict[str, Any]]]
ANYTIME = object()  # `refresh(seen=...)` default: fetch whatever happened before


class KeysUnavailable(Exception):
    """No signing keys could be had: the issuer is unreachable and nothing is cached."""


async def _http_fetch(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc


class JwksCache:
    def __init__(
        self,
        url: str,
        ttl_s: float = 300.0,
        min_refresh_s: float = 1.0,
        fetch: Fetch = _http_fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._renewal: asyncio.Task[bool] | None = None
        self.fetches = 0

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    async def refresh(self, seen: object = ANYTIME) -> bool:
        """Fetch the key set; False (and the old keys kept) when that fails. `seen`: the
        fetch time the caller's decision was based on; if another fetch has happened since,
        while this one waited for the lock, its result stands and nothing is fetched."""
        async with self._lock:
            if seen is not ANYTIME and self._fetched_at != seen:
                return True
            self.fetches += 1
            try:
                doc = await self._fetch(self.url)
                keyset = PyJWKSet.from_dict(doc)
            except (httpx.HTTPError, ValueError, PyJWKError, PyJWKSetError) as exc:
                log.warning("signing keys not fetched", extra={"url": self.url, "error": str(exc)})
                self._fetched_at = self._clock()  # back off as after a successful fetch
                return False
            self._keys = {k.key_id or "": k for k in keyset.keys}
            self._fetched_at = self._clock()
            return True

    def _age(self) -> float:
        return float("inf") if self._fetched_at is None else self._clock() - self._fetched_at

    async def key(self, kid: str | None) -> PyJWK | None:
        """The key the token names; None when the issuer has no such key."""
        if not self._keys:
            await self.refresh(self._fetched_at)
        elif self._age() > self.ttl_s:
            self._renew()
        found = self._lookup(kid)
        if found is None and self._age() >= self.min_refresh_s:
            await self.refresh(self._fetched_at)
            found = self._lookup(kid)
        if found is None and not self._keys:
            raise KeysUnavailable(f"no signing keys from {self.url}")
        return found

    def _renew(self) -> None:
        """One background fetch at a time; requests go on with the keys at hand."""
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self.refresh(self._fetched_at), name="jwks")

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def ready(self) -> bool:
        """Keys are at hand or can be fetched now (for /ready)."""
        if self._keys and self._age() <= self.ttl_s:
            return True
        return await self.refresh(self._fetched_at) or bool(self._keys)
