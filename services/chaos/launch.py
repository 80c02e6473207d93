"""The stack under test, and who brings a killed process back.

- `StackLauncher` starts the stack in-process with `services.stack.Stack` (as the e2e
  tests do); the harness itself restarts what it killed, and whatever else died.
- `UpLauncher` starts the real `jobmatch up` as a child process; killed processes must be
  brought back by its supervisor. The harness never restarts anything there: a process
  that does not come back, or a `jobmatch up` that exits, is what the drill reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx

from services import stack as stack_module
from services.stack import Ports, Proc, Stack, start_tansu

Target = Literal["events", "profiles", "matching", "broker"]
SERVICES: tuple[Target, ...] = ("events", "profiles", "matching")
PROC_NAME: dict[str, str] = {"broker": "tansu"}


def ready(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class Launcher(ABC):
    """Starts and stops the stack; kills and (unless supervised) restarts its processes."""

    supervised: bool
    stack: Stack

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def kill(self, target: Target) -> int:
        """SIGKILL the target's process; its pid."""

    @abstractmethod
    def restart(self, target: Target) -> str:
        """Bring the target back (blocking); who did: "harness" or "supervisor"."""

    @abstractmethod
    def check_exits(self) -> list[str]:
        """Processes that died without being killed by the drill (restarted if the
        launcher restarts things), or why the stack is gone."""

    @abstractmethod
    def log_tail(self, target: Target) -> str: ...

    def gone(self) -> str | None:
        """Why the stack as a whole is no longer running (None while it is)."""
        return None


class StackLauncher(Launcher):
    """The stack in-process. With `services.stack.Supervisor` (what `jobmatch up` runs),
    the supervisor ticks in a thread of its own and brings back whatever dies; without
    one, the harness restarts what it killed and whatever else died."""

    def __init__(self, home: Path, ports: Ports, memory: bool, supervise: bool = True) -> None:
        self.stack = Stack(home=home, ports=ports, memory=memory)
        self._supervisor_type = getattr(stack_module, "Supervisor", None) if supervise else None
        self.supervised = self._supervisor_type is not None
        self._busy: set[str] = set()  # targets the harness is killing or restarting
        self._lock = threading.Lock()
        self._killed: set[int] = set()  # pids the drill killed
        self._reported: set[int] = set()  # pids reported as having died by themselves
        self._seen: dict[str, int] = {}  # the last pid seen of each piece
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.stack.start_stores()
            self.stack.start_services()
        except BaseException:
            self.stack.stop()
            raise
        if self._supervisor_type is not None:
            log = self.stack.home / "logs" / "supervisor.log"
            supervisor = self._supervisor_type(self.stack, _appender(log))
            self._thread = threading.Thread(
                target=self._supervise, args=(supervisor,), name="supervisor", daemon=True
            )
            self._thread.start()

    def _supervise(self, supervisor: Any) -> None:
        while not self._stop.is_set():
            try:
                supervisor.tick()
            except Exception as exc:  # reported as an exit of "supervisor"
                _appender(self.stack.home / "logs" / "supervisor.log")(f"tick failed: {exc}")
            self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.stack.stop()

    def _proc(self, target: str) -> Proc | None:
        name = PROC_NAME.get(target, target)
        found = [p for p in self.stack.procs if p.name == name]
        return found[-1] if found else None

    def kill(self, target: Target) -> int:
        with self._lock:
            self._busy.add(target)
            proc = self._proc(target)
            if proc is None or not proc.alive():
                self._busy.discard(target)
                raise RuntimeError(f"no running {target} process to kill")
            pid = proc.popen.pid
            self._killed.add(pid)
        proc.kill()
        if self.supervised:
            with self._lock:
                self._busy.discard(target)
        return pid

    def restart(self, target: Target) -> str:
        if self.supervised:
            return "supervisor"
        try:
            old = self._proc(target)
            if old is not None and not old.alive():
                self.stack.procs.remove(old)
            if target == "broker":
                s3 = None if self.stack.memory else self.stack.ports.s3
                self.stack.procs.append(
                    start_tansu(self.stack.ports.kafka, self.stack.home / "logs", s3)
                )
            else:
                self.stack.start_services((target,))
            return "harness"
        finally:
            with self._lock:
                self._busy.discard(target)

    def check_exits(self) -> list[str]:
        """Pieces that died without the drill killing them: seen dead, or seen replaced by
        the supervisor since the last look."""
        found = []
        restart: list[str] = []
        with self._lock:
            for proc in list(self.stack.procs):
                pid, target = proc.popen.pid, _target(proc.name)
                before = self._seen.get(proc.name)
                self._seen[proc.name] = pid
                if before is not None and before != pid and self._unexplained(before):
                    found.append(f"{proc.name} (pid {before}) died by itself; the supervisor "
                                 "restarted it")  # fmt: skip
                if proc.alive() or target in self._busy or not self._unexplained(pid):
                    continue
                code = proc.popen.returncode
                found.append(f"{proc.name} exited by itself (code {code}):\n{proc.log_tail(12)}")
                if not self.supervised and target in (*SERVICES, "broker"):
                    self._busy.add(target)
                    restart.append(target)
        for target in restart:
            try:
                self.restart(target)  # type: ignore[arg-type]
            except Exception as exc:
                found.append(f"{target} could not be restarted: {exc}")
        return found

    def _unexplained(self, pid: int) -> bool:
        """Not killed by the drill, and not yet reported (the caller holds the lock)."""
        if pid in self._killed or pid in self._reported:
            return False
        self._reported.add(pid)
        return True

    def log_tail(self, target: Target) -> str:
        proc = self._proc(target)
        return proc.log_tail() if proc else ""


