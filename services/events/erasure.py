"""Erasures whose announcement did not reach the log: the sweeper appends it.

An erasure deletes the citizen's data key and then appends `CitizenErased` (the publisher
does both). Should the service stop, or the broker fail, in between, the key store still
lists the citizen as not announced; the sweeper appends the `CitizenErased` then, so that
downstream systems always hear of every erasure.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from schemas.citizens import CitizenErased
from schemas.envelope import Actor, Event
from services.events.handlers import Publisher
from services.keys.ring import CachedKeyRing

log = logging.getLogger(__name__)

ANNOUNCER = Actor(role="system", id="erasure-announcer")
# Younger erasures are still being announced by the command that made them.
SETTLED_S = 30.0


async def announce_pending(
    publisher: Publisher, keys: CachedKeyRing, settled_s: float = SETTLED_S
) -> list[str]:
    announced = []
    for citizen_id in keys.store.unannounced(settled_s):
        event = Event.new(
            CitizenErased(citizen_id=citizen_id),
            actor=ANNOUNCER,
            occurred_at=datetime.now(UTC),
        )
        await publisher.publish(event)
        announced.append(citizen_id)
    if announced:
        log.warning("erasures announced late", extra={"citizen_ids": announced})
    return announced
