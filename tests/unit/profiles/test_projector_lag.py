"""Consumer lag per topic and per view, from the fetch highwater and the tracked positions."""

from __future__ import annotations

from typing import Any

from schemas.topics import CITIZENS, PLACEMENTS
from services.projection.projector import Projector


def _projector() -> Projector:
    store: Any = None  # not touched: lag is computed from memory
    projector = Projector("127.0.0.1:1", store, topics=(CITIZENS, PLACEMENTS))
    projector.highwater = {(CITIZENS.name, 0): 10, (CITIZENS.name, 1): 4, (PLACEMENTS.name, 2): 7}
    projector.positions = {(CITIZENS.name, 0): 8, (CITIZENS.name, 1): 4}
    return projector


def test_lag_is_per_topic_and_summed() -> None:
    projector = _projector()
    assert projector.lag_by_topic() == {CITIZENS.name: 2, PLACEMENTS.name: 7}
    assert projector.lag() == 9


def test_caught_up_needs_every_partition_end_known_and_reached() -> None:
    projector = _projector()
    assert not projector.caught_up()
    for topic in (CITIZENS, PLACEMENTS):
        for p in range(topic.partitions):
            projector.highwater[(topic.name, p)] = 3
            # Projected and being committed: the positions catch up when the commit lands.
            projector._projected[(topic.name, p)] = 3
    assert projector.caught_up()
    del projector.highwater[(PLACEMENTS.name, 1)]
    assert not projector.caught_up(), "an unknown end is not reached"
