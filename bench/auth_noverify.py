"""Bench-only launcher: the events or profiles service without token verification.

The app is built by the service's own composition root (`bootstrap()`: same settings from
the environment, same logging, same gate, access rules and routes) and served by the
service's own `serve()` (uvicorn with the same arguments). The one change: the authenticator's
`verifier.verify` is replaced by a coroutine that returns a fixed Principal without looking
at the token, so a request still needs an `Authorization: Bearer …` header, still passes
the rate limiter and the access rules, and still acts as a consultant of one municipality,
but no signature is checked and no verified token is remembered. `bench/auth.py` runs the
real service and this one side by side to see what verification costs.

    python bench/auth_noverify.py events|profiles --municipality 0751

Never use it outside the bench: anyone with any bearer string is that consultant.
The fixed caller is one subject, so the bench raises `AUTH_RATE_PER_MINUTE` for it (and for
the real service it is compared with, so both run the same limiter).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable without the editable install too
    sys.path.insert(0, str(REPO))

from fastapi import FastAPI  # noqa: E402

from services.auth.authenticator import Authenticator  # noqa: E402
from services.auth.principal import Principal  # noqa: E402
from services.common.serve import serve  # noqa: E402

SUBJECT = "bench-unverified"


def skip_verification(authenticator: Authenticator, principal: Principal) -> None:
    """Every token the authenticator hands to its verifier stands for `principal`,
    unchecked (everything else the authenticator does stays as it is)."""

    async def verify(token: str) -> Principal:
        return principal

    # Replaces the method on this instance (mypy refuses a plain assignment to a method).
    setattr(authenticator.verifier, "verify", verify)  # noqa: B010


def build(service: str) -> tuple[FastAPI, str, int, str]:
    """(app, host, port, issuer) as `python -m services.<service>` would build them."""
    if service == "events":
        from services.events.bootstrap import bootstrap as events_bootstrap

        app, events = events_bootstrap()
        return app, events.events_host, events.events_port, events.auth_issuer
    from services.profiles.bootstrap import bootstrap as profiles_bootstrap

    app, profiles = profiles_bootstrap()
    return app, profiles.profiles_host, profiles.profiles_port, profiles.auth_issuer


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("service", choices=("events", "profiles"))
    p.add_argument("--municipality", default="0751", help="the fixed consultant's municipality")
    a = p.parse_args(argv)
    app, host, port, issuer = build(a.service)
    principal = Principal(
        subject=SUBJECT,
        role="consultant",
        issuer=issuer,
        municipality_code=a.municipality,
        expires_at=time.time() + 24 * 3600,
    )
    skip_verification(app.state.authenticator, principal)
    serve(app, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
