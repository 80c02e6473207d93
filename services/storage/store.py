"""Buckets as folders, written so that an acknowledged PUT survives a crash of anything.

Every object is a plain file `ROOT/BUCKET/KEY`. A PUT writes a temporary file, fsyncs it,
renames it over the key and fsyncs the folder (and any folder it had to create) before it
is answered: Tansu acknowledges a produce only after its PUTs are answered, so an event
acknowledged to a client is on disk, whatever is killed afterwards. The ETag (the MD5 of
the bytes, as S3 gives for a plain PUT) is kept in an extended attribute, so that a restart
does not have to read the data back to answer Tansu's conditional requests.

Internal files live under `ROOT/.s3server/` (temporary files, and the staging files of
merges, see `Compactor`), which is not a valid bucket name.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.storage import batches
from services.storage.index import Entry, KeyIndex, Obj, plan_merges

log = logging.getLogger(__name__)

INTERNAL = ".s3server"
ETAG_XATTR = "user.s3server.etag"


class StoreError(Exception):
    status = 500
    code = "InternalError"


class NoSuchBucket(StoreError):
    status, code = 404, "NoSuchBucket"


class NoSuchKey(StoreError):
    status, code = 404, "NoSuchKey"


class PreconditionFailed(StoreError):
    status, code = 412, "PreconditionFailed"


class BadKey(StoreError):
    status, code = 400, "InvalidArgument"


class BucketNotEmpty(StoreError):
    status, code = 409, "BucketNotEmpty"


class Conflict(StoreError):
    status, code = 409, "OperationAborted"


def md5_etag(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_key(key: str) -> None:
    parts = key.split("/")
    if (
        not key
        or len(key.encode()) > 1024
        or "\x00" in key
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise BadKey(f"unsupported key {key!r} (no empty, '.' or '..' segments)")


def check_bucket(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or len(name) > 63:
        raise NoSuchBucket(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: Path) -> list[Path]:
    """Create `path` and its missing parents; the folders it created, outermost first."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
    return list(reversed(missing))


def _set_etag(fd: int, etag: str) -> None:
    with contextlib.suppress(OSError):
        os.setxattr(fd, ETAG_XATTR, etag.encode())


def _get_etag(path: str | Path) -> str | None:
    try:
        return os.getxattr(path, ETAG_XATTR).decode()
    except OSError:
        return None


def durable_write(
    path: Path, data: bytes, tmp_dir: Path, etag: str, mtime: float | None = None
) -> Entry:
    """Write, fsync, rename into place, fsync the folders: on return the bytes survive a
    crash of this process or of the machine. `mtime`, if given, is the LastModified to keep
    (set before the fsync, so that it is as durable as the bytes)."""
    created = _makedirs(path.parent)
    tmp = tmp_dir / uuid.uuid4().hex
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        _set_etag(fd, etag)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
        os.fsync(fd)
        stat = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    for folder in created:
        _fsync_dir(folder.parent)
    return Entry(len(data), etag, stat.st_mtime)


def _remove_empty_parents(path: Path, stop: Path) -> None:
    folder = path.parent
    while folder != stop:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


