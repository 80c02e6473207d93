"""Event contracts shared by every jobmatch service.

Pure pydantic: nothing here imports Kafka, Redis or faust, so every service (and every
downstream consumer written in Python) can depend on it without dragging in I/O.
"""

from schemas.envelope import Actor, Event, EventPayload
from schemas.registry import REGISTRY, EventRegistry, UnknownEventError

__all__ = ["REGISTRY", "Actor", "Event", "EventPayload", "EventRegistry", "UnknownEventError"]
