"""The audit trail: who read or changed a citizen's personal data.

One record per citizen per request, keyed by the citizen, so that a citizen's access log is
read from one partition in order. The actor is the envelope's, from the verified token. A
record holds no personal content: the citizen's pseudonymous id, the route as its template
(never the query string or the body), the method and the answer's status.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from schemas.common import PseudonymousId
from schemas.envelope import EventPayload
from schemas.topics import AUDIT


class PersonalDataAccessed(EventPayload):
    """A request that showed or changed (`kind`) a citizen's personal data, or was refused
    (a status of 403 or 404: the record says that someone tried)."""

    event_type: ClassVar[str] = "PersonalDataAccessed"
    topic: ClassVar[str] = AUDIT.name

    citizen_id: PseudonymousId
    # The request's id: the records of one request (a worklist names many citizens) share it.
    request_id: uuid.UUID
    service: Literal["profiles", "events"]
    kind: Literal["read", "command"]
    method: Literal["GET", "POST", "PUT", "DELETE"]
    route: str = Field(min_length=1, max_length=200, pattern=r"^/[A-Za-z0-9_/{}.-]*$")
    status: int = Field(ge=100, le=599)

    @property
    def aggregate_id(self) -> str:
        return self.citizen_id