def _target(name: str) -> str:
    return next((t for t, n in PROC_NAME.items() if n == name), name)


def _appender(path: Path) -> Callable[[str], None]:
    def say(message: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    return say


class UpLauncher(Launcher):
    """`jobmatch up` as a child process: its supervisor is what is under test."""

    supervised = True

    def __init__(self, home: Path, ports: Ports, memory: bool, start_timeout: float = 240.0):
        self.stack = Stack(
            home=home,
            ports=ports,
            memory=memory,
            bootstrap=f"127.0.0.1:{ports.kafka}",
            redis_url=f"redis://127.0.0.1:{ports.redis}/0",
        )
        self.start_timeout = start_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.log_path = home / "jobmatch-up.log"
        self._reported_exit = False

    def start(self) -> None:
        self.stack.home.mkdir(parents=True, exist_ok=True)
        skip = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "JOBMATCH_HOME"}
        env = {k: v for k, v in os.environ.items() if k not in skip}
        argv = [sys.executable, "-m", "services.cli", "up"]
        argv += ["--port-base", str(self.stack.ports.base), "--home", str(self.stack.home)]
        if self.stack.memory:
            argv.append("--memory")
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while not all(ready(url) for url in self.stack.urls.values()):
            if self.popen.poll() is not None:
                raise RuntimeError(f"jobmatch up exited during start-up:\n{self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"jobmatch up not ready in {self.start_timeout:.0f} s")
            time.sleep(0.2)

    def _tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def children(self) -> dict[int, list[str]]:
        """The processes `jobmatch up` started: pid -> argv."""
        if self.popen is None:
            return {}
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.popen.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            out[int(entry.name)] = [a.decode(errors="replace") for a in argv if a]
        return out

    def pid_of(self, target: Target) -> int | None:
        for pid, argv in self.children().items():
            if target == "broker" and argv and Path(argv[0]).name == "tansu":
                return pid
            if f"services.{target}" in argv:
                return pid
        return None

    def kill(self, target: Target) -> int:
        pid = self.pid_of(target)
        if pid is None:
            raise RuntimeError(f"jobmatch up runs no {target} process")
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart(self, target: Target) -> str:
        return "supervisor"

    def gone(self) -> str | None:
        if self.popen is None or self.popen.poll() is None:
            return None
        return f"jobmatch up exited (code {self.popen.returncode})"

    def check_exits(self) -> list[str]:
        if self.popen is None or self.popen.poll() is None or self._reported_exit:
            return []
        self._reported_exit = True
        return [f"jobmatch up exited (code {self.popen.returncode}):\n{self._tail(15)}"]

    def log_tail(self, target: Target) -> str:
        path = self.stack.home / "logs" / f"{PROC_NAME.get(target, target)}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-30:])
        return ""

    def stop(self) -> None:
        if self.popen is None:
            return
        children = self.children()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                children.update(self.children())
                self.popen.kill()
                self.popen.wait(5)
        for pid, argv in children.items():  # whatever it left behind (still the same process)
            if _argv(pid) == argv:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def _argv(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]
