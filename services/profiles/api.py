"""Query API over the views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from redis.asyncio import Redis

from services.profiles import keyspace, queries
from services.profiles.consistency import conditional, parse_positions, wait_until
from services.profiles.projections import keys
from services.profiles.queries import Views
from services.profiles.store import ViewStore

IdPath = Annotated[str, Path(min_length=1, max_length=64)]


async def current_views(
    request: Request,
    min_position: Annotated[
        str | None,
        Query(
            description=(
                "Wait until the views hold this event: the `read_token` a command answered "
                "with, topic:partition:offset (several: comma-separated)"
            ),
            examples=["jobmatch.citizens:1:42"],
        ),
    ] = None,
) -> Views:
    """The views of the active keyspace; with `min_position`, once they hold that event.

    The keyspace is resolved once per request, so a request never mixes views from before
    and after a rebuild switched readers over."""
    redis: Redis = request.app.state.redis
    views = Views(redis, await keyspace.active(redis))
    if min_position is None:
        return views
    try:
        positions = parse_positions(min_position)
    except ValueError as exc:
        raise HTTPException(422, detail=[{"field": "min_position", "reason": str(exc)}]) from None
    timeout = request.app.state.max_wait_s
    tracking = ViewStore(redis, views.prefix)
    if not await wait_until(tracking.positions, positions, timeout):
        raise HTTPException(
            504, detail=f"the views have not reached {min_position} within {timeout:g} s"
        )
    return views


ViewsDep = Annotated[Views, Depends(current_views)]
router = APIRouter(prefix="/v1", tags=["queries"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
    404: {"description": "Not found"},
    504: {"description": "min_position not reached in time"},
}


def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(404, detail=f"{kind} {ident!r} not found")


@router.get(
    "/job-orders/{job_order_id}", summary="A job order with its status", responses=RESPONSES
)
async def get_job_order(job_order_id: IdPath, request: Request, v: ViewsDep) -> Response:
    doc = await queries.job_order(v, job_order_id)
    if doc is None:
        raise _not_found("job order", job_order_id)
    return conditional(request, doc)


@router.get(
    "/job-orders/{job_order_id}/suggestions",
    summary="Ranked candidates suggested for a job order, with score and reasons",
    responses=RESPONSES,
)
async def get_suggestions(
    job_order_id: IdPath,
    request: Request,
    v: ViewsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    order = await queries.job_order(v, job_order_id)
    if order is None:
        raise _not_found("job order", job_order_id)
    ranked = await queries.job_order_suggestions(v, job_order_id)
    return conditional(
        request,
        {
            "job_order_id": job_order_id,
            "status": order.get("status"),
            "total": len(ranked),
            "suggestions": ranked[:limit],
        },
    )


@router.get(
    "/citizens/{citizen_id}",
    summary="A citizen's card, availability and suggestions",
    responses=RESPONSES,
)
async def get_citizen(citizen_id: IdPath, request: Request, v: ViewsDep) -> Response:
    doc = await queries.citizen(v, citizen_id)
    if doc is None:
        raise _not_found("citizen", citizen_id)
    return conditional(request, doc)


@router.get(
    "/reports",
    summary="Model evaluations and fairness reports (for administrators), newest first",
)
async def get_reports(
    v: ViewsDep,
    kind: Annotated[Literal["model", "fairness"], Query()] = "model",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    reports = await queries.reports(v, kind)
    return {"kind": kind, "total": len(reports), "reports": reports[:limit]}


Offset = Annotated[int, Query(ge=0, description="Entries to skip (newest first)")]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _timeline_page(
    request: Request,
    v: Views,
    key: str,
    exists: bool,
    kind: str,
    ident: str,
    offset: int,
    limit: int,
) -> Response:
    if not exists:
        raise _not_found(kind, ident)
    total, entries = await queries.timeline(v, key, offset, limit)
    return conditional(
        request, {"id": ident, "total": total, "offset": offset, "limit": limit, "entries": entries}
    )


@router.get(
    "/citizens/{citizen_id}/timeline",
    summary="Every event about the citizen: who did what, when (newest first, paginated)",
    responses=RESPONSES,
)
async def get_citizen_timeline(
    citizen_id: IdPath, request: Request, v: ViewsDep, offset: Offset = 0, limit: Limit = 50
) -> Response:
    exists = await queries.citizen(v, citizen_id) is not None
    key = keys.citizen_timeline(citizen_id)
    return await _timeline_page(request, v, key, exists, "citizen", citizen_id, offset, limit)


@router.get(
    "/job-orders/{job_order_id}/timeline",
    summary="Every event about the job order (newest first, paginated)",
    responses=RESPONSES,
)
async def get_order_timeline(
    job_order_id: IdPath, request: Request, v: ViewsDep, offset: Offset = 0, limit: Limit = 50
) -> Response:
    exists = await queries.job_order(v, job_order_id) is not None
    key = keys.order_timeline(job_order_id)
    return await _timeline_page(request, v, key, exists, "job order", job_order_id, offset, limit)


@router.get(
    "/worklists/{municipality_code}",
    summary="A municipality's suggestions awaiting review: newest first, best first within a "
    "day; filter by programme, occupation, postal area and score",
    responses=RESPONSES,
)
async def get_worklist(
    municipality_code: Annotated[str, Path(pattern=r"^[0-9]{4}$", examples=["0751"])],
    request: Request,
    v: ViewsDep,
    programme: Annotated[str | None, Query(examples=["IGU"])] = None,
    occupation_uri: Annotated[str | None, Query()] = None,
    postal_prefix: Annotated[str | None, Query(pattern=r"^[0-9]{1,4}$", examples=["82"])] = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    items = await queries.worklist(
        v, municipality_code, programme, occupation_uri, postal_prefix, min_score
    )
    return conditional(
        request,
        {
            "municipality_code": municipality_code,
            "total": len(items),
            "offset": offset,
            "limit": limit,
            "items": items[offset : offset + limit],
        },
    )
