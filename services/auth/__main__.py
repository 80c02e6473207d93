"""`python -m services.auth`: the embedded issuer (ISSUER_HOME, ISSUER_PORT, ISSUER_URL)."""

from __future__ import annotations

import os
from pathlib import Path

from services.auth.issuer import create_issuer_app
from services.common.logs import configure_logging
from services.common.serve import serve


def run() -> None:
    configure_logging("issuer", os.environ.get("LOG_LEVEL", "INFO"))
    port = int(os.environ.get("ISSUER_PORT", "8706"))
    url = os.environ.get("ISSUER_URL", f"http://127.0.0.1:{port}")
    app = create_issuer_app(Path(os.environ.get("ISSUER_HOME", "var")), url)
    serve(app, "127.0.0.1", port)


run()
