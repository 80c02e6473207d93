"""Sign-in and HTTP hardening settings every HTTP service reads (environment, at start-up).

The issuer and its key set are required: a service started without them stops at once
rather than serving anyone. Lists are comma-separated.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.auth.claims import ClaimMapping
from services.auth.principal import ROLES, Role

# RSA and EC signatures only: "none" and shared-secret (HS*) tokens are never accepted.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    auth_issuer: str = Field(description="The `iss` every token must carry")
    auth_jwks_url: str = Field(description="Where the issuer publishes its signing keys")
    auth_audiences: str = Field(
        default="", description="Accepted `aud` values; empty: jobmatch-<service>"
    )
    auth_algorithms: str = "RS256,PS256,ES256"
    auth_token_types: str = Field(
        default="at+jwt", description="Accepted `typ` header values (RFC 9068 access tokens)"
    )
    auth_leeway_s: float = Field(default=30.0, ge=0, le=300)
    auth_role_claim: str = "role"
    auth_municipality_claim: str = "municipality"
    auth_cvr_claim: str = "cvr"
    auth_scope_claim: str = "scope"
    auth_role_map: str = Field(
        default="", description="idp-value=role pairs, e.g. jobmatch-konsulent=consultant"
    )
    auth_jwks_cache_s: float = Field(default=300.0, ge=1)
    auth_rate_per_minute: int = Field(default=1200, ge=0, description="0: no rate limit")
    auth_rate_burst: int = Field(default=200, ge=1)
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    http_cors_origins: str = Field(default="", description="Allowed origins; empty: none")

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric(cls, value: str) -> str:
        bad = [a for a in _split(value) if a not in ASYMMETRIC]
        if bad or not _split(value):
            raise ValueError(f"only asymmetric algorithms ({', '.join(sorted(ASYMMETRIC))})")
        return value

    @field_validator("auth_role_map")
    @classmethod
    def _role_map(cls, value: str) -> str:
        for pair in _split(value):
            _, sep, role = pair.partition("=")
            if not sep or role.strip() not in ROLES:
                raise ValueError(f"expected idp-value=role with role in {', '.join(ROLES)}")
        return value

    def audiences(self, service: str) -> tuple[str, ...]:
        return _split(self.auth_audiences) or (f"jobmatch-{service}",)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return _split(self.auth_algorithms)

    @property
    def token_types(self) -> frozenset[str]:
        return frozenset(t.lower() for t in _split(self.auth_token_types))

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return _split(self.http_cors_origins)

    def claim_mapping(self) -> ClaimMapping:
        role_map: dict[str, Role] = {}
        for pair in _split(self.auth_role_map):
            value, _, role = pair.partition("=")
            role_map[value.strip()] = role.strip()  # type: ignore[assignment]
        return ClaimMapping(
            role_claim=self.auth_role_claim,
            municipality_claim=self.auth_municipality_claim,
            cvr_claim=self.auth_cvr_claim,
            scope_claim=self.auth_scope_claim,
            role_map=role_map,
        )
