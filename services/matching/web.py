"""HTTP pages of the matching worker: health, readiness and the state digest."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View

from services.auth.authenticator import Authenticator
from services.auth.pages import guarded, open_page
from services.auth.principal import Principal
from services.common.kafka import broker_reachable
from services.matching.domain.ranking import exposure
from services.matching.domain.scoring import Scorer
from services.matching.model.activation import ModelWatcher
from services.matching.model.registry import SHIPPED, Entry, Registry
from services.matching.recovery import Runtime

log = logging.getLogger(__name__)
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# How long an approval waits for the worker to score with the new version before answering.
APPROVE_WAIT_S = 5.0


def model_summary(entry: Entry, source: str, in_use: str | None) -> dict[str, Any]:
    """A registered version as the administrators' page lists it: its metadata but the
    feature list, where it is kept, and whether it is the one scoring now."""
    meta = entry.metadata
    return {
        "version": entry.version,
        "source": source,
        "in_use": entry.version == in_use,
        "approved": entry.approved,
        "approved_by": meta.get("approved_by"),
        "approved_at": meta.get("approved_at"),
        "created_at": meta.get("created_at"),
        "training_data": meta.get("training_data"),
        "examples": meta.get("examples"),
        "data_window": meta.get("data_window"),
        "metrics": meta.get("metrics") or {},
    }


def list_models(registry: Path, in_use: str | None) -> list[dict[str, Any]]:
    """The registry's versions and the shipped ones, newest first."""
    found = [model_summary(e, "registry", in_use) for e in Registry(registry).entries()]
    known = {m["version"] for m in found}
    found += [
        model_summary(e, "shipped", in_use)
        for e in Registry(SHIPPED).entries()
        if e.version not in known
    ]
    return sorted(found, key=lambda m: m["version"], reverse=True)


def register_pages(
    app: faust.App,
    runtime: Runtime,
    bootstrap: str,
    authenticator: Authenticator,
    model: dict[str, Any] | None = None,
    registry: Path | None = None,
    *,
    watcher: ModelWatcher | None = None,
    describe: Callable[[Scorer], dict[str, Any]] | None = None,
) -> None:
    """Health and readiness are open; the rest needs a token (see docs/security.md)."""

    def scoring() -> dict[str, Any]:
        """The model scoring now (it changes when an approval is read back from the log)."""
        if describe is None:
            return model or {}
        return describe(runtime.state.scorer)

    def activation() -> dict[str, Any]:
        if watcher is not None:
            return watcher.health()
        return {"scoring": runtime.state.scorer.model_version, "follows_approvals": False}

    @app.page("/health")
    @open_page
    async def health(self: View, request: Request) -> Response:
        """Also says which model scores, and whether it was trained on synthetic data."""
        return self.json({"status": "ok", "service": "matching", "model": scoring()})

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
            # Which model scores, the newest approved one, and whether a switch is pending or
            # was refused (the old model then keeps scoring: not a reason to stop serving).
            "model": activation(),
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

    @app.page("/v1/models")
    @guarded(authenticator, "administrator")
    async def models(self: View, request: Request, who: Principal) -> Response:
        """The model versions (the registry's and the shipped ones), newest first, with
        their evaluation metrics, whether approved (by whom, when) and which one scores
        now (`in_use`); `activation`: the newest approved version, whether the worker
        scores with it, a pending or refused switch, and the last switches."""
        current = scoring()
        listed = list_models(registry, current.get("version")) if registry is not None else []
        return self.json({"in_use": current, "activation": activation(), "models": listed})

    @app.page("/v1/models/{version}/approve")
    class ApproveModel(View):
        """POST: approve a version of the registry, recording the verified caller and the
        time (as `jobmatch model approve VERSION` does). If it is now the newest approved
        version, the worker appends `ModelActivated` and scores with it once it reads that
        record back (the answer waits up to 5 s for it: `in_use`, `activation`). Approved
        already: 409, naming by whom."""

        @guarded(authenticator, "administrator")
        async def post(self, request: Request, who: Principal, version: str) -> Response:
            entry = (
                Registry(registry).find(version)
                if registry is not None and VERSION.match(version)
                else None
            )
            if entry is None:
                return self.json({"detail": f"model {version!r} not found"}, status=404)
            if entry.approved:
                by = entry.metadata.get("approved_by") or "unknown"
                at = entry.metadata.get("approved_at") or "unknown"
                reason = f"model {version!r} was already approved by {by} at {at}"
                return self.json({"detail": [{"field": None, "reason": reason}]}, status=409)
            assert registry is not None
            done = Registry(registry).approve(version, by=who.label())
            log.info("model approved", extra={"version": version, "actor": who.label()})
            if watcher is None:
                summary = model_summary(done, "registry", scoring().get("version"))
                return self.json({**summary, "takes_effect": "not while MATCHING_SCORER=rules"})
            checked = await watcher.check()
            if checked.get("status") == "appended" and checked.get("version") == version:
                await watcher.wait_for(version, APPROVE_WAIT_S)
            now = scoring().get("version")
            summary = model_summary(done, "registry", now)
            if now == version:
                effect = "now: matching scores with it"
            elif checked.get("status") == "appended":
                effect = "within seconds: matching switches when it reads ModelActivated"
            elif watcher.newest_approved not in (None, version):
                effect = f"not in use: a newer approved version scores ({watcher.newest_approved})"
            else:
                effect = f"not yet: {checked.get('reason') or checked.get('status')}"
            return self.json({**summary, "takes_effect": effect, "activation": checked})
