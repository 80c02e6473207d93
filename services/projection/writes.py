"""The vocabulary projections speak: plain write operations, applied by the Redis store.

Handlers return these instead of touching Redis, so they are pure and testable, and the
store can apply a whole batch plus its tracking positions in one MULTI/EXEC, as few commands.

They are not frozen only because a frozen dataclass costs three times as much to build, and
a rebuild builds ten of them per event: treat them as values all the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class HashSet:
    key: str
    field: str
    value: str


@dataclass(slots=True)
class HashUpdate:
    """Set several fields of a hash, leaving the others as they are."""

    key: str
    fields: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class HashDelete:
    key: str
    field: str


@dataclass(slots=True)
class ZAdd:
    key: str
    member: str
    score: float


@dataclass(slots=True)
class ZRemove:
    key: str
    member: str


@dataclass(slots=True)
class Delete:
    key: str


Write = HashSet | HashUpdate | HashDelete | ZAdd | ZRemove | Delete


Command = tuple[str, str, list[str]]
"""One Redis command: name, key, the arguments after the key."""


def coalesce(writes: Iterable[Write]) -> list[Command]:
    """The writes as few Redis commands: a run of writes of one kind to one key becomes one
    command (HSET k f1 v1 f2 v2 ..., ZADD k s1 m1 s2 m2 ...).

    Every write touches exactly one key, so writes to different keys commute and only the
    order per key has to be kept. A batch of events writes the same keys many times (an
    order's suggestions, a municipality's worklist), and Redis spends its time per command,
    not per field: the rebuild's Redis work went down to a third.
    """
    per_key: dict[str, list[Command]] = {}
    for w in writes:
        pending = per_key.get(w.key)
        if pending is None:
            pending = per_key[w.key] = []
        if isinstance(w, HashSet):
            name, args = "HSET", [w.field, w.value]
        elif isinstance(w, HashUpdate):
            name, args = "HSET", [x for pair in w.fields for x in pair]
        elif isinstance(w, ZAdd):
            name, args = "ZADD", [repr(w.score), w.member]
        elif isinstance(w, HashDelete):
            name, args = "HDEL", [w.field]
        elif isinstance(w, ZRemove):
            name, args = "ZREM", [w.member]
        else:  # Delete: what was written to the key before in this batch is gone anyway
            pending[:] = [("DEL", w.key, [])]
            continue
        if pending and pending[-1][0] == name:
            pending[-1][2].extend(args)
        else:
            pending.append((name, w.key, args))
    return [command for commands in per_key.values() for command in commands]
