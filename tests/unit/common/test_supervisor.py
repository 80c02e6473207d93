"""The supervisor of `jobmatch up`, on small real processes and a clock of its own: a piece
that exits is started again after a back-off that doubles, and every step is said."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.stack import Ports, Proc, Stack, Supervisor, _spawn

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(home=tmp_path, ports=Ports(1))
    yield running
    running.stop()


def _piece(stack: Stack, name: str, argv: list[str], ready: list[bool]) -> Proc:
    proc = _spawn(name, argv, stack.home / "logs", ready=lambda: ready[0])
    stack.procs.append(proc)
    return proc


def test_a_killed_piece_is_restarted_after_a_doubling_back_off(stack: Stack) -> None:
    said: list[str] = []
    clock = Clock()
    ready = [True]
    first = _piece(stack, "matching", SLEEPER, ready)
    other = _piece(stack, "redis", SLEEPER, [True])
    supervisor = Supervisor(stack, said.append, stable_s=60, clock=clock)
    supervisor.tick()
    assert said == []

    for attempt, delay in ((1, 1), (2, 2), (3, 4)):
        victim = stack.procs[0]
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(5)
        ready[0] = False
        supervisor.tick()
        assert said[-1] == f"matching exited with -9; restarting (attempt {attempt}) in {delay} s"
        clock.now += delay - 0.1
        supervisor.tick()
        assert stack.procs[0] is victim, "restarted before its back-off"
        clock.now += 0.1
        supervisor.tick()
        assert stack.procs[0] is not victim and stack.procs[0].alive()
        assert stack.procs[0].pid != victim.pid
        supervisor.tick()
        assert said[-1].startswith("matching exited"), "ready before its probe said so"
        ready[0] = True
        clock.now += 2.5
        supervisor.tick()
        assert said[-1] == f"matching is back: ready 2.5 s after restart {attempt}"
        clock.now += 1

    # Up for `stable_s`: the next crash starts the back-off over.
    clock.now += 60
    supervisor.tick()
    stack.procs[0].popen.send_signal(signal.SIGKILL)
    stack.procs[0].popen.wait(5)
    supervisor.tick()
    assert said[-1] == "matching exited with -9; restarting (attempt 1) in 1 s"
    assert stack.procs[1] is other and other.alive(), "a healthy piece was touched"
    assert first.exit_code == -9
    # The stack stops what the supervisor started.
    clock.now += 1
    supervisor.tick()
    replacement = stack.procs[0]
    stack.stop()
    assert not replacement.alive() and not other.alive()


def test_a_piece_that_fails_says_why_and_the_back_off_stops_growing(stack: Stack) -> None:
    said: list[str] = []
    clock = Clock()
    failing = [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]
    _piece(stack, "events", failing, [False])
    supervisor = Supervisor(stack, said.append, first_delay_s=1, max_delay_s=8, clock=clock)
    delays = []
    for _ in range(6):
        stack.procs[0].popen.wait(10)
        supervisor.tick()
        delays.append(float(said[-2].rsplit(" in ", 1)[1].removesuffix(" s")))
        assert said[-1].startswith("events: end of ") and "no config here" in said[-1]
        clock.now += delays[-1]
        supervisor.tick()
    assert delays == [1, 2, 4, 8, 8, 8]
    assert said[0] == "events exited with 3; restarting (attempt 1) in 1 s"


def test_a_slow_restart_is_said_once(stack: Stack) -> None:
    said: list[str] = []
    clock = Clock()
    _piece(stack, "profiles", SLEEPER, [False])
    supervisor = Supervisor(stack, said.append, slow_after_s=30, clock=clock)
    supervisor.tick()
    stack.procs[0].popen.kill()
    stack.procs[0].popen.wait(5)
    supervisor.tick()
    clock.now += 1
    supervisor.tick()
    for _ in range(3):
        clock.now += 20
        supervisor.tick()
    assert said[1:] == ["profiles not ready 40 s after restart"]


def test_after_restart_runs_once_the_piece_is_ready(stack: Stack) -> None:
    said: list[str] = []
    clock = Clock()
    calls: list[str] = []
    proc = _spawn(
        "tansu",
        SLEEPER,
        stack.home / "logs",
        ready=lambda: True,
        after_restart=lambda: calls.append("topics"),
    )
    stack.procs.append(proc)
    supervisor = Supervisor(stack, said.append, clock=clock)
    supervisor.tick()
    assert calls == []
    proc.popen.kill()
    proc.popen.wait(5)
    supervisor.tick()
    clock.now += 1
    supervisor.tick()
    supervisor.tick()
    supervisor.tick()
    assert calls == ["topics"]
