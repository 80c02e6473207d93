"""Keys on disk and a verifier that fetches them without a network (pure code under test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.auth.claims import ClaimMapping
from services.auth.issuer import KeyStore
from services.auth.jwks import JwksCache
from services.auth.verifier import TokenVerifier, VerifierConfig

ISSUER = "http://issuer.test"


class Keys:
    def __init__(self, home: Path) -> None:
        self.store = KeyStore(home)
        self.store.ensure()
        self.fetches = 0
        self.down = False

    async def fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise ValueError("issuer unreachable")
        return self.store.jwks()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


def config(**changes: Any) -> VerifierConfig:
    base: dict[str, Any] = {
        "issuer": ISSUER,
        "audiences": ("jobmatch-events",),
        "algorithms": ("RS256",),
        "token_types": frozenset({"at+jwt"}),
        "leeway_s": 30.0,
        "mapping": ClaimMapping(),
    }
    return VerifierConfig(**{**base, **changes})


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(config(), JwksCache("http://issuer.test/jwks", fetch=keys.fetch))
