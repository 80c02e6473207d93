"""What the running services show: the matching worker's state, the profiles views, the
projector's positions; settling; the views' checksum against a rebuild; a fresh replay of
the matching worker."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from schemas.topics import DOMAIN_TOPICS
from services.chaos.logread import Ends, LogTail
from services.chaos.reconcile import CitizenView, LogFacts, OrderView, Pair, ViewsSnapshot
from services.chaos.workload import Tokens
from services.common.kafka import make_consumer
from services.keys.setup import keystore_path
from services.matching.replay import INPUTS as MATCHING_INPUTS
from services.stack import Stack, free_port, service_env, start_service, wait_ready

MATCHING_GROUP = "jobmatch-matching"  # MatchingSettings.matching_group_id's default
PAGE = 500


@dataclass
class Settled:
    ok: bool
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    """Two things that must be equal: "equal", "differs", "failed" or "not available"."""

    status: str
    detail: str = ""

    @property
    def ok(self) -> bool | None:
        if self.status == "equal":
            return True
        return None if self.status == "not available" else False


def held_pairs(state: dict[str, Any]) -> set[Pair]:
    """The suggestions the matching worker holds, from its /v1/state snapshot."""
    lists: dict[str, list[list[Any]]] = state.get("state", {}).get("suggestions", {})
    return {(oid, str(entry[0])) for oid, entries in lists.items() for entry in entries}


class Observer:
    def __init__(self, stack: Stack, tokens: Tokens, say: Callable[[str], None]) -> None:
        self.stack = stack
        self.tokens = tokens
        self.say = say
        self._committed: AIOKafkaConsumer | None = None

    async def close(self) -> None:
        if self._committed is not None:
            with contextlib.suppress(Exception):
                await self._committed.stop()
            self._committed = None

    async def _get(self, url: str, headers: dict[str, str], **params: Any) -> httpx.Response | None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            try:
                return await client.get(url, headers=headers, params=params or None)
            except httpx.HTTPError:
                return None

    async def profiles_status(self) -> dict[str, Any] | None:
        r = await self._get(
            f"{self.stack.urls['profiles']}/v1/projections/status", self.tokens.administrator()
        )
        return r.json() if r is not None and r.status_code == 200 else None

    async def matching_state(self, base: str | None = None) -> dict[str, Any] | None:
        url = f"{base or self.stack.urls['matching']}/v1/state"
        r = await self._get(url, self.tokens.administrator())
        return r.json() if r is not None and r.status_code == 200 else None

    async def matching_committed(
        self, parts: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The matching group's committed offsets (0 where none); empty if unreadable."""
        try:
            if self._committed is None:
                consumer = make_consumer(
                    self.stack.bootstrap or "", group_id=MATCHING_GROUP, enable_auto_commit=False
                )
                await consumer.start()
                self._committed = consumer
            return {tp: (await self._committed.committed(tp)) or 0 for tp in parts}
        except Exception:
            await self.close()
            return {}

    async def settle(self, tail: LogTail, still: float, timeout: float) -> Settled:
        """Wait until nothing moves: the log's ends, the matching worker's state and its
        committed offsets stay put for `still` seconds while the profiles projector holds
        every partition to its end. Not settling in `timeout` is itself a finding."""
        started = time.monotonic()
        deadline = started + timeout
        last: tuple[Any, ...] | None = None
        since: float | None = None
        why = "nothing read yet"
        parts = [TopicPartition(t.name, p) for t in MATCHING_INPUTS for p in range(t.partitions)]
        while time.monotonic() < deadline:
            try:
                ends = await tail.read_to_end(timeout=30)
            except Exception as exc:
                why = f"the log could not be read: {exc}"
                await asyncio.sleep(1)
                continue
            status = await self.profiles_status()
            state = await self.matching_state()
            committed = await self.matching_committed(parts)
            why = _lag(ends, status, committed)
            mark = (tuple(sorted(ends.items())), state and state.get("digest"))
            if not why and mark == last:
                since = since or time.monotonic()
                if time.monotonic() - since >= still:
                    return Settled(True, time.monotonic() - started)
            else:
                since = None
                if not why and mark != last:
                    why = "the log or the matching state still changes"
            last = mark
            await asyncio.sleep(0.5)
        return Settled(False, time.monotonic() - started, why)

    async def collect_views(self, log: LogFacts, concurrency: int = 16) -> ViewsSnapshot:
        """Every citizen, job order and employer of the log as the profiles API shows it."""
        base = self.stack.urls["profiles"]
        out = ViewsSnapshot()
        gate = asyncio.Semaphore(concurrency)
        readers = itertools.count()
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:

            async def get(path: str, municipality: str, **params: Any) -> httpx.Response:
                """Through one of many readers (each caller is rate-limited), again after
                a 429, 503 or 504 or a refused connection."""
                async with gate:
                    for attempt in range(8):
                        headers = self.tokens.consultant_of(municipality, next(readers) % 64)
                        try:
                            r = await client.get(path, headers=headers, params=params or None)
                        except httpx.HTTPError:
                            await asyncio.sleep(0.5 * (attempt + 1))
                            continue
                        if r.status_code not in (429, 503, 504):
                            return r
                        await asyncio.sleep(min(2.0, 0.25 * (attempt + 1)))
                    headers = self.tokens.consultant_of(municipality)
                    return await client.get(path, headers=headers, params=params or None)

            async def timeline(path: str, municipality: str) -> list[str] | None:
                ids: list[str] = []
                while True:
                    r = await get(path, municipality, limit=PAGE, offset=len(ids))
                    if r.status_code != 200:
                        return [f"unreadable: {r.status_code}"]
                    body = r.json()
                    entries = body.get("entries", [])
                    ids += [str(e["event_id"]) for e in entries]
                    if not entries or len(ids) >= int(body.get("total", 0)):
                        return ids

            async def citizen(cid: str, municipality: str) -> None:
                r = await get(f"/v1/citizens/{cid}", municipality)
                if r.status_code != 200:
                    out.citizens[cid] = CitizenView(r.status_code)
                    return
                doc = r.json()
                out.citizens[cid] = CitizenView(
                    200,
                    doc.get("version"),
                    [str(s["job_order_id"]) for s in doc.get("suggestions", [])],
                    await timeline(f"/v1/citizens/{cid}/timeline", municipality),
                )

            async def order(oid: str, municipality: str) -> None:
                r = await get(f"/v1/job-orders/{oid}", municipality)
                if r.status_code != 200:
                    out.orders[oid] = OrderView(r.status_code)
                    return
                doc = r.json()
                listed = await get(
                    f"/v1/job-orders/{oid}/suggestions",
                    municipality,
                    limit=200,
                    status="pending,accepted,rejected,presented,hired",
                )
                # Every suggestion matching has not withdrawn, whatever its review status.
                shown = (
                    [
                        str(s["citizen_id"])
                        for s in listed.json().get("suggestions", [])
                        if s.get("retraction_reason") is None
                    ]
                    if listed.status_code == 200
                    else [f"unreadable: {listed.status_code}"]
                )
                out.orders[oid] = OrderView(
                    200,
                    doc.get("status"),
                    doc.get("version"),
                    shown,
                    await timeline(f"/v1/job-orders/{oid}/timeline", municipality),
                )

            async def employer(cvr: str) -> None:
                headers = self.tokens.employer(cvr)
                for attempt in range(8):
                    r = await client.get(f"/v1/employers/{cvr}", headers=headers)
                    if r.status_code not in (429, 503, 504):
                        break
                    await asyncio.sleep(min(2.0, 0.25 * (attempt + 1)))
                out.employers[cvr] = r.status_code

            jobs = [
                citizen(cid, c.municipality or "0751")
                for cid, c in log.citizens.items()
                if c.version and not c.erased
            ]
            jobs += [
                order(oid, o.municipality or "0751") for oid, o in log.orders.items() if o.version
            ]
            jobs += [employer(cvr) for cvr in log.employers]
            await asyncio.gather(*jobs)
        return out

    # -- the views against a rebuild ---------------------------------------------------------

    def _jobmatch(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`jobmatch ARGS` against this stack; on a timeout its whole process group (a
        rebuild's workers too) is killed and TimeoutExpired raised."""
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap or "",
            "REDIS_URL": self.stack.redis_url or "",
            # The stack's key store: a rebuild opens the sealed events with it.
            "KEYSTORE_PATH": str(keystore_path(self.stack.home)),
        }
        argv = [sys.executable, "-m", "services.cli", *args]
        with subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def checksum_vs_rebuild(self, timeout: float = 600.0) -> Comparison:
        """`jobmatch projections checksum` of the live views, `jobmatch projections rebuild`
        (which switches readers to the rebuilt keyspace), and the rebuilt one's checksum."""
        live = self._jobmatch("projections", "checksum")
        if live.returncode != 0:
            return Comparison("failed", f"checksum: {_last_lines(live.stderr)}")
        started = time.monotonic()
        try:
            rebuilt = self._jobmatch(
                "projections", "rebuild", "--keep-old", "--grace", "0", timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return Comparison("failed", f"the rebuild did not finish in {timeout:.0f} s")
        took = time.monotonic() - started
        if rebuilt.returncode != 0:
            return Comparison("failed", f"rebuild: {_last_lines(rebuilt.stderr)}")
        prefix = rebuilt.stdout.strip().splitlines()[-1]
        fresh = self._jobmatch("projections", "checksum", "--keyspace", prefix)
        if fresh.returncode != 0:
            return Comparison("failed", f"checksum of {prefix}: {_last_lines(fresh.stderr)}")
        a, b = live.stdout.split(), fresh.stdout.split()
        # "<digest>  <keys> keys  <keyspace>"
        summary = (
            f"live {a[0][:12]} ({a[1]} keys), rebuilt {b[0][:12]} ({b[1]} keys) in {took:.1f} s"
        )
        return Comparison("equal" if a[:2] == b[:2] else "differs", summary)

    # -- the matching worker against a fresh replay ------------------------------------------

    async def fresh_replay(self, ends: Ends, live: dict[str, Any] | None) -> Comparison:
        """The running worker's state against a fresh replay of the log: offline, up to the
        positions the worker reports with its state (`python -m services.matching.replay`),
        where the worker reports them; else a second worker, in a consumer group of its
        own whose offsets are set to the log's ends (it replays the whole log at start-up
        and has nothing left to process)."""
        if live is None:
            return Comparison("failed", "the matching worker's /v1/state did not answer")
        if "digest" not in live:
            return Comparison("not available", "the matching worker exposes no state digest")
        if isinstance(live.get("positions"), dict):
            return await asyncio.to_thread(self._offline_replay, live)
        return await self._worker_replay(ends, live)

    def _offline_replay(self, live: dict[str, Any]) -> Comparison:
        assert self.stack.bootstrap and self.stack.redis_url
        env = service_env(
            "matching", free_port(), self.stack.bootstrap, self.stack.redis_url,
            self.stack.home / "replay", self.stack.issuer,
        )  # fmt: skip
        env["MATCHING_MODEL_DIR"] = str(self.stack.home / "models")  # the live worker's models
        env["KEYSTORE_PATH"] = str(keystore_path(self.stack.home))  # and its key store
        argv = [sys.executable, "-m", "services.matching.replay"]
        argv += ["--positions", json.dumps(live["positions"])]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Comparison("failed", "the replay did not finish in 900 s")
        took = time.monotonic() - started
        if done.returncode != 0:
            return Comparison("failed", f"replay: {_last_lines(done.stderr)}")
        try:
            replayed = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return Comparison("failed", f"replay printed no digest: {_last_lines(done.stdout)}")
        told = f"{replayed.get('events')} events replayed in {took:.1f} s"
        if replayed.get("digest") == live["digest"]:
            return Comparison("equal", f"{live['digest'][:12]} ({told})")
        return Comparison(
            "differs",
            f"live {live['digest'][:12]}, replayed {str(replayed.get('digest'))[:12]} ({told}); "
            f"divergence reported by the worker: {str(live.get('divergence'))[:300]}",
        )

    async def _worker_replay(self, ends: Ends, live: dict[str, Any]) -> Comparison:
        group = f"chaos-replay-{int(time.time())}"
        await self._commit(group, ends)
        port = free_port()
        assert self.stack.bootstrap and self.stack.redis_url
        env = service_env(
            "matching", port, self.stack.bootstrap, self.stack.redis_url,
            self.stack.home / "replay", self.stack.issuer,
        )  # fmt: skip
        env["MATCHING_GROUP_ID"] = group
        env["MATCHING_MODEL_DIR"] = str(self.stack.home / "models")  # the live worker's models
        env["KEYSTORE_PATH"] = str(keystore_path(self.stack.home))  # and its key store
        proc = start_service("matching", env, self.stack.home / "logs" / "replay")
        try:
            started = time.monotonic()
            await asyncio.to_thread(wait_ready, proc, port, 600.0)
            replayed = await self.matching_state(f"http://127.0.0.1:{port}")
            took = time.monotonic() - started
        except Exception as exc:
            return Comparison("failed", f"the replaying worker did not start: {exc}"[:500])
        finally:
            await asyncio.to_thread(proc.stop)
        if replayed is None:
            return Comparison("failed", "the replaying worker's /v1/state did not answer")
        if replayed["digest"] == live["digest"]:
            return Comparison("equal", f"{live['digest'][:12]} (replayed in {took:.1f} s)")
        return Comparison("differs", _state_diff(live["state"], replayed["state"]))

    async def _commit(self, group: str, ends: Ends) -> None:
        consumer = make_consumer(
            self.stack.bootstrap or "", group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            offsets = {
                TopicPartition(t.name, p): ends.get((t.name, p), 0)
                for t in DOMAIN_TOPICS
                for p in range(t.partitions)
            }
            consumer.assign(list(offsets))
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        finally:
            await consumer.stop()


def _lag(ends: Ends, status: dict[str, Any] | None, committed: dict[TopicPartition, int]) -> str:
    """Why the stack has not caught up with the log ("" when it has)."""
    if status is None:
        return "the profiles service's status does not answer"
    if not status.get("running", True):
        return "the profiles projector is not running"
    positions: dict[str, int] = status.get("positions", {})
    behind = [
        f"{t}:{p} {positions.get(f'{t}:{p}', 0)}/{end}"
        for (t, p), end in sorted(ends.items())
        if end and positions.get(f"{t}:{p}", 0) < end
    ]
    if behind:
        return "the profiles views lag: " + ", ".join(behind[:6])
    if any(committed.values()):  # a worker that commits no offsets is judged by its state
        late = [
            f"{tp.topic}:{tp.partition} {off}/{ends.get((tp.topic, tp.partition), 0)}"
            for tp, off in committed.items()
            if off < ends.get((tp.topic, tp.partition), 0)
        ]
        if late:
            return "the matching worker lags: " + ", ".join(late[:6])
    return ""


def _state_diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    parts = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            differ = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            parts.append(f"{key}: {len(differ)} differ (e.g. {differ[:3]})")
        elif isinstance(x, list) and isinstance(y, list):
            only_a = [v for v in x if v not in y]
            only_b = [v for v in y if v not in x]
            parts.append(f"{key}: {len(only_a)} only live, {len(only_b)} only replayed")
        else:
            parts.append(f"{key}: {json.dumps(x)[:60]} vs {json.dumps(y)[:60]}")
    return "; ".join(parts)[:1000] or "digests differ"


def _last_lines(text: str, n: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-n:])[:500]
