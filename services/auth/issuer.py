"""The embedded stack's own small OIDC issuer: signing keys on disk, discovery and JWKS.

Production uses the municipality's identity broker instead (docs/security.md); this one
exists so that everything works on one machine with no outside service. It publishes its
public keys over HTTP like any issuer; tokens are minted by whoever can read the key
folder (`jobmatch auth token`, the demo loader, tests), never over the network.

Keys: RSA 2048, one PEM file per key id under `<home>/auth/keys/` (mode 0600). The newest
signs; all are published, so `jobmatch auth rotate-key` lets tokens signed with the old
key run out while new ones use the new key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from services.auth.principal import Role

ALGORITHM = "RS256"
AUDIENCES = ("jobmatch-events", "jobmatch-profiles", "jobmatch-matching")


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


def create_issuer_app(home: Path, issuer: str) -> FastAPI:
    store = KeyStore(home)
    store.ensure()
    app = FastAPI(title="jobmatch issuer", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

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
