"""`python -m services.ui`: the web application (settings from the environment)."""

from __future__ import annotations

import os
import sys

from pydantic import ValidationError

from services.common.logs import configure_logging
from services.common.serve import serve


def run() -> None:
    configure_logging("ui", os.environ.get("LOG_LEVEL", "INFO"))
    from services.ui.app import create_app
    from services.ui.settings import UiSettings

    try:
        settings = UiSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        print(f"ui: invalid settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    serve(create_app(settings), settings.ui_host, settings.ui_port)


run()