@dataclass
class Bucket:
    name: str
    path: Path
    index: KeyIndex = field(default_factory=KeyIndex)
    # key -> file to read instead of the key's own, while a merge is being put in place
    moving: dict[str, Path] = field(default_factory=dict)
    # key -> (lock, holders and waiters): conditional PUTs of one key check and write in turn
    locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.internal = root / INTERNAL
        self.tmp = self.internal / "tmp"
        self.staging = self.internal / "staging"
        self.buckets: dict[str, Bucket] = {}
        self.compactor: Compactor | None = None

    # -- start-up ---------------------------------------------------------------------------

    def load(self) -> None:
        """Finish or undo what a crash interrupted, then index every bucket."""
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.tmp, self.staging):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            leftover.unlink()
        for staged in sorted(self.staging.iterdir()):
            self._recover_merge(staged)
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                bucket = Bucket(child.name, child)
                bucket.index.load(
                    {
                        key: Entry(stat.st_size, _get_etag(path), stat.st_mtime)
                        for key, path, stat in self._walk(str(child))
                    }
                )
                self.buckets[child.name] = bucket

    def _walk(self, top: str) -> Iterator[tuple[str, str, os.stat_result]]:
        # Plain strings and scandir: a home taken over from localbucket can hold a
        # million files, and pathlib costs several times more per file.
        cut = len(top) + 1
        stack = [top]
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as entries:
                for item in entries:
                    if item.is_dir(follow_symlinks=False):
                        stack.append(item.path)
                    elif item.is_file(follow_symlinks=False):
                        yield item.path[cut:], item.path, item.stat(follow_symlinks=False)

    def _recover_merge(self, staged: Path) -> None:
        """A staging file is a complete merged segment (it is renamed into the staging
        folder only once fsynced): the originals it replaces may or may not be gone yet.
        Removing the rest and renaming it over the first is idempotent."""
        try:
            bucket, prefix, first, last = parse_staging_name(staged.name)
        except ValueError:
            staged.unlink()
            return
        data = staged.read_bytes()
        if batches.record_count(data) != last - first + 1:
            log.warning("discarding a damaged merge %s", staged.name)
            staged.unlink()
            return
        records = self.root / bucket / prefix
        for offset in range(first + 1, last + 1):
            with contextlib.suppress(FileNotFoundError):
                (records / f"{offset:020d}.batch").unlink()
        records.mkdir(parents=True, exist_ok=True)
        os.replace(staged, records / f"{first:020d}.batch")
        _fsync_dir(records)
        log.info("finished an interrupted merge of %s%d..%d", prefix, first, last)

    # -- buckets ----------------------------------------------------------------------------

    def bucket(self, name: str) -> Bucket:
        check_bucket(name)
        found = self.buckets.get(name)
        if found is None:
            raise NoSuchBucket(name)
        return found

    def create_bucket(self, name: str) -> None:
        check_bucket(name)
        if name in self.buckets:
            return
        path = self.root / name
        path.mkdir(exist_ok=True)
        _fsync_dir(self.root)
        self.buckets[name] = Bucket(name, path)

    def delete_bucket(self, name: str) -> None:
        bucket = self.bucket(name)
        if len(bucket.index):
            raise BucketNotEmpty(name)
        with contextlib.suppress(OSError):
            bucket.path.rmdir()
        del self.buckets[name]

    # -- objects ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lock(self, bucket: Bucket, key: str) -> AsyncIterator[None]:
        lock, users = bucket.locks.get(key) or (asyncio.Lock(), 0)
        bucket.locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = bucket.locks[key]
            if users == 1:
                del bucket.locks[key]
            else:
                bucket.locks[key] = (lock, users - 1)

    def _read(self, bucket: Bucket, key: str) -> bytes:
        moved = bucket.moving.get(key)
        if moved is not None:
            with contextlib.suppress(FileNotFoundError):
                return moved.read_bytes()
        return (bucket.path / key).read_bytes()

    def etag(self, bucket: Bucket, key: str, entry: Entry, data: bytes | None = None) -> str:
        """The entry's ETag, computed (and stored with the file) the first time it is needed
        for a file that came without one."""
        if entry.etag is None:
            if data is None:
                data = self._read(bucket, key)
            entry.etag = md5_etag(data)
            with contextlib.suppress(OSError):
                os.setxattr(bucket.path / key, ETAG_XATTR, entry.etag.encode())
        return entry.etag

    def head(self, bucket_name: str, key: str) -> tuple[Entry, str]:
        bucket = self.bucket(bucket_name)
        entry = bucket.index.get(key)
        if entry is not None:
            return entry, self.etag(bucket, key, entry)
        entry = self._absorbed(bucket, key)[0]
        assert entry.etag is not None
        return entry, entry.etag

    def get(self, bucket_name: str, key: str) -> tuple[Entry, str, bytes]:
        bucket = self.bucket(bucket_name)
        for _ in range(3):
            entry = bucket.index.get(key)
            if entry is None:
                entry, data = self._absorbed(bucket, key)
                assert entry.etag is not None
                return entry, entry.etag, data
            try:
                data = self._read(bucket, key)
            except FileNotFoundError:
                # Deleted or moved between the lookup and the read: look again.
                continue
            return entry, self.etag(bucket, key, entry, data), data
        raise NoSuchKey(key)

    def _absorbed(self, bucket: Bucket, key: str) -> tuple[Entry, bytes]:
        """A batch key that a merge has absorbed: the segment's records from that offset.
        Only a reader that listed the partition just before the merge asks for one."""
        parsed = batches.parse_records_key(key)
        floor = bucket.index.floor(key)
        if parsed is None or floor is None:
            raise NoSuchKey(key)
        prefix, offset = parsed
        found = batches.parse_records_key(floor)
        if found is None or found[0] != prefix:
            raise NoSuchKey(key)
        try:
            data = self._read(bucket, floor)
        except FileNotFoundError:
            raise NoSuchKey(key) from None
        count = batches.record_count(data)
        if count is None or found[1] + count <= offset:
            raise NoSuchKey(key)
        part = batches.suffix(data, found[1], offset)
        return Entry(len(part), md5_etag(part), time.time()), part

    async def put(
        self,
        bucket_name: str,
        key: str,
        data: bytes,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> Entry:
        bucket = self.bucket(bucket_name)
        check_key(key)
        async with self._lock(bucket, key):
            current = bucket.index.get(key)
            etag = None if current is None else self.etag(bucket, key, current)
            if current is None and self._is_absorbed(bucket, key):
                if if_none_match is not None:
                    raise PreconditionFailed(key)
                raise Conflict(f"{key} lies inside a merged segment")
            if (
                if_none_match is not None
                and etag is not None
                and (if_none_match.strip() == "*" or _etag_in(etag, if_none_match))
            ):
                raise PreconditionFailed(key)
            if if_match is not None and (etag is None or not _etag_in(etag, if_match)):
                raise PreconditionFailed(key)
            try:
                entry = await asyncio.to_thread(
                    durable_write,
                    bucket.path / key,
                    data,
                    self.tmp,
                    md5_etag(data),
                    self._batch_mtime(bucket, key),
                )
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                # Keys are paths: "a" and "a/b" cannot both be objects here.
                raise Conflict(f"{key} collides with another key's folder") from exc
            bucket.index.put(key, entry)
        if self.compactor is not None:
            parsed = batches.parse_records_key(key)
            if parsed is not None:
                self.compactor.touch(bucket_name, parsed[0])
        return entry

    def _batch_mtime(self, bucket: Bucket, key: str) -> float | None:
        """LastModified for a new batch: after every earlier batch of its partition.

        Tansu answers ListOffsets(LATEST) from a LIST of the partition, with the key of the
        object modified last (+ 1). Batches written within one clock tick, or a merged
        segment rewritten after newer batches, would otherwise make it name an old batch:
        keeping LastModified in offset order (merges keep their last batch's) keeps that
        answer on the newest batch.
        """
        parsed = batches.parse_records_key(key)
        if parsed is None:
            return None
        now = time.time()
        floor = bucket.index.floor(key)
        if floor is not None and floor.startswith(parsed[0]):
            before = bucket.index.get(floor)
            if before is not None:
                return max(now, before.mtime + 0.001)
        return now

    def _is_absorbed(self, bucket: Bucket, key: str) -> bool:
        """Whether a batch key lies inside the segment before it (checked on every new
        batch, so from the segment's header only)."""
        parsed = batches.parse_records_key(key)
        floor = bucket.index.floor(key)
        if parsed is None or floor is None or not floor.startswith(parsed[0]):
            return False
        found = batches.parse_records_key(floor)
        entry = bucket.index.get(floor)
        if found is None or entry is None:
            return False
        path = bucket.moving.get(floor, bucket.path / floor)
        try:
            with path.open("rb") as file:
                head = file.read(batches.HEADER_SIZE)
        except FileNotFoundError:
            return False
        count = batches.count_from_header(head, entry.size)
        return count is not None and found[1] + count > parsed[1]

    async def delete(self, bucket_name: str, key: str) -> None:
        bucket = self.bucket(bucket_name)
        async with self._lock(bucket, key):
            if bucket.index.remove(key) is None:
                return
            path = bucket.path / key

            def unlink() -> None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                _fsync_dir(path.parent)
                _remove_empty_parents(path, bucket.path)

            await asyncio.to_thread(unlink)


def _etag_in(etag: str, header: str) -> bool:
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return "*" in wanted or etag in wanted


# -- merging batches into segments -------------------------------------------------------------


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="").replace(".", "%2E")


