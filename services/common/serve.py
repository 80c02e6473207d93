"""Run an ASGI app the way every jobmatch HTTP service runs."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int) -> None:
    """Our JSON logging (no uvicorn log config) and no `Server` banner naming the software."""
    uvicorn.run(app, host=host, port=port, log_config=None, server_header=False)
