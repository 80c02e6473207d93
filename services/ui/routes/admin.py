"""The administrator's pages: models, fairness reports, projection status."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.ui.errors import ApiError
from services.ui.session import Session
from services.ui.web import render, require, ui_of

router = APIRouter(prefix="/admin")
Administrator = Annotated[Session, Depends(require("administrator"))]


async def _or_none(call: Any) -> Any:
    """An answer, or None when that service is down (the page shows what it has)."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 401:
            raise
        return None


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, session: Administrator) -> Response:
    api = ui_of(request).api
    health, metrics, reports = await asyncio.gather(
        _or_none(api.get("matching", "/health", session.token)),
        _or_none(api.get("matching", "/v1/metrics", session.token)),
        api.get("profiles", "/v1/reports", session.token, params={"kind": "model", "limit": 50}),
    )
    return render(
        request,
        "admin_models.html",
        model=(health or {}).get("model") or {},
        metrics=metrics,
        reports=reports.get("reports", []),
    )


@router.get("/fairness", response_class=HTMLResponse)
async def fairness(request: Request, session: Administrator) -> Response:
    reports = await ui_of(request).api.get(
        "profiles", "/v1/reports", session.token, params={"kind": "fairness", "limit": 50}
    )
    return render(request, "admin_fairness.html", reports=reports.get("reports", []))


@router.get("/projections", response_class=HTMLResponse)
async def projections(request: Request, session: Administrator) -> Response:
    status = await ui_of(request).api.get("profiles", "/v1/projections/status", session.token)
    return render(request, "admin_projections.html", projection=status)
