"""The token bucket: a burst, then the sustained rate."""

from __future__ import annotations

from services.auth.ratelimit import RateLimiter


def test_a_burst_then_the_rate_and_the_wait_is_told() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=120, burst=5, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(5)] == [None] * 5
    wait = limiter.take("a")
    assert wait is not None and 0.4 < wait <= 0.5  # two a second
    now[0] += 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") is not None
    assert limiter.take("b") is None  # per caller


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(per_minute=0, burst=1)
    assert not limiter.enabled
    assert all(limiter.take("a") is None for _ in range(1000))
