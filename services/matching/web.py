"""HTTP pages of the matching worker: health, readiness and the state digest."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.web import Request, Response, View

from services.auth.authenticator import Authenticator
from services.auth.pages import guarded, open_page
from services.auth.principal import Principal
from services.common.kafka import broker_reachable
from services.matching.domain.ranking import exposure
from services.matching.domain.state import MatchingState


def register_pages(
    app: faust.App,
    state: MatchingState,
    ready: asyncio.Event,
    bootstrap: str,
    authenticator: Authenticator,
    model: dict[str, Any] | None = None,
) -> None:
    """Health and readiness are open; the rest needs a token (see docs/security.md)."""

    @app.page("/health")
    @open_page
    async def health(self: View, request: Request) -> Response:
        """Also says which model scores, and whether it was trained on synthetic data."""
        return self.json({"status": "ok", "service": "matching", "model": model or {}})

    @app.page("/ready")
    @open_page
    async def readiness(self: View, request: Request) -> Response:
        broker = await broker_reachable(bootstrap)
        keys = await authenticator.verifier.keys.ready()
        body: dict[str, Any] = {
            "service": "matching",
            "broker": broker,
            "state_replayed": ready.is_set(),
            "signing_keys": keys,
        }
        ok = broker and ready.is_set() and keys
        body["status"] = "ready" if ok else "not ready"
        return self.json(body, status=200 if ok else 503)

    @app.page("/v1/metrics")
    @guarded(authenticator, "administrator", "system", scope="matching:read")
    async def metrics(self: View, request: Request, who: Principal) -> Response:
        """Coverage and congestion of the current suggestions over the available citizens."""
        lists = [list(current) for current in state.suggestions.values()]
        available = [cid for cid in state.cards if cid not in state.unavailable]
        return self.json(
            {
                "orders": len(state.orders),
                "cards": len(state.cards),
                "suggestions": sum(len(x) for x in lists),
                "model_version": state.scorer.model_version,
                **exposure(lists, available),
            }
        )

    @app.page("/v1/citizens/{citizen_id}/orders")
    @guarded(authenticator, "consultant")
    async def citizen_orders(
        self: View, request: Request, who: Principal, citizen_id: str
    ) -> Response:
        """Top-k open orders for one citizen (k from ?k=, default 20), with reasons: for
        consultants of the citizen's municipality (another's citizen: 404, as a missing one)."""
        try:
            k = max(1, min(200, int(request.query.get("k", "20"))))
        except ValueError:
            return self.json({"detail": [{"field": "k", "reason": "must be a number"}]}, status=422)
        card = state.cards.get(citizen_id)
        if card is None or not who.in_municipality(card.municipality_code):
            return self.json({"detail": f"citizen {citizen_id!r} not found"}, status=404)
        ranked = [
            {
                "job_order_id": order.job_order_id,
                "title": order.order.title,
                "rank": rank,
                "score": cand.scored.score,
                "suggested": citizen_id in state.suggestions.get(order.job_order_id, {}),
                "reasons": [r.model_dump() for r in cand.scored.reasons],
                "missing": list(cand.scored.missing),
            }
            for rank, (order, cand) in enumerate(state.best_orders(citizen_id, k), start=1)
        ]
        return self.json(
            {
                "citizen_id": citizen_id,
                "model_version": state.scorer.model_version,
                "orders": ranked,
            }
        )

    @app.page("/v1/state")
    @guarded(authenticator, "administrator")
    async def snapshot(self: View, request: Request, who: Principal) -> Response:
        """The state in canonical form plus its digest (for restart-vs-replay checks)."""
        return self.json({"digest": state.digest(), "state": state.snapshot()})
