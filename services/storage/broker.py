"""Start the durable embedded broker: `services.storage.s3server` on a folder, Tansu on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.stack import Proc

# services.stack calls this module: import it lazily, when it is fully initialised.


def start_s3server(
    data_dir: Path,
    port: int,
    log_dir: Path,
    *,
    compact: bool = True,
    segment_bytes: int | None = None,
    extra_args: list[str] | None = None,
    request_log: Path | None = None,
    name: str = "s3server",
) -> Proc:
    from services import stack

    argv = [
        sys.executable,
        "-m",
        "services.storage",
        "--root",
        str(data_dir),
        "--port",
        str(port),
        "--bucket",
        stack.TANSU_BUCKET,
    ]
    if not compact:
        argv.append("--no-compact")
    if segment_bytes is not None:
        argv += ["--segment-bytes", str(segment_bytes)]
    if request_log is not None:
        argv += ["--log-requests", str(request_log)]
    argv += extra_args or []
    # Up once it answers ListBuckets: by then it has indexed the folder and finished any
    # merge that a crash interrupted. (`ready` also lets the supervisor start it again.)
    up = stack._http_ok(f"http://127.0.0.1:{port}/")
    proc = stack._spawn(name, argv, log_dir, {"PYTHONUNBUFFERED": "1"}, ready=up)
    try:
        stack._wait(name, proc, up, 600)
    except BaseException:
        proc.kill()
        raise
    return proc


def start_durable_broker(
    data_dir: Path, kafka_port: int, s3_port: int, log_dir: Path
) -> list[Proc]:
    """The S3 server on `data_dir` (the bucket is the folder `data_dir/tansu`, the same
    layout localbucket used, so an existing home is taken over as it is), then Tansu on
    it. Stop them in the reverse order (the broker first)."""
    from services import stack

    s3 = start_s3server(data_dir, s3_port, log_dir)
    try:
        broker = stack.start_tansu(kafka_port, log_dir, s3_port)
    except BaseException:
        s3.stop()
        raise
    return [s3, broker]
