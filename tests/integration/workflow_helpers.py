"""One citizen, one job order and the suggestion that links them, driven through the events
API as the two job centres' consultants would; suggestions are produced to the log as the
matching service would produce them."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from schemas.envelope import SYSTEM_MATCHING, Event
from schemas.placements import PlacementSuggested, SuggestionRetracted
from services.common.kafka import make_producer
from services.events.projection import suggestion as suggestion_key
from services.matching.domain.state import suggestion_id
from tests.conftest import Issuer

PREFIX = "jm:events:"


def letters(n: int = 10) -> str:
    # Letters only: a random hex id could contain a CPR-shaped run of digits.
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:n])


async def emit(
    broker: str, payload: PlacementSuggested | SuggestionRetracted, municipality: str | None = None
) -> None:
    producer = make_producer(broker)
    await producer.start()
    try:
        event = Event.new(
            payload,
            actor=SYSTEM_MATCHING,
            occurred_at=datetime.now(UTC),
            municipality_code=municipality,
        )
        await producer.send_and_wait(
            event.topic, event.to_json(), key=event.aggregate_id.encode(), headers=event.headers()
        )
    finally:
        await producer.stop()


async def until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Case:
    """One citizen, one job order and the suggestion that links them."""

    cvr = "12345607"  # the order's employer

    def __init__(self, api: httpx.AsyncClient, broker: str, redis: Redis, issuer: Issuer) -> None:
        self.api, self.broker, self.redis, self.issuer = api, broker, redis, issuer
        # Consultants of the citizen's and of the order's job centre (set by `setup`).
        self.citizen_office: dict[str, str] = {}
        self.order_office: dict[str, str] = {}
        self.cid = f"cit-{letters()}"
        self.oid = f"jo-{letters()}"
        self.sid = suggestion_id(self.oid, self.cid)
        self.municipality: str | None = None

    async def setup(self, card: dict[str, Any], order: dict[str, Any], positions: int = 1) -> None:
        card = {**copy.deepcopy(card), "citizen_id": self.cid}
        order = {**copy.deepcopy(order), "job_order_id": self.oid, "positions": positions}
        order["employer"]["cvr"] = self.cvr
        self.municipality = order["municipality_code"]
        self.citizen_office = self._consultant(card["municipality_code"])
        self.order_office = self._consultant(order["municipality_code"])
        posted = await self.api.post("/v1/competence-cards", json=card, headers=self.citizen_office)
        assert posted.status_code == 202, posted.text
        posted = await self.api.post("/v1/job-orders", json=order, headers=self.order_office)
        assert posted.status_code == 202, posted.text
        await self.suggest()

    async def suggest(self) -> None:
        await emit(
            self.broker,
            PlacementSuggested(
                job_order_id=self.oid,
                citizen_id=self.cid,
                suggestion_id=self.sid,
                score=0.9,
                rank=1,
                model_version="rules-1",
                card_version="c",
                order_version="o",
            ),
            self.municipality,
        )

        async def known() -> bool:
            raw = await self.redis.hget(PREFIX + suggestion_key(self.sid), "retracted")
            return raw is not None and raw in (b"", "")

        await until(known, "the events service to learn the suggestion")

    def _consultant(self, municipality: str) -> dict[str, str]:
        return self.issuer.bearer("consultant", f"kons-{municipality}", municipality=municipality)

    async def post(
        self, path: str, body: dict[str, Any] | None = None, as_: dict[str, str] | None = None
    ) -> httpx.Response:
        """As the order's consultant unless `as_` names someone else."""
        return await self.api.post(path, json=body or {}, headers=as_ or self.order_office)

    async def consent(self, body: dict[str, Any]) -> httpx.Response:
        """Recorded by the citizen's own job centre."""
        return await self.post(f"/v1/citizens/{self.cid}/consents", body, self.citizen_office)

    async def act(
        self, verb: str, body: dict[str, Any] | None = None, as_: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.post(f"/v1/suggestions/{self.sid}/{verb}", body, as_)

    async def advance(self, stage: str) -> None:
        """From `setup` on to `stage`: consented, accepted, presented, hired or placed (each
        includes the ones before it), as the consultants would get there."""
        steps = ["consented", "accepted", "presented", "hired", "placed"]
        for step in steps[: steps.index(stage) + 1]:
            if step == "consented":
                response = await self.consent({"consent_id": "all-1", "scope": "all"})
            elif step == "accepted":
                response = await self.act("accept")
            elif step == "presented":
                response = await self.act("present")
            elif step == "hired":
                response = await self.act("employer-decision", {"decision": "hired"})
            else:
                response = await self.post(
                    "/v1/placements", PLACEMENT | {"suggestion_id": self.sid}
                )
            assert response.status_code == 202, (step, response.text)


PLACEMENT: dict[str, Any] = {
    "placement_type": "ordinary",
    "start_date": "2027-01-04",
    "weekly_hours_work": 37,
}
