"""`jobmatch auth`: tokens from the embedded issuer, and its key rotation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from services.auth.issuer import KeyStore, mint
from services.auth.principal import ROLES, SCOPES, Role

auth_app = typer.Typer(help="Sign-in on the embedded stack.", no_args_is_help=True)
DEFAULT_PORT_BASE = 8700

Home = Annotated[
    Path | None, typer.Option(help="The stack's data folder (default $JOBMATCH_HOME or ./var)")
]


def _home(home: Path | None) -> Path:
    return (home or Path(os.environ.get("JOBMATCH_HOME", "var"))).resolve()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@auth_app.command("token")
def token(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    municipality: Annotated[
        str | None, typer.Option(help="Kommunekode (consultants; system: limit to one)")
    ] = None,
    cvr: Annotated[str | None, typer.Option(help="CVR number (employers)")] = None,
    sub: Annotated[str | None, typer.Option(help="Subject (default: from role and tenant)")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help=f"Grants of a system account (repeat; default all: {' '.join(SCOPES)})"),
    ] = None,
    minutes: Annotated[float, typer.Option(min=1, max=24 * 60, help="Lifetime")] = 60,
    port_base: Annotated[int, typer.Option(help="The `jobmatch up` port base")] = (
        DEFAULT_PORT_BASE
    ),
    home: Home = None,
) -> None:
    """Print a bearer token from the embedded stack's issuer.

    Examples: --role consultant --municipality 0751; --role employer --cvr 39121018;
    --role system --sub downstream-x; --role administrator."""
    from pydantic import ValidationError

    from services.auth.claims import InvalidToken, principal_from_claims
    from services.auth.settings import AuthSettings
    from services.stack import issuer_url

    if role not in ROLES:
        raise _fail(f"--role must be one of {', '.join(ROLES)}")
    picked: Role = role  # type: ignore[assignment]
    bad = [s for s in scope or [] if s not in SCOPES]
    if bad:
        raise _fail(f"unknown scope {bad[0]!r}; one of {', '.join(SCOPES)}")
    scopes = (scope or list(SCOPES)) if picked == "system" else []
    tenant = municipality if picked == "consultant" else cvr if picked == "employer" else None
    subject = sub or (f"{picked}-{tenant}" if tenant else picked)
    claims = {"sub": subject, "role": picked, "municipality": municipality, "cvr": cvr}
    try:
        mapping = AuthSettings(auth_issuer="-", auth_jwks_url="-").claim_mapping()
        principal_from_claims({k: v for k, v in claims.items() if v}, mapping)
    except (InvalidToken, ValidationError) as exc:
        raise _fail(str(exc)) from None
    store = KeyStore(_home(home))
    issued = mint(
        store,
        issuer_url(port_base + 6),
        role=picked,
        subject=subject,
        municipality=municipality if picked in ("consultant", "system") else None,
        cvr=cvr if picked == "employer" else None,
        scopes=scopes,
        minutes=minutes,
    )
    typer.echo(issued)


@auth_app.command("rotate-key")
def rotate_key(home: Home = None) -> None:
    """Make a new signing key: it signs new tokens; tokens of older keys stay valid."""
    typer.echo(KeyStore(_home(home)).rotate())


@auth_app.command("retire-key")
def retire_key(kid: str, home: Home = None) -> None:
    """Stop publishing a key (never the last): tokens it signed are refused within the
    services' key cache time (AUTH_JWKS_CACHE_S)."""
    if not KeyStore(_home(home)).retire(kid):
        raise _fail(f"no such key, or it is the only one: {kid}")
    typer.echo(f"retired {kid}")
