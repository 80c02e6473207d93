"""One place that turns an Authorization header into a Principal, or a refusal.

Used by the ASGI gate of the FastAPI services and by the matching worker's pages alike.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from services.auth.claims import InvalidToken
from services.auth.jwks import JwksCache, KeysUnavailable
from services.auth.principal import Principal
from services.auth.ratelimit import RateLimiter
from services.auth.settings import AuthSettings
from services.auth.verifier import TokenVerifier, VerifierConfig

REALM = 'Bearer realm="jobmatch"'
refusals = logging.getLogger("services.auth.refusals")


def record_refusal(status: int, route: str, actor: str, reason: str) -> None:
    """Every refusal, by whichever layer made it, goes to one log in one shape."""
    refusals.warning(
        "request refused",
        extra={"status": status, "route": route, "actor": actor, "reason": reason},
    )


@dataclass
class Refusal(Exception):
    """Why a request was turned away before it reached a route."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    # Who was turned away, for the log: known once the token verified (a rate limit).
    actor: str = "anonymous"

    def body(self) -> dict[str, list[dict[str, str]]]:
        return {"detail": [{"field": "Authorization", "reason": self.reason}]}


def _challenge(reason: str, error: str | None) -> dict[str, str]:
    if error is None:  # RFC 6750: no error code when no credentials were sent
        return {"WWW-Authenticate": REALM}
    text = reason.replace('"', "'")
    return {"WWW-Authenticate": f'{REALM}, error="{error}", error_description="{text}"'}


class Authenticator:
    def __init__(self, verifier: TokenVerifier, limiter: RateLimiter) -> None:
        self.verifier = verifier
        self.limiter = limiter

    @classmethod
    def from_settings(cls, settings: AuthSettings, service: str) -> Authenticator:
        config = VerifierConfig(
            issuer=settings.auth_issuer,
            audiences=settings.audiences(service),
            algorithms=settings.algorithms,
            token_types=settings.token_types,
            leeway_s=settings.auth_leeway_s,
            mapping=settings.claim_mapping(),
        )
        keys = JwksCache(settings.auth_jwks_url, ttl_s=settings.auth_jwks_cache_s)
        limiter = RateLimiter(settings.auth_rate_per_minute, settings.auth_rate_burst)
        return cls(TokenVerifier(config, keys), limiter)

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Refusal(
                401,
                "sign in: send an access token as 'Authorization: Bearer …'",
                _challenge("", None),
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            reason = "the Authorization header must be 'Bearer <access token>'"
            raise Refusal(401, reason, _challenge(reason, "invalid_request"))
        try:
            principal = await self.verifier.verify(token)
        except InvalidToken as exc:
            raise Refusal(401, str(exc), _challenge(str(exc), "invalid_token")) from None
        except KeysUnavailable:
            reason = "sign-in is unavailable: the issuer's signing keys cannot be fetched"
            raise Refusal(503, reason, {"Retry-After": "5"}) from None
        wait = self.limiter.take(principal.key)
        if wait is not None:
            per_minute = round(self.limiter.rate * 60)
            raise Refusal(
                429,
                f"too many requests: at most {per_minute} a minute per caller; "
                f"try again in {math.ceil(wait)} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
                principal.label(),
            )
        return principal
