"""Processes as an operator sees them: `jobmatch up` restarts a piece that dies and says so;
SIGTERM makes each service drain, keep its positions and exit with 0 within 10 s."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from services.common.kafka import make_admin
from services.common.serve import STOP_BUDGET_S
from services.stack import Proc, Stack, free_port_base, spawn, wait_ready
from tests.e2e.signin import AARHUS, User, administrator, consultant
from tests.e2e.test_jobmatch_up import _start, _stop

DATA = Path(__file__).resolve().parents[1] / "data"


def _wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def _children(pid: int) -> dict[str, int]:
    """The launcher's child processes by piece name (from their command lines)."""
    found: dict[str, int] = {}
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for kid in kids:
        try:
            argv = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if "-m" in words:
            module = words[words.index("-m") + 1]
            name = {"services.auth": "issuer"}.get(module, module.removeprefix("services."))
        elif words and "redis-server" in words[0]:  # it sets its title: "redis-server host:port"
            name = "redis"
        elif words and words[0].endswith("tansu"):
            name = "tansu"
        else:
            name = Path(words[0]).name if words else "?"
        found[name] = int(kid)
    return found


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_restarts_a_killed_piece_and_says_so(tmp_path: Path) -> None:
    ports = free_port_base()
    errors = (tmp_path / "up.err").open("w")
    proc, urls = _start(tmp_path, ports.base, "--memory", stderr=errors)
    supervisor_log = tmp_path / "logs" / "supervisor.log"
    try:
        before = _children(proc.pid)
        assert {"events", "profiles", "matching", "issuer", "tansu", "redis"} <= set(before)

        # A service: SIGKILL, as the OOM killer would.
        os.kill(before["matching"], signal.SIGKILL)
        _wait_for(
            "matching to be restarted and ready",
            lambda: (
                _children(proc.pid).get("matching", before["matching"]) != before["matching"]
                and _answers(f"{urls['matching']}/ready")
            ),
            120,
        )
        _wait_for("the log to say so", lambda: "matching is back" in supervisor_log.read_text(), 10)
        said = supervisor_log.read_text()
        assert "matching exited with -9; restarting (attempt 1) in 1 s" in said, said

        # A store.
        os.kill(before["redis"], signal.SIGKILL)
        _wait_for(
            "redis to be restarted",
            lambda: (
                _children(proc.pid).get("redis", before["redis"]) != before["redis"]
                and _port_open(ports.redis)
            ),
            60,
        )
        _wait_for("the log to say so", lambda: "redis is back" in supervisor_log.read_text(), 10)
        assert "redis exited with -9; restarting (attempt 1)" in supervisor_log.read_text()
        # The launcher itself carried on, and the rest of the stack was not touched.
        assert proc.poll() is None
        after = _children(proc.pid)
        for name in ("events", "profiles", "issuer", "tansu"):
            assert after[name] == before[name], f"{name} was restarted too"
        replaced = [after["matching"], after["redis"]]
        print("\n" + supervisor_log.read_text())
    finally:
        code = _stop(proc)
        errors.close()
    assert code == 0
    told = (tmp_path / "up.err").read_text()
    assert "matching exited with -9; restarting (attempt 1) in 1 s" in told
    assert "start-up failed" not in told
    # Ctrl-C stops the replacements too.
    for pid in replaced:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"{pid} still runs"
    for port in (ports.events, ports.profiles, ports.matching, ports.kafka, ports.redis):
        assert not _port_open(port), f"port {port} still answers after Ctrl-C"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_failed_start_says_why(tmp_path: Path) -> None:
    """The events port is taken: `up` names the service and its error, and exits with 1
    (it used to say "start-up failed: 1" when a piece exited)."""
    ports = free_port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.events))
        taken.listen()
        errors = tmp_path / "up.err"
        with errors.open("w") as err:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "up",
                    "--memory",
                    "--home",
                    str(tmp_path),
                    "--port-base",
                    str(ports.base),
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=180,
                env={
                    k: v
                    for k, v in os.environ.items()
                    if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")
                },
            )
    told = errors.read_text()
    assert done.returncode == 1, told
    assert "start-up failed" in told and "events exited during start-up" in told, told
    assert "start-up failed: 1\n" not in told
    for port in (ports.profiles, ports.matching, ports.kafka, ports.redis, ports.issuer):
        assert not _port_open(port), f"port {port} still answers after a failed start"


