"""The embedded stack's own small OIDC issuer: signing keys on disk, discovery and JWKS.

Production uses the municipality's identity broker instead (docs/security.md); this one
exists so that everything works on one machine with no outside service. It publishes its
public keys over HTTP like any issuer; tokens are minted by whoever can read the key
folder (`jobmatch auth token`, the demo loader, tests), and, for the web application
(services/ui), through the authorization-code flow with PKCE (RFC 7636): `/authorize`
shows a Danish page where a person picks one of the demo users, `/token` exchanges the
one-time code for an access token. Only loopback redirect URIs are accepted (RFC 8252
§7.3): the embedded issuer signs in people on this machine only.

Keys: RSA 2048, one PEM file per key id under `<home>/auth/keys/` (mode 0600). The newest
signs; all are published, so `jobmatch auth rotate-key` lets tokens signed with the old
key run out while new ones use the new key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm

from services.auth.principal import Role

ALGORITHM = "RS256"
AUDIENCES = ("jobmatch-events", "jobmatch-profiles", "jobmatch-matching")
# The web application verifies the tokens its users sign in with (services/ui).
UI_AUDIENCE = "jobmatch-ui"
CODE_TTL_S = 60.0
SIGNIN_MINUTES = 60


_LOADED: dict[tuple[Path, int], Any] = {}


def _load(path: Path) -> Any:
    """A private key file, parsed once per version of the file (parsing checks the RSA key,
    which takes tens of milliseconds)."""
    stamp = (path, path.stat().st_mtime_ns)
    if stamp not in _LOADED:
        _LOADED[stamp] = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return _LOADED[stamp]


class KeyStore:
    def __init__(self, home: Path) -> None:
        self.folder = home / "auth" / "keys"

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.pem")) if self.folder.is_dir() else []

    def ensure(self) -> str:
        """The signing key's id; the first key is made when there is none."""
        files = self._files()
        return files[-1].stem if files else self.rotate()

    def rotate(self) -> str:
        """A new signing key (published at once; older keys stay published)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder.parent, 0o700)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        kid = f"k{stamp}-{secrets.token_hex(3)}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.folder / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return kid

    def retire(self, kid: str) -> bool:
        """Stop publishing a key: tokens it signed are refused from then on."""
        path = self.folder / f"{kid}.pem"
        if not path.exists() or len(self._files()) < 2:
            return False
        path.unlink()
        return True

    def signing_key(self) -> tuple[str, Any]:
        kid = self.ensure()
        return kid, _load(self.folder / f"{kid}.pem")

    def jwks(self) -> dict[str, Any]:
        keys = []
        for path in self._files():
            private = _load(path)
            jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))  # type: ignore[arg-type]
            keys.append({**jwk, "kid": path.stem, "use": "sig", "alg": ALGORITHM})
        return {"keys": keys}


def mint(
    store: KeyStore,
    issuer: str,
    *,
    role: Role,
    subject: str,
    municipality: str | None = None,
    cvr: str | None = None,
    scopes: Iterable[str] = (),
    minutes: float = 60,
    audiences: Iterable[str] = AUDIENCES,
    not_before: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed access token (RFC 9068 `at+jwt`) with the claim names the stack expects."""
    kid, key = store.signing_key()
    now = time.time()
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": list(audiences),
        "iat": int(now),
        "nbf": int(not_before if not_before is not None else now),
        "exp": int(now + minutes * 60),
        "jti": str(uuid.uuid4()),
        "client_id": "jobmatch-cli",
        "role": role,
    }
    if municipality:
        claims["municipality"] = municipality
    if cvr:
        claims["cvr"] = cvr
    if scopes:
        claims["scope"] = " ".join(scopes)
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "at+jwt"})


@dataclass(frozen=True)
class LocalIssuer:
    """An issuer whose key folder is at hand (the embedded stack, its tests, the demo):
    `token()` mints as `mint` does, the subject defaulting to the role."""

    home: Path
    url: str

    def token(self, role: Role, subject: str | None = None, **claims: Any) -> str:
        return mint(KeyStore(self.home), self.url, role=role, subject=subject or role, **claims)


