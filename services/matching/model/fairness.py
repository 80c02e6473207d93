"""Selection rates per monitored group, relative to the eligible pool (four-fifths rule).

Monitoring attributes (gender, origin group) live outside the cards and the events, are
optional, and count only for citizens who consented to monitoring. They are never features:
this module reads them to check the outcome, not to make it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ErasureRequested,
)
from schemas.envelope import Event
from schemas.placements import CandidatePresented, PlacementStarted, PlacementSuggested
from schemas.reports import GroupRate

Stage = Literal["suggested", "presented", "hired"]
FOUR_FIFTHS = 0.8
_STAGE_EVENTS = {
    "suggested": PlacementSuggested,
    "presented": CandidatePresented,
    "hired": PlacementStarted,
}


def eligible_and_selected(events: Iterable[Event], stage: Stage) -> tuple[set[str], set[str]]:
    """Citizens with a card who were available at some point, and those who reached `stage`."""
    pool: set[str] = set()
    selected: set[str] = set()
    kind = _STAGE_EVENTS[stage]
    for event in events:
        p = event.payload
        if isinstance(p, CompetenceCardRegistered | CompetenceCardUpdated):
            pool.add(p.citizen_id)
        elif isinstance(p, CitizenAvailabilityChanged):
            if p.available:
                pool.add(p.citizen_id)
        elif isinstance(p, ErasureRequested):
            pool.discard(p.citizen_id)
            selected.discard(p.citizen_id)
        elif isinstance(p, kind):
            selected.add(p.citizen_id)
    return pool, selected & pool


def group_rates(
    pool: set[str],
    selected: set[str],
    monitoring: Mapping[str, Mapping[str, Any]],
    attribute: Literal["gender", "origin_group"],
    min_group: int = 20,
) -> list[GroupRate]:
    """Rates for groups with at least `min_group` consenting citizens in the pool."""
    eligible: dict[str, int] = defaultdict(int)
    chosen: dict[str, int] = defaultdict(int)
    for cid in pool:
        row = monitoring.get(cid)
        if not row or not row.get("consented") or not row.get(attribute):
            continue
        group = str(row[attribute])
        eligible[group] += 1
        chosen[group] += cid in selected
    rates = {g: chosen[g] / n for g, n in eligible.items() if n >= min_group}
    best = max(rates.values(), default=0.0)
    return [
        GroupRate(
            group=g,
            eligible=eligible[g],
            selected=chosen[g],
            rate=round(rate, 4),
            ratio_to_highest=round(rate / best, 4) if best else 1.0,
            below_four_fifths=bool(best) and rate / best < FOUR_FIFTHS,
        )
        for g, rate in sorted(rates.items())
    ]


def consented(monitoring: Mapping[str, Mapping[str, Any]], pool: set[str]) -> int:
    return sum(1 for cid in pool if (monitoring.get(cid) or {}).get("consented"))
