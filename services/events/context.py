"""What the routes need besides the request: handlers, reference data, the suggestion view.

Built once in the app's lifespan (the composition root wires it); routes get it through a
dependency.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from schemas.citizens import CompetenceCard
from schemas.common import ConceptLink
from schemas.envelope import Actor
from schemas.jobs import JobOrder
from services.auth.principal import Principal
from services.events import access
from services.events import commands as c
from services.events.commands import Decision
from services.events.enrich import card_links, card_problems, order_links, order_problems
from services.events.errors import CommandError, Invalid
from services.events.handlers import Accepted, Handlers, Meta, States
from services.events.state import (
    CitizenState,
    OrderState,
    PlacementState,
    ReviewState,
    SuggestionState,
)
from services.events.suggestions import load_suggestion
from services.reference.esco import Taxonomy
from services.reference.geo import Geo

log = logging.getLogger(__name__)
SWEEPER = Meta(actor=Actor(role="system", id="deadline-sweeper"))


@dataclass
class CommandContext:
    handlers: Handlers
    taxonomy: Taxonomy
    geo: Geo
    redis: Redis
    prefix: str

    def today(self) -> dt.date:
        return self.handlers.today()

    def card_links(self, card: CompetenceCard) -> list[ConceptLink]:
        problems = card_problems(card, self.taxonomy, self.geo)
        if problems:
            raise Invalid.of(problems)
        return card_links(card, self.taxonomy)

    def order_links(self, order: JobOrder) -> list[ConceptLink]:
        problems = order_problems(order, self.taxonomy, self.geo)
        if problems:
            raise Invalid.of(problems)
        return order_links(order, self.taxonomy)

    async def suggestion(self, suggestion_id: str) -> SuggestionState | None:
        return await load_suggestion(self.redis, self.prefix, suggestion_id)

    async def on_citizen(
        self,
        citizen_id: str,
        who: Principal,
        decide: Callable[[CitizenState | None], Decision],
        meta: Meta,
        municipality_code: str | None = None,
    ) -> Accepted:
        """A command on a citizen of the caller's municipality (else 404)."""
        return await self._on_one(
            c.citizen_key(citizen_id),
            lambda state: access.citizen(who, state, citizen_id),
            decide,
            meta,
            municipality_code,
        )

    async def on_order(
        self,
        job_order_id: str,
        who: Principal | None,
        decide: Callable[[OrderState | None], Decision],
        meta: Meta,
        municipality_code: str | None = None,
    ) -> Accepted:
        """A command on a job order of the caller (its employer, or a consultant of its
        municipality; else 404). `who` None: the service itself (the deadline sweeper)."""

        def check(state: OrderState | None) -> None:
            if who is not None:
                access.order(who, state, job_order_id)

        return await self._on_one(c.order_key(job_order_id), check, decide, meta, municipality_code)

    async def on_suggestion(
        self,
        suggestion_id: str,
        who: Principal,
        decide: Callable[[SuggestionState | None, ReviewState | None], Decision],
        meta: Meta,
    ) -> Accepted:
        """A review command: the suggestion as matching made it, and its review state; for
        consultants of the order's municipality (else 404)."""
        suggestion = await self.suggestion(suggestion_id)
        access.suggestion(who, suggestion, suggestion_id)
        key = c.review_key(suggestion_id)
        return await self.handlers.execute(
            [key],
            lambda s: decide(suggestion, s.get(key)),
            meta,
            suggestion.municipality_code if suggestion else None,
        )

    async def on_placement(
        self,
        placement_id: str,
        who: Principal,
        decide: Callable[[PlacementState | None], Decision],
        meta: Meta,
    ) -> Accepted:
        """For consultants of the municipality of the order it fills (else 404)."""
        return await self._on_one(
            c.placement_key(placement_id),
            lambda state: access.placement(who, state, placement_id),
            decide,
            meta,
        )

    async def _on_one(
        self,
        key: c.Key,
        check: Callable[[Any], None],
        decide: Callable[[Any], Decision],
        meta: Meta,
        municipality_code: str | None = None,
    ) -> Accepted:
        """A command on one aggregate: the caller's access checked on the state the command
        is decided on, then the decision."""

        def checked(s: States) -> Decision:
            state = s.get(key)
            check(state)
            return decide(state)

        return await self.handlers.execute([key], checked, meta, municipality_code)

    @property
    def _deadlines(self) -> str:
        return f"{self.prefix}deadlines"

    async def track_deadline(self, order: JobOrder) -> None:
        """Remember when the order expires, for the sweeper."""
        if order.application_deadline:
            score = order.application_deadline.toordinal()
            await self.redis.zadd(self._deadlines, {order.job_order_id: score})
        else:
            await self.redis.zrem(self._deadlines, order.job_order_id)

    async def close_order(
        self,
        job_order_id: str,
        reason: Literal["withdrawn", "expired"],
        meta: Meta,
        who: Principal | None,
    ) -> Accepted:
        accepted = await self.on_order(
            job_order_id,
            who,
            lambda order: c.decide_close_order(job_order_id, reason, order, self.today()),
            meta,
        )
        await self.redis.zrem(self._deadlines, job_order_id)
        return accepted

    async def expire_due(self) -> list[str]:
        """Close every open order whose application deadline has passed."""
        yesterday = self.today().toordinal() - 1
        due = await self.redis.zrangebyscore(self._deadlines, "-inf", yesterday)
        expired = []
        for raw in due:
            oid = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                await self.close_order(oid, "expired", SWEEPER, who=None)
                expired.append(oid)
            except CommandError as exc:
                # Already closed (filled, withdrawn) or moved: nothing to expire.
                log.info("not expired", extra={"job_order_id": oid, "reason": str(exc)})
                await self.redis.zrem(self._deadlines, oid)
        return expired
