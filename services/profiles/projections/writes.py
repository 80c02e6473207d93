"""The vocabulary projections speak: plain write operations, applied by the Redis store.

Handlers return these instead of touching Redis, so they are pure and testable, and the
store can apply a whole batch plus its tracking positions in one MULTI/EXEC.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HashSet:
    key: str
    field: str
    value: str


@dataclass(frozen=True)
class HashUpdate:
    """Set several fields of a hash, leaving the others as they are."""

    key: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HashDelete:
    key: str
    field: str


@dataclass(frozen=True)
class ZAdd:
    key: str
    member: str
    score: float


@dataclass(frozen=True)
class ZRemove:
    key: str
    member: str


@dataclass(frozen=True)
class Delete:
    key: str


Write = HashSet | HashUpdate | HashDelete | ZAdd | ZRemove | Delete
