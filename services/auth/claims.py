"""From a verified token's claims to a Principal, by configuration (pure, no I/O).

Identity brokers (KOMBIT's Fælleskommunal Adgangsstyring for municipal staff, MitID Erhverv
for employers) name their claims differently, so the claim paths and the role values are
settings: see docs/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.common import MUNICIPALITY_CODES, Cvr
from services.auth.principal import ROLES, SCOPES, Principal, Role

# Subjects are opaque ids; anything else (markup, spaces, control characters) is refused
# so that no token can smuggle text into the log that a page might interpret.
SUBJECT = re.compile(r"^[A-Za-z0-9._:@|+=/-]{1,128}$")
_CVR: TypeAdapter[str] = TypeAdapter(Cvr)


class InvalidToken(Exception):
    """The token is not acceptable; the reason is safe to show to the caller."""


@dataclass(frozen=True)
class ClaimMapping:
    role_claim: str = "role"
    municipality_claim: str = "municipality"
    cvr_claim: str = "cvr"
    scope_claim: str = "scope"
    # The identity provider's role values -> jobmatch roles; empty: the values are our names.
    role_map: Mapping[str, Role] = field(default_factory=dict)


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path, e.g. `realm_access.roles`; None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _values(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list | tuple):
        return [v for v in raw if isinstance(v, str)]
    return []


def _role(claims: Mapping[str, Any], mapping: ClaimMapping) -> Role:
    found: set[Role] = set()
    for value in _values(claim(claims, mapping.role_claim)):
        if mapping.role_map:
            if value in mapping.role_map:
                found.add(mapping.role_map[value])
        elif value in ROLES:
            found.add(value)  # type: ignore[arg-type]
    if not found:
        raise InvalidToken(f"the token grants no jobmatch role (claim {mapping.role_claim!r})")
    if len(found) > 1:
        raise InvalidToken(f"the token grants several jobmatch roles: {', '.join(sorted(found))}")
    return found.pop()


def _single(claims: Mapping[str, Any], path: str) -> str | None:
    raw = claim(claims, path)
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidToken(f"claim {path!r} must hold one value")
    return raw


def principal_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not SUBJECT.match(subject):
        raise InvalidToken("the subject (sub) is missing or not an opaque id")
    role = _role(claims, mapping)
    municipality = _single(claims, mapping.municipality_claim)
    if municipality is not None and municipality not in MUNICIPALITY_CODES:
        raise InvalidToken(f"claim {mapping.municipality_claim!r} is not a municipality code")
    cvr = _single(claims, mapping.cvr_claim)
    if cvr is not None:
        try:
            cvr = _CVR.validate_python(cvr)
        except ValidationError:
            raise InvalidToken(f"claim {mapping.cvr_claim!r} is not a valid CVR number") from None
    if role == "consultant" and municipality is None:
        raise InvalidToken(
            f"a consultant's token must name the municipality "
            f"(claim {mapping.municipality_claim!r})"
        )
    if role == "employer" and cvr is None:
        raise InvalidToken(f"an employer's token must name the CVR (claim {mapping.cvr_claim!r})")
    scopes = frozenset(s for s in _values(claim(claims, mapping.scope_claim)) if s in SCOPES)
    exp = claims.get("exp")
    return Principal(
        subject=subject,
        role=role,
        issuer=str(claims.get("iss", "")),
        municipality_code=municipality if role in ("consultant", "system") else None,
        cvr=cvr if role == "employer" else None,
        scopes=scopes if role == "system" else frozenset(),
        expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
    )
