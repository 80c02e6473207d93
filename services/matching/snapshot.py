"""Snapshots of the matching state, with the exact log positions it reflects.

The state is a function of the log (see domain/state.py); a snapshot saves replaying all of
it on start. A snapshot is the state's facts and rankings (cards, orders, consents,
rejections, what the placements topic showed, shortlists, suggestions, the columnar card
index) together with, for every input partition, the next offset the state reflects and a
hash of the record just before it (the *anchor*). The worker takes one between two records
(nothing changes the state while it is pickled), so state and positions agree.

On start (recovery.py) the newest valid snapshot is loaded, the records from its positions
to the highwater are applied as the live agent applies them, and the placements topic is
reconciled as after a full replay. The result equals a full replay's (the unit tests check
it at random cut points); otherwise the worker replays from offset 0:
- a file that is truncated or corrupt (the SHA-256 over the whole file does not match) is
  renamed `*.corrupt` and the next older one is tried, with a warning;
- a file of another format, or written by another version of the code, the reference data,
  the model, k or capacity (the *fingerprint*) is skipped: it is not what this worker would
  compute;
- a file whose log is not this log (a position past the partition's end, or the record at
  an anchor differs: the broker's memory engine restarted with a fresh log) is renamed
  `*.stale`.

Wall-clock time: the eligibility of an order without a start date is decided on today's
date, so rankings taken on another day may differ from a replay today. The loader ranks
those orders again (`MatchingState.rerank_undated`), so the result is the replay of today,
unless the state says they were all ranked today (`ranked_on`: the worker that took the
snapshot started today), which spares a restart seconds at a million events.

File layout (`snapshot-<unix ms>.bin`): MAGIC, 4-byte big-endian header length, the JSON
header (format, fingerprint, positions, anchors, latest event time, records reflected), the
pickled body, and the SHA-256 of everything before it (32 bytes). Written to a temporary
file, fsynced, renamed into place, the folder fsynced: a crash leaves the previous snapshot.
The body is read with an unpickler that only resolves the classes a state is made of (the
matching domain, the event schemas, numpy arrays, dates, ids): the file is the worker's
own cache, in its own folder, and the checks above run before anything is unpickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import io
import json
import logging
import os
import pickle
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from services.matching.domain import features
from services.matching.domain.state import Emitted, MatchingState

log = logging.getLogger(__name__)

# Bump when the layout of the header or of the pickled state changes.
FORMAT = 1
MAGIC = b"JMSNAP1\n"
_DIGEST = 32
_NAME = "snapshot-{stamp:015d}.bin"
_GLOB = "snapshot-*.bin"

# Every field of MatchingState is either saved or rebuilt by the loader (a unit test checks
# that a new field is put on one list or the other).
SAVED = (
    "cards",
    "unavailable",
    "placed",
    "no_consent",
    "no_consent_for",
    "_no_consent_by_cvr",
    "orders",
    "rejected",
    "emitted",
    "shortlists",
    "suggestions",
    "listed",
    "offered",
    "index",
    # The day the undated orders were ranked on: a restart that day skips ranking them.
    "ranked_on",
    # The model version the log activated (its scorer is resolved again on load).
    "activated",
)
# The worker's own: its linker, scorer and settings (part of the fingerprint), what it has
# sent and not read back, and caches rebuilt on use.
NOT_SAVED = (
    "linker",
    "scorer",
    "models",
    "k",
    "capacity",
    "depth",
    "_touched",
    "_in_flight",
    "_order_index",
)

Positions = dict[TopicPartition, int]
Anchors = dict[TopicPartition, str]

REPO = Path(__file__).resolve().parents[2]
# What the state is computed with besides the log: the code of the domain and of the event
# schemas, the rules, and the reference data (linking, skill relations, distances).
_INPUTS = (
    "services/matching/domain",
    "services/matching/snapshot.py",
    "services/matching/linking.py",
    "services/rules",
    "services/reference",
    "schemas",
)
_LIBRARIES = ("numpy", "pydantic", "pydantic-core", "scikit-learn", "scipy")


class SnapshotCorrupt(ValueError):
    """Truncated, or the checksum does not match."""


class SnapshotIncompatible(ValueError):
    """Another format, or another version of what the state is computed with."""


class SnapshotStale(ValueError):
    """Written against another log than the broker holds now."""


def anchor_of(value: bytes | None) -> str:
    """What identifies a record at an offset (its value's hash)."""
    return hashlib.blake2b(value or b"", digest_size=12).hexdigest()


@cache
def inputs_digest() -> str:
    h = hashlib.sha256()
    for root in _INPUTS:
        path = REPO / root
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            h.update(str(file.relative_to(REPO)).encode() + b"\0")
            h.update(file.read_bytes() + b"\0")
    for name in _LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(f"{name}={metadata.version(name)}\0".encode())
    h.update(f"python={sys.version_info[:2]}".encode())
    return h.hexdigest()


def fingerprint(state: MatchingState, activated: str | None = None) -> str:
    """What a snapshot must have been computed with to be loaded into `state`. The model:
    the version the log activated (`state.activated`, or `activated` for a state about to
    take a snapshot's fields), which decides every ranking whatever the worker started
    with; else the scorer the worker starts with."""
    named = activated or state.activated
    config = {
        "format": FORMAT,
        "inputs": inputs_digest(),
        "scorer": "activated" if named else type(state.scorer).__name__,
        "model_version": named or state.scorer.model_version,
        "k": state.k,
        "capacity": state.capacity,
        "depth": state.depth,
        "index": state.index is not None,
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:32]


def _tp_json(values: Mapping[TopicPartition, Any]) -> dict[str, Any]:
    return {f"{tp.topic}:{tp.partition}": v for tp, v in sorted(values.items())}


def _tp_parse(doc: Mapping[str, Any]) -> dict[TopicPartition, Any]:
    out = {}
    for key, value in doc.items():
        topic, _, partition = key.rpartition(":")
        out[TopicPartition(topic, int(partition))] = value
    return out


# -- pickling ------------------------------------------------------------------------------

# Frozen slotted dataclasses unpickle through dataclasses' own __setstate__, which looks the
# fields up again for every object; constructed from their fields they load several times
# faster (a state holds one per card, order, occupation and skill).
_SLOTTED = (
    features.Occupation,
    features.Experience,
    features.RequiredSkill,
    features.CardProfile,
    features.OrderProfile,
    Emitted,
)


def _constructor(cls: type) -> Callable[[Any], tuple[Any, tuple[Any, ...]]]:
    names = tuple(f.name for f in dataclasses.fields(cls))

    def reduce(obj: Any) -> tuple[Any, tuple[Any, ...]]:
        return cls, tuple(getattr(obj, name) for name in names)

    return reduce


def _card_profile(profile: features.CardProfile) -> tuple[Any, tuple[Any, ...]]:
    """A card profile with its card as JSON (several times smaller and faster than the
    pydantic models pickled; parsed again only if read, see `CardProfile.card`)."""
    cls, args = _constructor(features.CardProfile)(profile)
    source = profile.source
    if not isinstance(source, bytes):
        source = source.__pydantic_serializer__.to_json(source)
    names = [f.name for f in dataclasses.fields(features.CardProfile)]
    at = names.index("source")
    return cls, (*args[:at], source, *args[at + 1 :])


_DISPATCH: dict[type, Callable[[Any], Any]] = {cls: _constructor(cls) for cls in _SLOTTED}
_DISPATCH[features.CardProfile] = _card_profile

# What a state's pickle may name, besides the classes of the modules below.
_CLASS_MODULES = ("services.matching.domain.", "schemas.", "services.rules.")
_ALLOWED = {
    "builtins": {"set", "frozenset", "dict", "list", "tuple", "bytes", "bytearray", "int"}
    | {"float", "str", "bool", "complex", "slice", "object"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "uuid": {"UUID", "SafeUUID"},
    "array": {"array", "_array_reconstructor"},
    "collections": {"OrderedDict", "defaultdict", "deque"},
    "copyreg": {"_reconstructor"},
    "numpy": {"dtype", "ndarray", "bool_", "float32", "float64", "int8", "int16", "int32"}
    | {"int64", "uint8", "uint16", "uint32", "uint64"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy.dtypes": {"Float64DType", "Float32DType", "Int64DType", "Int32DType", "Int16DType"}
    | {"Int8DType", "UInt16DType", "UInt8DType", "BoolDType", "ObjectDType"},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        if module.startswith(_CLASS_MODULES):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small objects: the cyclic collector would run over and over meanwhile."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def dumps_state(state: MatchingState) -> bytes:
    """The state's saved fields, pickled, with what its linker has linked so far (a restart
    then links the texts it has seen without loading the taxonomy). Nothing may change the
    state meanwhile."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.dispatch_table = _DISPATCH
    memo = getattr(state.linker, "memo", None)
    with _gc_paused():
        pickler.dump(
            {
                "fields": {name: getattr(state, name) for name in SAVED},
                "linker_memo": memo() if memo is not None else None,
            }
        )
    return buf.getvalue()


def restore_state(body: bytes, make_state: Callable[[], MatchingState]) -> MatchingState:
    """A new state from `make_state` (the worker's linker, scorer and settings) with the
    saved fields of `body`."""
    state = make_state()
    with _gc_paused():
        doc = _Unpickler(io.BytesIO(body)).load()
    saved = doc.get("fields") if isinstance(doc, dict) else None
    if not isinstance(saved, dict) or set(saved) != set(SAVED):
        raise SnapshotIncompatible("the snapshot holds other fields")
    prime = getattr(state.linker, "prime", None)
    if prime is not None and isinstance(doc.get("linker_memo"), dict):
        prime(doc["linker_memo"])
    fresh_index = state.index
    for name in SAVED:
        setattr(state, name, saved[name])
    if state.index is not None:
        if fresh_index is None:
            raise SnapshotIncompatible("the snapshot has a card index, the worker none")
        state.index.attach(fresh_index.skills_of, fresh_index.today)
    if not state.resume_model():
        raise SnapshotIncompatible(f"model {state.activated!r} is not available to this worker")
    return state


# -- the file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    fingerprint: str
    # The next offset of each input partition the state reflects.
    positions: Positions
    # anchor_of(the record at position - 1), for each partition with a position > 0.
    anchors: Anchors
    # The latest `occurred_at` of the records reflected (the reconciliation's clock).
    log_time: datetime | None
    written_at: datetime
    format: int = FORMAT
    # The model version the log had activated (MatchingState.activated), if any.
    activated: str | None = None

    @property
    def records(self) -> int:
        return sum(self.positions.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "fingerprint": self.fingerprint,
            "positions": _tp_json(self.positions),
            "anchors": _tp_json(self.anchors),
            "log_time": self.log_time.isoformat() if self.log_time else None,
            "written_at": self.written_at.isoformat(),
            "activated": self.activated,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Header:
        return cls(
            format=int(doc["format"]),
            fingerprint=str(doc["fingerprint"]),
            positions={tp: int(v) for tp, v in _tp_parse(doc["positions"]).items()},
            anchors={tp: str(v) for tp, v in _tp_parse(doc["anchors"]).items()},
            log_time=datetime.fromisoformat(doc["log_time"]) if doc["log_time"] else None,
            written_at=datetime.fromisoformat(doc["written_at"]),
            activated=doc.get("activated"),
        )


def encode(header: Header, body: bytes) -> bytes:
    head = json.dumps(header.to_json(), sort_keys=True).encode()
    data = MAGIC + struct.pack(">I", len(head)) + head + body
    return data + hashlib.sha256(data).digest()


def decode_header(data: bytes) -> tuple[Header, memoryview]:
    """The header and the body of a snapshot file's bytes, checked whole."""
    view = memoryview(data)
    if len(data) < len(MAGIC) + 4 + _DIGEST or bytes(view[: len(MAGIC)]) != MAGIC:
        raise SnapshotCorrupt("not a snapshot, or cut short")
    if hashlib.sha256(view[:-_DIGEST]).digest() != bytes(view[-_DIGEST:]):
        raise SnapshotCorrupt("checksum mismatch (truncated or corrupt)")
    (length,) = struct.unpack(">I", view[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        doc = json.loads(bytes(view[start : start + length]))
        if int(doc.get("format", -1)) != FORMAT:
            raise SnapshotIncompatible(f"format {doc.get('format')}, this worker reads {FORMAT}")
        header = Header.from_json(doc)
    except SnapshotIncompatible:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotCorrupt(f"unreadable header: {exc}") from exc
    return header, view[start + length : -_DIGEST]


@dataclass
class Loaded:
    state: MatchingState
    header: Header
    path: Path
    seconds: dict[str, float]


class SnapshotStore:
    """The snapshot files of one worker, newest first."""

    def __init__(self, directory: Path, keep: int = 2) -> None:
        self.directory = directory
        self.keep = max(1, keep)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(_GLOB), reverse=True)

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` files."""
        for old in self.files()[max(1, keep) :]:
            with contextlib.suppress(OSError):
                old.unlink()

    def write(self, data: bytes) -> Path:
        """Write atomically (temporary file, fsync, rename, fsync of the folder), then drop
        all but the newest `keep` files."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.time_ns() // 1_000_000
        newest = self.files()
        if newest:  # names must grow even if the clock went back
            stamp = max(stamp, int(newest[0].stem.split("-")[1]) + 1)
        path = self.directory / _NAME.format(stamp=stamp)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fsync_dir()
        self.prune(self.keep)
        for leftover in self.directory.glob(".snapshot-*.tmp"):
            if not leftover.name.endswith(f".{os.getpid()}.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        return path

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def set_aside(self, path: Path, suffix: str, why: str) -> None:
        """Rename a file that must not be tried again (kept for a post-mortem)."""
        log.warning(
            "matching snapshot set aside: %s",
            why,
            extra={"snapshot": str(path), "renamed_to": path.name + suffix},
        )
        with contextlib.suppress(OSError):
            path.rename(path.with_name(path.name + suffix))

    def load_newest(self, make_state: Callable[[], MatchingState]) -> Loaded | None:
        """The newest snapshot this worker can use, loaded; None: replay from the start.
        Unusable files are skipped with a warning (corrupt ones renamed `*.corrupt`)."""
        expected: dict[str | None, str] = {}
        for path in self.files():
            started = time.monotonic()
            try:
                data = path.read_bytes()
            except OSError as exc:
                log.warning(
                    "matching snapshot unreadable", extra={"snapshot": str(path)}, exc_info=exc
                )
                continue
            read = time.monotonic()
            try:
                header, body = decode_header(data)
                if header.activated not in expected:
                    expected[header.activated] = fingerprint(make_state(), header.activated)
                if header.fingerprint != expected[header.activated]:
                    raise SnapshotIncompatible(
                        "written by another version of the code, reference data or model"
                    )
                checked = time.monotonic()
                state = restore_state(bytes(body), make_state)
            except SnapshotIncompatible as exc:
                log.warning(
                    "matching snapshot ignored: %s",
                    exc,
                    extra={"snapshot": str(path)},
                )
                continue
            except SnapshotCorrupt as exc:
                self.set_aside(path, ".corrupt", str(exc))
                continue
            except Exception as exc:  # unpickling: corrupt in a way the checksum missed
                log.warning(
                    "matching snapshot not loaded", extra={"snapshot": str(path)}, exc_info=exc
                )
                self.set_aside(path, ".corrupt", f"{type(exc).__name__}: {exc}")
                continue
            done = time.monotonic()
            seconds = {
                "read": round(read - started, 3),
                "verify": round(checked - read, 3),
                "unpickle": round(done - checked, 3),
            }
            return Loaded(state, header, path, seconds)
        return None
