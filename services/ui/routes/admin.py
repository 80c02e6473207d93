"""The administrator's pages: models, fairness reports, projection status."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.ui.errors import ApiError, explain
from services.ui.session import Session
from services.ui.web import (
    NotFoundPage,
    after,
    form_of,
    lang_of,
    redirect,
    render,
    require,
    ui_of,
)

router = APIRouter(prefix="/admin")
Administrator = Annotated[Session, Depends(require("administrator"))]
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


async def _or_none(call: Any) -> Any:
    """An answer, or None when that service is down (the page shows what it has)."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 401:
            raise
        return None


async def _models_page(
    request: Request, session: Session, error: str | None = None, status: int = 200
) -> Response:
    api = ui_of(request).api
    health, metrics, registered, reports = await asyncio.gather(
        _or_none(api.get("matching", "/health", session.token)),
        _or_none(api.get("matching", "/v1/metrics", session.token)),
        _or_none(api.get("matching", "/v1/models", session.token)),
        api.get("profiles", "/v1/reports", session.token, params={"kind": "model", "limit": 50}),
    )
    return render(
        request,
        "admin_models.html",
        status=status,
        model=(health or {}).get("model") or {},
        metrics=metrics,
        versions=None if registered is None else registered.get("models", []),
        reports=reports.get("reports", []),
        error=error,
    )


@router.get("/models", response_class=HTMLResponse)
async def models(request: Request, session: Administrator) -> Response:
    return await _models_page(request, session)


@router.post("/models/{version}/approve")
async def approve_model(request: Request, session: Administrator, version: str) -> Response:
    """Approve a version through the matching service's API, as the signed-in administrator
    (the API records who, from the verified token)."""
    await form_of(request, session)
    if not VERSION.match(version):
        raise NotFoundPage()
    try:
        await ui_of(request).api.post(
            "matching", f"/v1/models/{quote(version, safe='')}/approve", session.token
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        message = explain(exc, lang_of(request)).message
        return await _models_page(request, session, message, 409 if exc.status == 409 else 422)
    return redirect(after("/admin/models", "admin.approved_msg"))


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
