"""The profile views' projection, which keeps erased citizens erased.

Kafka orders events within a partition only. An erasure (citizens topic) can therefore be
applied before earlier events about the citizen from the placements topic, for instance in
a rebuild that reads the topics in another order than the live projector did. Dropping every
later write to the citizen's own keys keeps the erasure final, and the views the same
whichever order the topics were read in. (A parallel rebuild, whose workers each see only
some topics, deletes the erased citizens' keys once more at the end: see rebuild.py.)
"""

from __future__ import annotations

from typing import Protocol

from schemas.citizens import CitizenErased, ErasureRequested
from schemas.envelope import Event
from schemas.placements import (
    CandidatePresented,
    PlacementSuggested,
    SuggestionAccepted,
    SuggestionRejected,
)
from services.profiles.projections import keys
from services.profiles.projections.views import project
from services.projection.writes import Write


class HashReader(Protocol):
    async def hash(self, key: str) -> dict[str, str]: ...


class ProfileProjection:
    def __init__(self) -> None:
        self.erased: set[str] = set()
        self.reviewed: set[str] = set()

    async def load(self, store: HashReader) -> None:
        """The erased citizens and the reviewed suggestions as recorded in the keyspace the
        projector writes to."""
        self.erased = set(await store.hash(keys.ERASED))
        self.reviewed = set(await store.hash(keys.REVIEWED))

    def __call__(self, event: Event) -> list[Write]:
        writes = project(event)
        p = event.payload
        if isinstance(p, SuggestionAccepted | SuggestionRejected | CandidatePresented):
            self.reviewed.add(p.suggestion_id)
        elif isinstance(p, PlacementSuggested) and p.suggestion_id in self.reviewed:
            # Re-scored after a consultant reviewed it (the review came first on the pair's
            # partition, so every reading order sees it first): not back on the worklist.
            writes = [w for w in writes if not keys.is_worklist(w.key)]
        if isinstance(p, ErasureRequested | CitizenErased):
            self.erased.add(p.citizen_id)
            return writes
        citizen_id = getattr(p, "citizen_id", None)
        if isinstance(citizen_id, str) and citizen_id in self.erased:
            return [w for w in writes if not keys.is_citizens_own(w.key, citizen_id)]
        return writes