# -- SIGTERM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose services this module stops: its own, not the shared one. Queries wait
    at most 3 s for `min_position`, so one can be in flight through a shutdown."""
    saved = os.environ.get("PROFILES_MAX_WAIT_MS")
    os.environ["PROFILES_MAX_WAIT_MS"] = "3000"
    try:
        running = Stack(
            home=tmp_path_factory.mktemp("sigterm"), ports=free_port_base(), memory=True
        )
        with running.running():
            yield running
    finally:
        if saved is None:
            os.environ.pop("PROFILES_MAX_WAIT_MS", None)
        else:
            os.environ["PROFILES_MAX_WAIT_MS"] = saved


class Load:
    """Light load on one service while it stops: a request every 20 ms, each on a new
    connection (so none is cut between requests on a kept-alive one)."""

    def __init__(self, call: Callable[[httpx.Client], httpx.Response]) -> None:
        self.call = call
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    self.statuses[self.call(client).status_code] += 1
                except httpx.TransportError as exc:
                    self.errors[type(exc).__name__] += 1
                self._stop.wait(0.02)


def _sigterm(proc: Proc) -> tuple[int, float]:
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    code = proc.popen.wait(STOP_BUDGET_S + 20)
    return code, time.monotonic() - started


def _proc(stack: Stack, name: str) -> Proc:
    """The service, running: started again (and ready) if a test before stopped it."""
    proc = next(p for p in stack.procs if p.name == name)
    if not proc.alive():
        assert proc.launch is not None
        stack.procs[stack.procs.index(proc)] = proc = spawn(proc.launch)
        wait_ready(proc, getattr(stack.ports, name))
    return proc


def _register(stack: Stack, user: User, citizen_id: str) -> dict[str, Any]:
    card = json.loads((DATA / "competence_card_yonas.json").read_text())
    card["citizen_id"] = citizen_id
    answer = user.post(f"{stack.urls['events']}/v1/competence-cards", json=card, timeout=15)
    assert answer.status_code == 202, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def _assert_stopped_well(name: str, code: int, took: float, load: Load) -> None:
    print(
        f"\n{name}: exit {code} after {took:.2f} s; load {dict(load.statuses)} {dict(load.errors)}"
    )
    assert code == 0, f"{name} exited with {code}"
    assert took < STOP_BUDGET_S, f"{name} took {took:.1f} s to stop"
    assert load.statuses, f"no request reached {name} before it stopped"
    assert set(load.statuses) <= {200, 202}, load.statuses
    # Refused once the listener is closed; nothing cut off with a request half answered.
    assert set(load.errors) <= {"ConnectError"}, load.errors


def test_sigterm_profiles_answers_the_query_in_flight_then_exits_0(stack: Stack) -> None:
    user = consultant(stack)
    url = f"{stack.urls['profiles']}/v1/citizens/cit-nobody"
    slow: dict[str, Any] = {}
    sent = threading.Event()

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            sent.set()

    def in_flight() -> None:
        # Waits (up to 3 s) for a position the views will never reach: answered 504.
        try:
            with httpx.Client(timeout=10) as client:
                slow["answer"] = client.get(
                    url,
                    params={"min_position": "jobmatch.citizens:0:999999"},
                    headers=user.headers,
                    extensions={"trace": trace},
                )
        except httpx.HTTPError as exc:
            slow["error"] = exc

    profiles = _proc(stack, "profiles")
    waiting = threading.Thread(target=in_flight)
    with Load(lambda c: c.get(f"{stack.urls['profiles']}/health")) as load:
        waiting.start()
        _wait_for("the load to reach profiles", lambda: load.statuses.total() > 3, 10)
        assert sent.wait(5), "the slow query was not sent"
        time.sleep(0.3)  # for the service to take it up: it then waits 3 s
        assert waiting.is_alive() and not slow, "the slow query was not in flight"
        code, took = _sigterm(profiles)
    waiting.join(10)
    _assert_stopped_well("profiles", code, took, load)
    assert "error" not in slow, f"the query in flight was cut off: {slow.get('error')!r}"
    assert slow["answer"].status_code == 504, slow["answer"].text


def test_sigterm_events_under_commands_exits_0(stack: Stack) -> None:
    events = _proc(stack, "events")
    user = consultant(stack, AARHUS)
    count = iter(range(10_000))
    card = json.loads((DATA / "competence_card_yonas.json").read_text())

    def command(client: httpx.Client) -> httpx.Response:
        doc = {**card, "citizen_id": f"cit-sigterm-{next(count)}"}
        return client.post(
            f"{stack.urls['events']}/v1/competence-cards", json=doc, headers=user.headers
        )

    with Load(command) as load:
        _wait_for("commands to be accepted", lambda: load.statuses[202] >= 5, 30)
        code, took = _sigterm(events)
    _assert_stopped_well("events", code, took, load)


def test_sigterm_matching_commits_its_position_and_exits_0(stack: Stack) -> None:
    """The worker's consumer group holds, after the stop, the offset past a card it had
    applied: a restart resumes there."""
    _proc(stack, "events")
    accepted = _register(stack, consultant(stack), "cit-sigterm-matching")
    topic, partition, offset = accepted["read_token"].split(",")[0].rsplit(":", 2)
    admin = administrator(stack)

    def applied() -> bool:
        state = admin.get(f"{stack.urls['matching']}/v1/state", timeout=5)
        return state.status_code == 200 and "cit-sigterm-matching" in state.json()["state"]["cards"]

    _wait_for("matching to apply the card", applied, 60)
    matching = _proc(stack, "matching")
    with Load(lambda c: c.get(f"{stack.urls['matching']}/health")) as load:
        _wait_for("the load to reach matching", lambda: load.statuses.total() > 3, 10)
        code, took = _sigterm(matching)
    _assert_stopped_well("matching", code, took, load)
    committed = asyncio.run(_committed(stack, TopicPartition(topic, int(partition))))
    assert committed is not None and committed > int(offset), (committed, offset)


async def _committed(stack: Stack, tp: TopicPartition) -> int | None:
    assert stack.bootstrap
    admin = make_admin(stack.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets("jobmatch-matching", partitions=[tp])
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return None if meta is None or meta.offset < 0 else int(meta.offset)
