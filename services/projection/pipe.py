"""A raw Redis connection for the store's batches: send one MULTI/EXEC, count the replies.

A batch is thousands of commands, each answered by +QUEUED and then by an integer inside
EXEC's reply. redis-py reads every reply through its own parser, its timeouts and a stream
`readline`: about 25 µs per reply, the single largest cost of a rebuild. Every command the
store sends (HSET, ZADD, HDEL, ZREM, DEL) answers with one line, so the replies of a batch
can be read as a block of bytes and counted; only error lines need a look.

The socket is a plain blocking one, driven from a worker thread: a batch is megabytes, more
than the kernel takes at once, and an asyncio stream only sends the rest when the event loop
runs, which it does not while the projector decodes the next batch. In a thread, Redis gets
the whole batch meanwhile (the thread waits in `sendall`/`recv`, without the GIL).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ResponseError

from services.projection.writes import Command

_CHUNK = 1 << 16
# A batch takes Redis milliseconds; this long means it is gone, and the projector should fail
# loudly (and be restarted) rather than hang.
_TIMEOUT_S = 60.0


class BatchConnection:
    """One connection, opened on first use with the client's address, credentials and db,
    and dropped after any failure (a half-read reply would poison it)."""

    def __init__(self, redis: Redis) -> None:
        self._tls = issubclass(redis.connection_pool.connection_class, SSLConnection)
        self._kwargs: dict[str, Any] = dict(redis.connection_pool.connection_kwargs)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    async def transact(self, packed: bytes, commands: int) -> None:
        """Send MULTI, `commands` single-line commands, EXEC (packed); raise the first error."""
        await asyncio.to_thread(self._transact, packed, commands)

    async def close(self) -> None:
        with self._lock:
            self._close()

    def _transact(self, packed: bytes, commands: int) -> None:
        with self._lock:
            try:
                sock = self._connection()
                sock.sendall(packed)
                lines = _read_replies(sock, commands)
            except BaseException:
                self._close()
                raise
        errors = [line for line in lines if line.startswith(b"-")]
        if errors:
            raise ResponseError(errors[0][1:].decode(errors="replace"))

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _connection(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        if self._tls:
            raise ValueError("the views' store does not speak TLS to Redis: use redis://")
        kw = self._kwargs
        if kw.get("path"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(_TIMEOUT_S)
            sock.connect(kw["path"])
        else:
            address = (kw.get("host", "localhost"), kw.get("port", 6379))
            sock = socket.create_connection(address, timeout=_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        hello: list[list[str]] = []
        if kw.get("password"):
            user = kw.get("username")
            hello.append(["AUTH", user, kw["password"]] if user else ["AUTH", kw["password"]])
        if kw.get("db"):
            hello.append(["SELECT", str(kw["db"])])
        if hello:
            sock.sendall(b"".join(pack(command) for command in hello))
            failed = [line for line in _read_lines(sock, len(hello)) if line[:1] == b"-"]
            if failed:
                raise ResponseError(failed[0][1:].decode(errors="replace"))
        return sock


def _read_replies(sock: socket.socket, commands: int) -> list[bytes]:
    """The reply lines (without CRLF) of MULTI, `commands` commands and EXEC."""
    lines: list[bytes] = []
    rest = _read_into(lines, sock, commands + 2)  # +OK, +QUEUED (or an error) each, EXEC's
    if lines[commands + 1] == b"*%d" % commands:  # EXEC ran: an integer or error per command
        rest = _read_into(lines, sock, 2 * commands + 2, rest)
    if len(lines) > 2 * commands + 2 or rest:
        # Replies are all read before the next batch goes out: nothing else may come.
        raise ConnectionError("Redis sent more replies than the batch asked for")
    return lines


def _read_lines(sock: socket.socket, count: int) -> list[bytes]:
    lines: list[bytes] = []
    if _read_into(lines, sock, count) or len(lines) > count:
        raise ConnectionError("Redis sent more replies than were asked for")
    return lines


def _read_into(lines: list[bytes], sock: socket.socket, count: int, rest: bytes = b"") -> bytes:
    """Read until `lines` holds `count` single-line replies; return the bytes of an
    incomplete line read after them."""
    while len(lines) < count:
        chunk = sock.recv(_CHUNK)
        if not chunk:
            raise ConnectionError("Redis closed the connection in the middle of a batch")
        *complete, rest = (rest + chunk).split(b"\r\n")
        lines += complete
    return rest


def pack(args: list[str]) -> bytes:
    """One command in the Redis protocol."""
    encoded = [a.encode() for a in args]
    parts = [b"*%d\r\n" % len(encoded)]
    parts += [b"$%d\r\n%b\r\n" % (len(a), a) for a in encoded]
    return b"".join(parts)


def pack_transaction(commands: Iterable[Command], prefix: str) -> bytes:
    """MULTI, the commands with their keys in the keyspace `prefix`, EXEC."""
    parts = [pack(["MULTI"])]
    parts += [pack([name, prefix + key, *args]) for name, key, args in commands]
    parts.append(pack(["EXEC"]))
    return b"".join(parts)
