"""Query API over the views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from redis.asyncio import Redis

from services.profiles import queries

router = APIRouter(prefix="/v1", tags=["queries"])
IdPath = Annotated[str, Path(min_length=1, max_length=64)]


def _redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(404, detail=f"{kind} {ident!r} not found")


@router.get("/job-orders/{job_order_id}", summary="A job order with its status")
async def get_job_order(job_order_id: IdPath, request: Request) -> dict[str, Any]:
    doc = await queries.job_order(_redis(request), job_order_id)
    if doc is None:
        raise _not_found("job order", job_order_id)
    return doc


@router.get(
    "/job-orders/{job_order_id}/suggestions",
    summary="Ranked candidates suggested for a job order, with score and reasons",
)
async def get_suggestions(
    job_order_id: IdPath,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    redis = _redis(request)
    order = await queries.job_order(redis, job_order_id)
    if order is None:
        raise _not_found("job order", job_order_id)
    ranked = await queries.job_order_suggestions(redis, job_order_id)
    return {
        "job_order_id": job_order_id,
        "status": order.get("status"),
        "total": len(ranked),
        "suggestions": ranked[:limit],
    }


@router.get("/citizens/{citizen_id}", summary="A citizen's card, availability and suggestions")
async def get_citizen(citizen_id: IdPath, request: Request) -> dict[str, Any]:
    doc = await queries.citizen(_redis(request), citizen_id)
    if doc is None:
        raise _not_found("citizen", citizen_id)
    return doc


@router.get(
    "/reports",
    summary="Model evaluations and fairness reports (for administrators), newest first",
)
async def get_reports(
    request: Request,
    kind: Annotated[Literal["model", "fairness"], Query()] = "model",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    reports = await queries.reports(_redis(request), kind)
    return {"kind": kind, "total": len(reports), "reports": reports[:limit]}
