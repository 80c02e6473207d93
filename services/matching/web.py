"""HTTP pages of the matching worker: health, readiness and the state digest."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.web import Request, Response, View

from services.common.kafka import broker_reachable
from services.matching.domain.ranking import exposure
from services.matching.domain.state import MatchingState


def register_pages(
    app: faust.App,
    state: MatchingState,
    ready: asyncio.Event,
    bootstrap: str,
    model: dict[str, Any] | None = None,
) -> None:
    @app.page("/health")
    async def health(self: View, request: Request) -> Response:
        """Also says which model scores, and whether it was trained on synthetic data."""
        return self.json({"status": "ok", "service": "matching", "model": model or {}})

    @app.page("/ready")
    async def readiness(self: View, request: Request) -> Response:
        broker = await broker_reachable(bootstrap)
        body: dict[str, Any] = {
            "service": "matching",
            "broker": broker,
            "state_replayed": ready.is_set(),
        }
        ok = broker and ready.is_set()
        body["status"] = "ready" if ok else "not ready"
        return self.json(body, status=200 if ok else 503)

    @app.page("/v1/metrics")
    async def metrics(self: View, request: Request) -> Response:
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
    async def citizen_orders(self: View, request: Request, citizen_id: str) -> Response:
        """Top-k open orders for one citizen (k from ?k=, default 20), with reasons."""
        try:
            k = max(1, min(200, int(request.query.get("k", "20"))))
        except ValueError:
            return self.json({"detail": [{"field": "k", "reason": "must be a number"}]}, status=422)
        if citizen_id not in state.cards:
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
    async def snapshot(self: View, request: Request) -> Response:
        """The state in canonical form plus its digest (for restart-vs-replay checks)."""
        return self.json({"digest": state.digest(), "state": state.snapshot()})