@dataclass(frozen=True)
class DemoUser:
    """Someone the embedded issuer signs in (its sign-in page lists them)."""

    subject: str
    role: Role
    name: str
    municipality: str | None = None
    cvr: str | None = None

    def claims(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.municipality:
            out["municipality"] = self.municipality
        if self.cvr:
            out["cvr"] = self.cvr
        return out


# Consultants of two municipalities, the example orders' employer, an administrator.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("konsulent-aarhus", "consultant", "Karen Madsen, Jobcenter Aarhus", "0751"),
    DemoUser("konsulent-odense", "consultant", "Omar Hansen, Jobcenter Odense", "0461"),
    DemoUser(
        "arbejdsgiver-12345607", "employer", "Eva Jensen, Østjysk Logistik ApS", cvr="12345607"
    ),
    DemoUser("administrator", "administrator", "Anders Berg, administrator"),
)
_ROLE_DA = {
    "consultant": "Virksomhedskonsulent",
    "employer": "Arbejdsgiver",
    "administrator": "Administrator",
    "system": "Systemkonto",
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})


def loopback_redirect(uri: str) -> bool:
    """An http(s) redirect URI on this machine, with no fragment (RFC 8252 §7.3)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.fragment or host is None:
        return False
    return host in LOOPBACK or f"[{host}]" in LOOPBACK


def s256(verifier: str) -> str:
    """The PKCE code challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class _Grant:
    user: DemoUser
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires: float


class _AuthorizeError(Exception):
    def __init__(self, reason_da: str) -> None:
        super().__init__(reason_da)
        self.reason_da = reason_da


_PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:#1b1b1b;background:#f4f5f7;line-height:1.5}
main{max-width:36rem;margin:3rem auto;background:#fff;padding:2rem;border:1px solid #c9ccd1;
border-radius:6px}
h1{font-size:1.6rem;margin-top:0}
fieldset{border:1px solid #c9ccd1;border-radius:4px;padding:1rem;margin:0 0 1.5rem}
legend{font-weight:600;padding:0 .3rem}
label{display:block;padding:.5rem .25rem;cursor:pointer}
.role{display:block;color:#3d4148;font-size:.9rem;margin-left:1.6rem}
button{font:inherit;background:#0b4f9c;color:#fff;border:0;border-radius:4px;
padding:.6rem 1.4rem;cursor:pointer}
button:hover{background:#083b75}
:focus-visible{outline:3px solid #e8a200;outline-offset:2px}
.note{color:#3d4148;font-size:.9rem}
.error{color:#a1141b;font-weight:600}
"""


def _page(title: str, body: str, form_target: str | None = None) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="da"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/authorize.css"></head>'
        f"<body><main>{body}</main></body></html>"
    )
    # Chromium applies form-action to the redirect a form's answer makes, too.
    action = "'self'" + (f" {form_target}" if form_target else "")
    csp = (
        "default-src 'none'; style-src 'self'; form-action "
        f"{action}; frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(doc, headers=headers)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def create_issuer_app(home: Path, issuer: str, users: tuple[DemoUser, ...] = DEMO_USERS) -> FastAPI:
    store = KeyStore(home)
    store.ensure()
    app = FastAPI(title="jobmatch issuer", docs_url=None, redoc_url=None, openapi_url=None)
    grants: dict[str, _Grant] = {}
    by_subject = {u.subject: u for u in users}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid"],
            "ui_locales_supported": ["da"],
        }

    def _check(
        response_type: str, client_id: str, redirect_uri: str, challenge: str, method: str
    ) -> None:
        if not loopback_redirect(redirect_uri):
            raise _AuthorizeError("Adressen, der skal sendes tilbage til, er ikke tilladt.")
        if response_type != "code" or not client_id:
            raise _AuthorizeError("Anmodningen om at logge ind er ufuldstændig.")
        if method != "S256" or not 43 <= len(challenge) <= 128:
            raise _AuthorizeError("Anmodningen mangler en gyldig PKCE-udfordring (S256).")

    def _refused(exc: _AuthorizeError) -> HTMLResponse:
        body = (
            "<h1>Log ind kan ikke gennemføres</h1>"
            f'<p class="error">{html.escape(exc.reason_da)}</p>'
            '<p class="note">Gå tilbage til programmet og prøv igen.</p>'
        )
        response = _page("Log ind kan ikke gennemføres", body)
        response.status_code = 400
        return response

    @app.get("/authorize.css")
    async def css() -> Response:
        return Response(_PAGE_CSS, media_type="text/css", headers={"Cache-Control": "no-cache"})

    @app.get("/authorize")
    async def authorize(
        response_type: str = "",
        client_id: str = "",
        redirect_uri: str = "",
        state: str = "",
        code_challenge: str = "",
        code_challenge_method: str = "",
        nonce: str = "",
        scope: str = "",
    ) -> Response:
        try:
            _check(response_type, client_id, redirect_uri, code_challenge, code_challenge_method)
        except _AuthorizeError as exc:
            return _refused(exc)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in (
                ("response_type", response_type),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("code_challenge", code_challenge),
                ("code_challenge_method", code_challenge_method),
                ("nonce", nonce),
            )
        )
        choices = "".join(
            f'<label><input type="radio" name="user" value="{html.escape(u.subject)}"'
            f"{' checked' if i == 0 else ''}> {html.escape(u.name)}"
            f'<span class="role">{html.escape(_ROLE_DA[u.role])}</span></label>'
            for i, u in enumerate(users)
        )
        body = (
            "<h1>Log ind på jobmatch</h1>"
            '<p class="note">Demo-log-ind: den indbyggede udsteder bruges kun, når jobmatch '
            "kører på én maskine. I drift logger du ind gennem kommunens eller "
            "virksomhedens log-ind-løsning.</p>"
            f'<form method="post" action="/authorize">{hidden}'
            "<fieldset><legend>Vælg en demobruger</legend>"
            f"{choices}</fieldset>"
            '<button type="submit">Log ind</button></form>'
        )
        return _page("Log ind på jobmatch", body, _origin(redirect_uri))

    @app.post("/authorize")
    async def choose(
        user: str = Form(""),
        response_type: str = Form(""),
        client_id: str = Form(""),
        redirect_uri: str = Form(""),
        state: str = Form(""),
        code_challenge: str = Form(""),
        code_challenge_method: str = Form(""),
        nonce: str = Form(""),
    ) -> Response:
        try:
            _check(response_type, client_id, redirect_uri, code_challenge, code_challenge_method)
            chosen = by_subject.get(user)
            if chosen is None:
                raise _AuthorizeError("Vælg en af demobrugerne.")
        except _AuthorizeError as exc:
            return _refused(exc)
        now = time.monotonic()
        for code in [c for c, g in grants.items() if g.expires < now]:
            grants.pop(code, None)
        code = secrets.token_urlsafe(32)
        grants[code] = _Grant(
            chosen, client_id, redirect_uri, code_challenge, nonce or None, now + CODE_TTL_S
        )
        sep = "&" if "?" in redirect_uri else "?"
        query = urlencode({"code": code, "state": state, "iss": issuer})
        return RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=303)

    def _token_error(error: str, description: str) -> JSONResponse:
        return JSONResponse(
            {"error": error, "error_description": description},
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        value = {k: str(v) for k, v in form.items()}
        if value.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type", "only authorization_code")
        grant = grants.pop(value.get("code", ""), None)  # one use only
        if grant is None or grant.expires < time.monotonic():
            return _token_error("invalid_grant", "unknown, used or expired code")
        if value.get("client_id") != grant.client_id:
            return _token_error("invalid_grant", "the code was issued to another client")
        if value.get("redirect_uri") != grant.redirect_uri:
            return _token_error("invalid_grant", "redirect_uri differs from the authorization")
        verifier = value.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
            s256(verifier), grant.challenge
        ):
            return _token_error("invalid_grant", "code_verifier does not match the challenge")
        who = grant.user
        access = mint(
            store,
            issuer,
            role=who.role,
            subject=who.subject,
            municipality=who.municipality,
            cvr=who.cvr,
            minutes=SIGNIN_MINUTES,
            audiences=(*AUDIENCES, UI_AUDIENCE),
            extra={"client_id": grant.client_id, "name": who.name},
        )
        kid, key = store.signing_key()
        now = int(time.time())
        id_claims: dict[str, Any] = {
            "iss": issuer,
            "sub": who.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + SIGNIN_MINUTES * 60,
            **who.claims(),
        }
        if grant.nonce:
            id_claims["nonce"] = grant.nonce
        id_token = jwt.encode(id_claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": SIGNIN_MINUTES * 60,
                "id_token": id_token,
                "scope": "openid",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return store.jwks()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "issuer"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready", "service": "issuer"}

    return app
