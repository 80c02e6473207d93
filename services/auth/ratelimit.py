"""A token bucket per caller: `rate` requests a second sustained, bursts up to `burst`."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_CALLERS = 100_000


class RateLimiter:
    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, caller: str) -> float | None:
        """None if the request may go ahead, else the seconds until it may (Retry-After)."""
        if not self.enabled:
            return None
        now = self._clock()
        tokens, at = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= MAX_CALLERS and caller not in self._buckets:
            self._forget_full(now)
        self._buckets[caller] = (tokens - 1.0, now)
        return None

    def _forget_full(self, now: float) -> None:
        """Callers whose bucket has refilled are the same as callers never seen."""
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
