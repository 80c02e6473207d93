"""The in-memory key index of one bucket, and the choice of which batches to merge.

Both are pure (no disk, no clock) so that they can be tested on their own. The index keeps
the keys sorted, so a LIST costs O(log n + page), whatever else the bucket holds; the
folder-walking server it replaces read every file of the bucket on each LIST.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sortedcontainers import SortedList

MAX_KEYS = 1000


@dataclass
class Entry:
    size: int
    # None until first needed, for files found at start-up without a stored ETag
    etag: str | None
    mtime: float


@dataclass(frozen=True)
class Page:
    contents: list[tuple[str, Entry]]
    common_prefixes: list[str]
    truncated: bool
    next_token: str | None


class BadToken(ValueError):
    pass


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadToken(token) from exc


def after_prefix(prefix: str) -> str:
    """The smallest string greater than every string that starts with `prefix`."""
    stripped = prefix.rstrip(chr(0x10FFFF))
    if not stripped:
        return chr(0x10FFFF) * (len(prefix) + 1)
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


class KeyIndex:
    def __init__(self) -> None:
        self._keys: SortedList = SortedList()
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def load(self, entries: dict[str, Entry]) -> None:
        """Add many at once (one sort instead of one insertion each)."""
        self._entries.update(entries)
        self._keys = SortedList(self._entries)

    def put(self, key: str, entry: Entry) -> None:
        if key not in self._entries:
            self._keys.add(key)
        self._entries[key] = entry

    def remove(self, key: str) -> Entry | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._keys.remove(key)
        return entry

    def iter_keys(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        """Keys under `prefix`, in order, after `start_after`."""
        if start_after >= prefix:
            return self._scan(prefix, self._keys.bisect_right(start_after))
        return self._scan(prefix, self._keys.bisect_left(prefix))

    def _scan(self, prefix: str, index: int) -> Iterator[str]:
        for key in self._keys.islice(index):
            if not key.startswith(prefix):
                return
            yield key

    def floor(self, key: str) -> str | None:
        """The greatest key not above `key`."""
        index = self._keys.bisect_right(key)
        return None if index == 0 else str(self._keys[index - 1])

    def page(
        self,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        token: str | None = None,
        max_keys: int = MAX_KEYS,
    ) -> Page:
        """One ListObjectsV2 page: keys and common prefixes merged in key order, `max_keys`
        of them at most. The continuation token names the first key not yet returned."""
        if token is not None:
            first = decode_token(token)
            start = self._keys.bisect_left(max(first, prefix))
            if start_after >= first:
                start = self._keys.bisect_right(start_after)
        elif start_after >= prefix:
            start = self._keys.bisect_right(start_after)
        else:
            start = self._keys.bisect_left(prefix)
        contents: list[tuple[str, Entry]] = []
        prefixes: list[str] = []
        while start < len(self._keys):
            key = str(self._keys[start])
            if not key.startswith(prefix):
                break
            if len(contents) + len(prefixes) >= max_keys:
                return Page(contents, prefixes, True, encode_token(key))
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                prefixes.append(common)
                # Everything under this common prefix rolls up into it: skip past it.
                start = self._keys.bisect_left(after_prefix(common))
                continue
            contents.append((key, self._entries[key]))
            start += 1
        return Page(contents, prefixes, False, None)


# -- merging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """A batch object of one partition, as the planner sees it."""

    offset: int
    size: int


def size_class(size: int, fanout: int, base: int) -> int:
    """0 below base * fanout, 1 below base * fanout², ...: merging `fanout` objects of one
    class makes one of the next, so each byte is rewritten about once per class."""
    level = 0
    bound = base * fanout
    while size >= bound:
        level += 1
        bound *= fanout
    return level


def plan_merges(
    objects: Sequence[Obj],
    *,
    keep_tail: int,
    fanout: int,
    segment_bytes: int,
    base: int = 1024,
    skip: frozenset[int] = frozenset(),
) -> list[list[Obj]]:
    """Groups of consecutive objects to merge, each into one object of at most
    `segment_bytes`.

    Tiered: a run of at least `fanout` neighbours of the same size class is merged in
    groups of `fanout` (fewer when the bytes would pass `segment_bytes`). The newest
    `keep_tail` objects are left alone, so readers at the head of the log (and Tansu's
    end-offset answer, which looks at the last batch) see batches exactly as produced.
    Objects at `skip` (not mergeable) and objects at half a segment or more break runs.
    """
    candidates = list(objects[: max(0, len(objects) - keep_tail)])
    groups: list[list[Obj]] = []
    run: list[Obj] = []
    run_class = -1

    def flush() -> None:
        if len(run) >= fanout:
            group: list[Obj] = []
            total = 0
            for obj in run:
                if group and (len(group) >= fanout or total + obj.size > segment_bytes):
                    if len(group) > 1:
                        groups.append(group)
                    group, total = [], 0
                group.append(obj)
                total += obj.size
            # A short leftover waits for more neighbours of its class.
            if len(group) >= fanout or (len(group) > 1 and total * 2 >= segment_bytes):
                groups.append(group)
        run.clear()

    for obj in candidates:
        if obj.offset in skip or obj.size * 2 >= segment_bytes:
            flush()
            continue
        cls = size_class(obj.size, fanout, base)
        if cls != run_class:
            flush()
            run_class = cls
        run.append(obj)
    flush()
    return groups
