"""Who is calling: the verified identity a token stands for (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from schemas.envelope import Actor

Role = Literal["consultant", "employer", "system", "administrator"]
ROLES: tuple[Role, ...] = get_args(Role)

# Read-only grants a system (service) account may hold, one per group of routes.
SCOPES = (
    "citizens:read",
    "job-orders:read",
    "worklists:read",
    "employers:read",
    "kpis:read",
    "reports:read",
    "matching:read",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in caller: subject and role from a verified token, plus their tenant."""

    subject: str
    role: Role
    issuer: str = ""
    municipality_code: str | None = None
    cvr: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    expires_at: float = 0.0

    @property
    def key(self) -> str:
        """One caller, whatever token they present (the rate limit counts per caller)."""
        return f"{self.issuer}|{self.subject}"

    def actor(self) -> Actor:
        """What the events record as having done it."""
        return Actor(
            role=self.role, id=self.subject, municipality_code=self.municipality_code, cvr=self.cvr
        )

    def label(self) -> str:
        """For logs: role, subject and tenant (pseudonymous user ids, no personal data)."""
        tenant = self.municipality_code or self.cvr or ""
        return f"{self.role}:{self.subject}" + (f"@{tenant}" if tenant else "")

    def grants(self, scope: str) -> bool:
        return scope in self.scopes

    def in_municipality(self, code: str | None) -> bool:
        """A consultant's own municipality; a system account's, or every one if national."""
        if code is None:
            return False
        if self.role == "consultant":
            return self.municipality_code == code
        if self.role == "system":
            return self.municipality_code in (None, code)
        return False
