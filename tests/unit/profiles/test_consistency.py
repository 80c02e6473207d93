"""Read tokens and waiting for them (pure parts)."""

from __future__ import annotations

import pytest

from services.profiles.consistency import etag_of, parse_positions, reached


def test_tokens_parse_and_compare() -> None:
    positions = parse_positions("jobmatch.job-orders:2:17, jobmatch.employers:0:3")
    assert positions == [("jobmatch.job-orders", 2, 17), ("jobmatch.employers", 0, 3)]
    applied = {("jobmatch.job-orders", 2): 18, ("jobmatch.employers", 0): 3}
    assert not reached(applied, positions), "offset 3 is applied only when the next is 4"
    applied[("jobmatch.employers", 0)] = 4
    assert reached(applied, positions)
    for bad in ("", "topic", "topic:x:1", "topic:1:-2", ":1:2"):
        with pytest.raises(ValueError):
            parse_positions(bad)


def test_etags_follow_the_content() -> None:
    assert etag_of({"a": 1, "b": 2}) == etag_of({"b": 2, "a": 1})
    assert etag_of({"a": 1}) != etag_of({"a": 2})