def staging_name(bucket: str, prefix: str, first: int, last: int) -> str:
    """`FIRST.LAST.BUCKET.PREFIX`, quoted so that the dots only separate the four."""
    return f"{first}.{last}.{_quote(bucket)}.{_quote(prefix)}"


def parse_staging_name(name: str) -> tuple[str, str, int, int]:
    first, last, bucket, prefix = name.split(".")
    return urllib.parse.unquote(bucket), urllib.parse.unquote(prefix), int(first), int(last)


@dataclass
class MergeStats:
    merges: int = 0
    batches_in: int = 0
    bytes_written: int = 0
    refused: int = 0


class Compactor:
    """Merges the batches of each partition into fewer, larger ones (see `batches`).

    It wakes when a batch is written (never on a timer: the idle stack stays idle), waits
    `delay` seconds for more, and merges what `plan_merges` picks. A merge is made crash-safe
    by its staging file: written and fsynced first, then the originals it absorbs are
    removed, then it is renamed over the first original; `Store.load` finishes the job after
    a crash at any point.
    """

    def __init__(
        self,
        store: Store,
        *,
        segment_bytes: int = 4 << 20,
        fanout: int = 16,
        keep_tail: int = 16,
        delay: float = 0.5,
    ) -> None:
        self.store = store
        self.segment_bytes = segment_bytes
        self.fanout = fanout
        self.keep_tail = keep_tail
        self.delay = delay
        self.stats = MergeStats()
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._skip: dict[tuple[str, str], set[int]] = {}
        self.idle = asyncio.Event()
        self.idle.set()
        store.compactor = self

    def touch(self, bucket: str, prefix: str) -> None:
        self._dirty.add((bucket, prefix))
        self.idle.clear()
        self._wake.set()

    def touch_all(self) -> None:
        """After a start: the history written before may need merging too."""
        for name, bucket in self.store.buckets.items():
            prefixes = {
                parsed[0]
                for key in bucket.index.iter_keys()
                if (parsed := batches.parse_records_key(key)) is not None
            }
            for prefix in prefixes:
                self.touch(name, prefix)

    async def run(self) -> None:
        while True:
            if not self._dirty:
                self.idle.set()
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.delay)
            while self._dirty:
                bucket, prefix = self._dirty.pop()
                try:
                    await self.compact(bucket, prefix)
                except Exception:
                    log.exception("merging %s/%s failed; the batches stay", bucket, prefix)

    def _objects(self, bucket: Bucket, prefix: str) -> list[Obj]:
        out = []
        for key in bucket.index.iter_keys(prefix):
            parsed = batches.parse_records_key(key)
            entry = bucket.index.get(key)
            if parsed is not None and parsed[0] == prefix and entry is not None:
                out.append(Obj(parsed[1], entry.size))
        return out

    async def compact(self, bucket_name: str, prefix: str) -> None:
        bucket = self.store.buckets.get(bucket_name)
        if bucket is None:
            return
        skip = self._skip.setdefault((bucket_name, prefix), set())
        for _ in range(64):  # each round can only lower the object count; bound it anyway
            groups = plan_merges(
                self._objects(bucket, prefix),
                keep_tail=self.keep_tail,
                fanout=self.fanout,
                segment_bytes=self.segment_bytes,
                skip=frozenset(skip),
            )
            if not groups:
                return
            for group in groups:
                await self._merge(bucket, prefix, group, skip)

    async def _merge(self, bucket: Bucket, prefix: str, group: list[Obj], skip: set[int]) -> None:
        keys = [batches.records_key(prefix, obj.offset) for obj in group]
        before = [bucket.index.get(key) for key in keys]
        if any(entry is None for entry in before):
            return
        staged = await asyncio.to_thread(self._stage, bucket, prefix, keys, skip)
        if staged is None:
            self.stats.refused += 1
            return
        path, data_size, etag, absorbed, last = staged
        first_key = keys[0]
        if [bucket.index.get(key) for key in keys[: len(absorbed) + 1]] != before[
            : len(absorbed) + 1
        ]:
            # A writer got in between (Tansu never rewrites a batch, but be safe).
            await asyncio.to_thread(path.unlink)
            return
        for key in absorbed:
            bucket.index.remove(key)
        bucket.moving[first_key] = path
        newest = before[len(absorbed)]
        assert newest is not None
        bucket.index.put(first_key, Entry(data_size, etag, newest.mtime))
        await asyncio.to_thread(self._swap, bucket, path, first_key, absorbed)
        bucket.moving.pop(first_key, None)
        self.stats.merges += 1
        self.stats.batches_in += len(absorbed) + 1
        self.stats.bytes_written += data_size
        log.debug("merged %s%s..%d (%d batches)", prefix, group[0].offset, last, len(absorbed) + 1)

    def _stage(
        self, bucket: Bucket, prefix: str, keys: list[str], skip: set[int]
    ) -> tuple[Path, int, str, list[str], int] | None:
        pieces: list[tuple[int, bytes]] = []
        expected: int | None = None
        for key in keys:
            parsed = batches.parse_records_key(key)
            assert parsed is not None
            data = (bucket.path / key).read_bytes()
            try:
                if expected is not None and parsed[1] != expected:
                    raise batches.NotMergeable(f"offset {parsed[1]} follows a gap")
                expected = parsed[1] + batches.check_mergeable(data)
            except batches.NotMergeable as why:
                log.info("batch %s is not merged: %s", key, why)
                skip.add(parsed[1])
                break
            pieces.append((parsed[1], data))
        if len(pieces) < 2:
            return None
        merged, last = batches.merge(pieces)
        following = bucket.index.iter_keys(prefix, keys[len(pieces) - 1])
        after = next(following, None)
        parsed_after = batches.parse_records_key(after) if after else None
        if parsed_after is not None and parsed_after[1] <= last:
            log.warning("not merging %s..%d: it would overlap %s", keys[0], last, after)
            return None
        first = pieces[0][0]
        etag = md5_etag(merged)
        name = staging_name(bucket.name, prefix, first, last)
        last_entry = bucket.index.get(keys[len(pieces) - 1])
        durable_write(
            self.store.staging / name,
            merged,
            self.store.tmp,
            etag,
            last_entry.mtime if last_entry is not None else None,
        )
        return self.store.staging / name, len(merged), etag, keys[1 : len(pieces)], last

    def _swap(self, bucket: Bucket, staged: Path, first_key: str, absorbed: list[str]) -> None:
        for key in absorbed:
            try:
                (bucket.path / key).unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        target = bucket.path / first_key
        os.replace(staged, target)
        _fsync_dir(target.parent)
