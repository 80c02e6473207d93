"""Bearer tokens in, Principals out: signature, issuer, audience, times and type checked.

PyJWT (with `cryptography`) does the signature and the registered claims; this module
decides what is acceptable. A verified token is remembered until it expires (at most a
minute), so a client's next request costs a dictionary lookup, not a signature check.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from services.auth.claims import ClaimMapping, InvalidToken, principal_from_claims
from services.auth.jwks import JwksCache
from services.auth.principal import Principal

REMEMBER_S = 60.0
REMEMBER_MAX = 20_000


@dataclass(frozen=True)
class VerifierConfig:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    token_types: frozenset[str]
    leeway_s: float
    mapping: ClaimMapping


_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, to pick the key and refuse an algorithm early. Read here rather than
    with `jwt.get_unverified_header`, which decodes and checks all three segments and would
    double the cost of a token's first check; `jwt.decode` checks them all once after."""
    if not _COMPACT.fullmatch(token):
        raise InvalidToken("the bearer token is not a JWT")
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidToken("the bearer token is not a JWT") from None
    if not isinstance(header, dict):
        raise InvalidToken("the bearer token is not a JWT")
    return header


class TokenVerifier:
    def __init__(
        self,
        config: VerifierConfig,
        keys: JwksCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.keys = keys
        self._clock = clock
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        now = self._clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            until, principal = remembered
            if now < until:
                return principal
            del self._verified[token]
        principal = await self._verify(token)
        until = min(principal.expires_at + self.config.leeway_s, now + REMEMBER_S)
        self._verified[token] = (until, principal)
        if len(self._verified) > REMEMBER_MAX:
            self._verified.popitem(last=False)
        return principal

    def forget(self) -> None:
        """Drop the remembered tokens (after the issuer withdrew a key, say)."""
        self._verified.clear()

    async def _verify(self, token: str) -> Principal:
        cfg = self.config
        header = unverified_header(token)
        alg = header.get("alg")
        if alg not in cfg.algorithms:
            raise InvalidToken(f"signing algorithm {alg!r} is not accepted")
        typ = str(header.get("typ", "")).lower().removeprefix("application/")
        if typ not in cfg.token_types:
            raise InvalidToken(f"token type {header.get('typ')!r} is not an access token")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise InvalidToken("the token is signed with a key the issuer does not publish")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=list(cfg.audiences),
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except InvalidAudienceError:
            raise InvalidToken("the token is meant for another audience") from None
        except InvalidIssuerError:
            raise InvalidToken("the token comes from another issuer") from None
        except InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim!r} claim") from None
        except InvalidTokenError as exc:
            raise InvalidToken(f"the token is invalid: {exc}") from None
        return principal_from_claims(claims, cfg.mapping)
