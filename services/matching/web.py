"""HTTP pages of the matching worker: health, readiness and the state digest."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from services.auth.authenticator import Authenticator
from services.auth.pages import guarded, open_page
from services.auth.principal import Principal
from services.common.kafka import broker_reachable
from services.matching.domain.ranking import exposure
from services.matching.recovery import Runtime


def register_pages(
    app: faust.App,
    runtime: Runtime,
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
        """Ready: broker reachable, signing keys at hand, recovery (from the newest snapshot
        or a replay, and the reconciliation of the placements topic) finished, the agent
        running and no task failed. Also says where the recovery started and where the
        start-up time went (`recovery.started_from`, `recovery.breakdown`)."""
        broker = await broker_reachable(bootstrap)
        keys = await authenticator.verifier.keys.ready()
        crashed = bool(app.crashed)
        body: dict[str, Any] = {
            "service": "matching",
            "broker": broker,
            **runtime.health(),
            # faust's own services (consumer, producer): a crash there stops the worker.
            "app_crashed": crashed,
            "signing_keys": keys,
        }
        ok = broker and runtime.ready and keys and not crashed
        body["status"] = "ready" if ok else "not ready"
        return self.json(body, status=200 if ok else 503)

    @app.page("/v1/metrics")
    @guarded(authenticator, "administrator", "system", scope="matching:read")
    async def metrics(self: View, request: Request, who: Principal) -> Response:
        """Coverage and congestion of the current suggestions over the available citizens."""
        state = runtime.state
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
        state = runtime.state
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
        """The state in canonical form, its digest and the log positions it reflects: a fresh
        replay up to those positions (`python -m services.matching.replay --positions ...`)
        must give the same digest. `divergence`: pairs where the placements topic, as read
        so far, and the state disagree (empty once the worker has read its own output)."""
        return self.json(runtime.snapshot())
