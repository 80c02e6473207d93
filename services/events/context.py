"""What the routes need besides the request: handlers, reference data, the suggestion view.

Built once in the app's lifespan (the composition root wires it); routes get it through a
dependency.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from schemas.citizens import CompetenceCard
from schemas.common import ConceptLink
from schemas.envelope import Actor
from schemas.jobs import JobOrder
from services.auth.principal import Principal
from services.events import access
from services.events import commands as c
from services.events.commands import Decision
from services.events.enrich import card_links, card_problems, order_links, order_problems
from services.events.errors import CommandError, Invalid, NotFound
from services.events.handlers import Accepted, Handlers, Meta, States
from services.events.state import (
    CitizenState,
    OrderState,
    PlacementState,
    ReviewState,
    SuggestionState,
)
from services.reference.esco import Taxonomy
from services.reference.geo import Geo

log = logging.getLogger(__name__)
SWEEPER = Meta(actor=Actor(role="system", id="deadline-sweeper"))


@dataclass
class CommandContext:
    handlers: Handlers
    taxonomy: Taxonomy
    geo: Geo

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
        return await self.handlers.store.suggestion(suggestion_id)

    async def citizens_of(
        self, suggestion_id: str | None = None, placement_id: str | None = None
    ) -> list[str]:
        """The citizen a command addressed by suggestion or placement id concerns (for the
        audit trail, refusals included); none if there is no such suggestion or placement."""
        if suggestion_id is not None:
            suggestion = await self.suggestion(suggestion_id)
            return [suggestion.citizen_id] if suggestion is not None else []
        if placement_id is not None:
            key = c.placement_key(placement_id)
            state = (await self.handlers.store.load([key]))[key].state
            return [state.citizen_id] if isinstance(state, PlacementState) else []
        return []

    # -- commands on several aggregates: each names the ones it loads -----------------------

    async def register_card(self, cmd: c.SubmitCompetenceCard, meta: Meta) -> Accepted:
        key = c.citizen_key(cmd.card.citizen_id)
        return await self.handlers.execute(
            [key],
            lambda s: c.decide_register_card(cmd, s.get(key), self.today()),
            meta,
            cmd.card.municipality_code,
        )

    async def post_order(self, cmd: c.PostJobOrder, meta: Meta) -> Accepted:
        okey, ekey = c.order_key(cmd.order.job_order_id), c.employer_key(cmd.order.employer.cvr)
        return await self.handlers.execute(
            [okey, ekey],
            lambda s: c.decide_post_order(cmd, s.get(okey), s.get(ekey) is not None),
            meta,
            cmd.order.municipality_code,
            primary=-1,
        )

    async def present(self, suggestion_id: str, who: Principal, meta: Meta) -> Accepted:
        """The review, the citizen (consent) and the order (open, its employer)."""
        suggestion = await self.suggestion(suggestion_id)
        access.suggestion(who, suggestion, suggestion_id)
        rkey = c.review_key(suggestion_id)
        ckey = c.citizen_key(suggestion.citizen_id) if suggestion else ("citizen", "-")
        okey = c.order_key(suggestion.job_order_id) if suggestion else ("order", "-")
        return await self.handlers.execute(
            [rkey, ckey, okey],
            lambda s: c.decide_present(
                suggestion_id, suggestion, s.get(rkey), s.get(ckey), s.get(okey)
            ),
            meta,
        )

    async def record_employer_decision(
        self,
        suggestion_id: str,
        decision: Literal["interview", "hired", "declined"],
        reason: str | None,
        who: Principal,
        meta: Meta,
    ) -> Accepted:
        """The review, and the order (whose employer may decide)."""
        suggestion = await self.suggestion(suggestion_id)
        if suggestion is None:
            raise NotFound(f"suggestion {suggestion_id!r} not found")
        rkey, okey = c.review_key(suggestion_id), c.order_key(suggestion.job_order_id)

        def decide(s: States) -> Decision:
            access.employer_decision(who, suggestion, s.get(okey), suggestion_id)
            return c.decide_employer_decision(
                suggestion_id, decision, reason, suggestion, s.get(rkey)
            )

        return await self.handlers.execute([rkey, okey], decide, meta, suggestion.municipality_code)

    async def start_placement(self, cmd: c.StartPlacement, who: Principal, meta: Meta) -> Accepted:
        """The review, the order (its programme and open positions) and the citizen (her
        eligibility on the start date, read only); makes the placement."""
        suggestion = await self.suggestion(cmd.suggestion_id)
        access.suggestion(who, suggestion, cmd.suggestion_id)
        rkey = c.review_key(cmd.suggestion_id)
        okey = c.order_key(suggestion.job_order_id) if suggestion else ("order", "-")
        ckey = c.citizen_key(suggestion.citizen_id) if suggestion else ("citizen", "-")
        return await self.handlers.execute(
            [rkey, okey, ckey],
            lambda s: c.decide_start_placement(
                cmd, suggestion, s.get(rkey), s.get(okey), s.get(ckey)
            ),
            meta,
        )

    # -- commands on one aggregate, checked against the caller ----------------------------

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

    async def close_order(
        self,
        job_order_id: str,
        reason: Literal["withdrawn", "expired"],
        meta: Meta,
        who: Principal | None,
    ) -> Accepted:
        return await self.on_order(
            job_order_id,
            who,
            lambda order: c.decide_close_order(job_order_id, reason, order, self.today()),
            meta,
        )

    async def expire_due(self) -> list[str]:
        """Close every open order whose application deadline has passed."""
        expired = []
        for oid in await self.handlers.store.due(self.today().toordinal() - 1):
            try:
                await self.close_order(oid, "expired", SWEEPER, who=None)
                expired.append(oid)
            except CommandError as exc:
                # Closed meanwhile, or busy: the next sweep looks again.
                log.info("not expired", extra={"job_order_id": oid, "reason": str(exc)})
        return expired

    async def record_filled(self, settled_s: float = 30.0) -> list[str]:
        """Append the JobOrderClosed (filled) that a placement taking an order's last
        position should have been followed by, where the service stopped in between.
        Placements younger than `settled_s` are left to the command that made them."""
        before = self.handlers.clock().timestamp() - settled_s
        recorded = []
        for oid in await self.handlers.store.filling(before):
            try:
                await self.on_order(oid, None, partial(c.decide_record_filled, oid), SWEEPER)
                recorded.append(oid)
            except CommandError as exc:
                log.debug("no closure to record", extra={"job_order_id": oid, "reason": str(exc)})
        return recorded
