"""`jobmatch up` as a user runs it: one command, URLs printed, Ctrl-C stops, data survives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from services.stack import free_port_base
from tests.e2e.signin import AARHUS, User


def _start(
    home: Path,
    base: int,
    *extra: str,
    env: dict[str, str] | None = None,
    stderr: int | IO[str] = subprocess.DEVNULL,
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`jobmatch up` running, once it printed "ready"; its URLs by name. `stderr`: where
    what it tells the operator goes (the supervisor's lines among it)."""
    outer = {
        k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--home",
            str(home),
            "--port-base",
            str(base),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**outer, **(env or {})},
    )
    urls: dict[str, str] = {}
    out: IO[str] = proc.stdout  # type: ignore[assignment]
    deadline = time.monotonic() + 120
    for line in out:
        line = line.strip()
        if line == "ready":
            return proc, urls
        name, sep, url = line.partition(": ")
        if sep and url.startswith("http://127.0.0.1:"):
            urls[name] = url
        if name == "sign-in":  # "... get a token with `.venv/bin/jobmatch auth token ...`"
            urls[name] = line.split("`")[1]
        assert time.monotonic() < deadline, "jobmatch up did not get ready"
    raise AssertionError(f"jobmatch up exited early with {proc.wait()}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(60)


def _signin(home: Path, base: int, *args: str) -> User:
    """A token as a user gets one on this machine: `jobmatch auth token`."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "auth",
            "token",
            *args,
            "--port-base",
            str(base),
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return User(done.stdout.strip())


def _consultant(home: Path, base: int) -> User:
    return _signin(home, base, "--role", "consultant", "--municipality", AARHUS)


def _get(user: User, url: str, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = user.get(url, timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_up_demo_then_restart_keeps_the_data(tmp_path: Path) -> None:
    ports = free_port_base()
    proc, urls = _start(tmp_path, ports.base, "--demo")
    try:
        told = urls.pop("sign-in").split()
        assert told[:3] == [".venv/bin/jobmatch", "auth", "token"], told
        assert urls == {
            "events": f"http://127.0.0.1:{ports.events}",
            "profiles": f"http://127.0.0.1:{ports.profiles}",
            "matching": f"http://127.0.0.1:{ports.matching}",
            "ui": f"http://127.0.0.1:{ports.ui}",
        }
        suggestions = (
            f"{urls['profiles']}/v1/job-orders/jo-4410-aarhus-lager/suggestions?status=all"
        )
        # Nothing but health and readiness answers without signing in.
        anonymous = httpx.get(suggestions, timeout=5)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        # The command `jobmatch up` told of gives a token the services accept.
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *told[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        aarhus = User(done.stdout.strip())
        lager = _get(aarhus, suggestions)
        assert lager.status_code == 200
        deadline = time.monotonic() + 10
        while not lager.json()["suggestions"] and time.monotonic() < deadline:
            time.sleep(0.1)
            lager = _get(aarhus, suggestions)
        assert lager.json()["suggestions"][0]["citizen_id"] == "cit-7f3a9c2e"
        # The demo gives the consultants' worklist something to show (synthetic cards and
        # orders in Aarhus and Odense), not only the example's one suggestion.
        worklist = f"{urls['profiles']}/v1/worklists/0751"
        deadline = time.monotonic() + 60
        while _get(aarhus, worklist).json()["total"] < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _get(aarhus, worklist).json()["total"] >= 10
    finally:
        code = _stop(proc)
    assert code == 0
    stopped = (
        ports.events, ports.profiles, ports.matching, ports.kafka, ports.redis, ports.issuer,
        ports.ui,
    )  # fmt: skip
    for port in stopped:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except httpx.TransportError:
            pass

    # Started again on the same data folder, without the demo: everything is still there.
    proc, urls = _start(tmp_path, ports.base)
    try:
        # The signing key is kept too: a token from before the restart is still good.
        citizen = _get(aarhus, f"{urls['profiles']}/v1/citizens/cit-2b8e41d0")
        assert citizen.status_code == 200 and citizen.json()["version"] == 1
        kantine = _get(
            aarhus, f"{urls['profiles']}/v1/job-orders/jo-4411-aarhus-kantine/suggestions"
        )
        assert [s["citizen_id"] for s in kantine.json()["suggestions"]] == ["cit-2b8e41d0"]
        admin = _signin(tmp_path, ports.base, "--role", "administrator")
        state = admin.get(f"{urls['matching']}/v1/state", timeout=5).json()["state"]
        examples = {"cit-2b8e41d0", "cit-7f3a9c2e", "cit-c91d7a55"}
        assert examples <= set(state["cards"])
        # Besides the examples, the demo's synthetic cards only (services/demo/worklist.py).
        others = set(state["cards"]) - examples
        assert others and all(c.startswith("cit-demo-") for c in others), others
        # The command side's state survived as well: the next change is version 2.
        answer = aarhus.put(
            f"{urls['events']}/v1/competence-cards/cit-2b8e41d0",
            json=citizen.json()["card"],
            headers={"If-Match": "1"},
            timeout=10,
        ).json()
        assert (answer["event_type"], answer["version"]) == ("CompetenceCardUpdated", 2)
    finally:
        assert _stop(proc) == 0


def test_up_uses_the_given_broker_and_redis(tmp_path: Path, broker: str, redis_url: str) -> None:
    ports = free_port_base()
    proc, urls = _start(
        tmp_path, ports.base, env={"KAFKA_BOOTSTRAP_SERVERS": broker, "REDIS_URL": redis_url}
    )
    try:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", ports.kafka)) != 0, "started its own broker"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", ports.redis)) != 0, "started its own redis"
        assert not (tmp_path / "s3").exists()
        card = json.loads(
            (Path(__file__).parents[1] / "data/competence_card_yonas.json").read_text()
        )
        card["citizen_id"] = "cit-external-1"
        aarhus = _consultant(tmp_path, ports.base)
        posted = aarhus.post(f"{urls['events']}/v1/competence-cards", json=card, timeout=10)
        assert posted.status_code == 202, posted.text
        assert _get(aarhus, f"{urls['profiles']}/v1/citizens/cit-external-1").status_code == 200
    finally:
        assert _stop(proc) == 0
