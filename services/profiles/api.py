"""Query API over the views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from redis.asyncio import Redis

from schemas.common import MUNICIPALITY_CODES
from schemas.jobs import Programme
from services.auth.access import Access, hidden
from services.auth.principal import Principal
from services.common.audit import audit_citizens
from services.profiles import examples, keyspace, queries
from services.profiles.consistency import (
    conditional,
    conditional_raw,
    parse_positions,
    wait_until,
)
from services.profiles.followups import add_months
from services.profiles.kpis import month_of
from services.profiles.projections import keys
from services.profiles.reads import Unresolved, Views
from services.projection.store import ViewStore

IdPath = Annotated[str, Path(min_length=1, max_length=64)]

# Bounds of the query parameters: anything past them is a 422 naming the parameter, never
# a 500 from a value Redis or the calendar cannot take (docs/operations.md).
MAX_OFFSET = 10_000
MAX_POSITIONS_LENGTH = 2_000
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
MAX_KPI_MONTHS = 120


MinPosition = Annotated[
    str | None,
    Query(
        description=(
            "Wait until the views hold this event: the `read_token` a command answered "
            "with, topic:partition:offset (several: comma-separated)"
        ),
        examples=["jobmatch.citizens:1:42"],
        max_length=MAX_POSITIONS_LENGTH,
    ),
]


async def current_views(request: Request, min_position: MinPosition = None) -> Views:
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


async def first_read_views(
    request: Request, min_position: MinPosition = None
) -> Views | Unresolved:
    """As `current_views`, but without `min_position` the keyspace is left to the request's
    first read, which resolves it in the same round trip (`reads.read`)."""
    if min_position is None:
        return Unresolved(request.app.state.redis)
    return await current_views(request, min_position)


ViewsDep = Annotated[Views, Depends(current_views)]
FirstReadDep = Annotated[Views | Unresolved, Depends(first_read_views)]
router = APIRouter(prefix="/v1", tags=["queries"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
    401: {"description": "No valid access token (see `WWW-Authenticate`)"},
    403: {"description": "The caller's role may not read this"},
    404: {"description": "Not found, or outside the caller's municipality or CVR"},
    504: {"description": "min_position not reached in time"},
}


def _not_found(kind: str, ident: str) -> HTTPException:
    return HTTPException(404, detail=f"{kind} {ident!r} not found")


# Who may read what (deny by default); the object's tenant is checked in the route.
OrderReader = Annotated[Principal, Depends(Access("consultant", "system", scope="job-orders:read"))]
CitizenReader = Annotated[Principal, Depends(Access("consultant", "system", scope="citizens:read"))]
WorklistReader = Annotated[
    Principal, Depends(Access("consultant", "system", scope="worklists:read"))
]
EmployerReader = Annotated[Principal, Depends(Access("employer", "system", scope="employers:read"))]
KpiReader = Annotated[
    Principal, Depends(Access("consultant", "administrator", "system", scope="kpis:read"))
]
ReportReader = Annotated[
    Principal, Depends(Access("administrator", "system", scope="reports:read"))
]


async def _in_tenant(
    request: Request, v: Views, who: Principal, key: str, kind: str, ident: str
) -> dict[str, Any]:
    """The object's status and municipality; 404 when it is missing or of another tenant."""
    fields = await queries.fields(v, key, queries.TENANCY)
    _admit(request, who, fields, kind, ident)
    return fields


def _admit(
    request: Request, who: Principal, fields: Mapping[str, Any] | None, kind: str, ident: str
) -> None:
    """404 unless the object exists (`fields` read from its view) in the caller's tenant."""
    if not fields:
        raise _not_found(kind, ident)
    if not who.in_municipality(fields.get("municipality_code")):
        raise hidden(request, who, kind, ident)


def _municipality_readable(request: Request, who: Principal, code: str) -> None:
    """A municipality's lists and figures: its own consultants (and system accounts limited
    to it, or national); administrators pass here, and only the KPI route admits them."""
    if who.role == "administrator" or who.in_municipality(code):
        return
    raise hidden(request, who, "municipality", code)


@router.get(
    "/job-orders/{job_order_id}", summary="A job order with its status", responses=RESPONSES
)
async def get_job_order(
    job_order_id: IdPath, request: Request, v: FirstReadDep, who: OrderReader
) -> Response:
    doc = await queries.job_order(v, job_order_id)
    _admit(request, who, doc, "job order", job_order_id)
    return conditional(request, doc)


def suggestion_statuses(raw: str) -> tuple[str, ...]:
    """`status=` of a suggestion list: one status, several comma-separated, or `all`; 422
    naming the field otherwise."""
    if raw.strip() == "all":
        return queries.STATUSES
    wanted = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [s for s in wanted if s not in queries.STATUSES]
    if unknown or not wanted:
        raise HTTPException(
            422,
            detail=[
                {
                    "field": "status",
                    "reason": f"unknown status {', '.join(unknown) or '(none)'}; one or more "
                    f"of {', '.join(queries.STATUSES)} (comma-separated), or all",
                }
            ],
        )
    return wanted


@router.get(
    "/job-orders/{job_order_id}/suggestions",
    summary="Ranked candidates suggested for a job order, with score, reasons and status",
    responses=RESPONSES,
)
async def get_suggestions(
    job_order_id: IdPath,
    request: Request,
    v: FirstReadDep,
    who: OrderReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    status: Annotated[
        str,
        Query(
            max_length=100,
            description="Which suggestions to list by their status: pending (awaiting "
            "review; the default), accepted, rejected, presented, hired, retracted; several "
            "comma-separated, or `all`",
            examples=["pending", "accepted,presented,hired", "all"],
        ),
    ] = "pending",
) -> Response:
    """Each suggestion carries `status` (pending, accepted, rejected, presented, hired,
    retracted: the furthest review decision on it, else whether matching withdrew it),
    `review` (the furthest decision as recorded: accepted, rejected, presented, interview,
    hired, declined, placed) and `retraction_reason`. `rank` counts the listed ones."""
    statuses = suggestion_statuses(status)
    found = await queries.job_order_suggestions(
        v,
        job_order_id,
        limit,
        statuses,
        admit=lambda order: _admit(request, who, order, "job order", job_order_id),
    )
    audit_citizens(request, found.citizens)
    head = {
        "job_order_id": job_order_id,
        "status": found.order["status"],
        "shown": list(statuses),
        "total": found.total,
    }
    return conditional_raw(request, head, "suggestions", found.page)


@router.get(
    "/citizens/{citizen_id}",
    summary="A citizen's card, availability and suggestions",
    responses=RESPONSES,
)
async def get_citizen(
    citizen_id: IdPath, request: Request, v: FirstReadDep, who: CitizenReader
) -> Response:
    doc = await queries.citizen(v, citizen_id)
    _admit(request, who, doc, "citizen", citizen_id)
    return conditional(request, doc)


@router.get(
    "/reports",
    summary="Model evaluations and fairness reports (for administrators), newest first",
)
async def get_reports(
    v: ViewsDep,
    who: ReportReader,
    kind: Annotated[Literal["model", "fairness"], Query()] = "model",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    reports = await queries.reports(v, kind)
    return {"kind": kind, "total": len(reports), "reports": reports[:limit]}


Offset = Annotated[
    int,
    Query(ge=0, le=MAX_OFFSET, description=f"Entries to skip (at most {MAX_OFFSET})"),
]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _timeline_page(
    request: Request, v: Views, key: str, ident: str, offset: int, limit: int
) -> Response:
    """One page of a timeline (the caller's right to its object is checked before)."""
    total, entries = await queries.timeline(v, key, offset, limit)
    return conditional(
        request, {"id": ident, "total": total, "offset": offset, "limit": limit, "entries": entries}
    )


def _paged(
    request: Request, head: dict[str, Any], name: str, items: list[Any], offset: int, limit: int
) -> Response:
    """One page of a list assembled in full, with its total."""
    page = {**head, "total": len(items), "offset": offset, "limit": limit}
    return conditional(request, {**page, name: items[offset : offset + limit]})


async def _citizen_entries(
    request: Request,
    v: Views,
    who: Principal,
    citizen_id: str,
    key_of: Callable[[str], str],
    page: tuple[int, int],
) -> Response:
    """A page of one of the citizen's entry lists, once the caller may see the citizen."""
    await _in_tenant(request, v, who, keys.citizen(citizen_id), "citizen", citizen_id)
    return await _timeline_page(request, v, key_of(citizen_id), citizen_id, *page)


@router.get(
    "/citizens/{citizen_id}/timeline",
    summary="Every event about the citizen: who did what, when (newest first, paginated)",
    responses=RESPONSES,
)
async def get_citizen_timeline(
    citizen_id: IdPath,
    request: Request,
    v: ViewsDep,
    who: CitizenReader,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    return await _citizen_entries(
        request, v, who, citizen_id, keys.citizen_timeline, (offset, limit)
    )


AccessLogReader = Annotated[Principal, Depends(Access("consultant"))]


@router.get(
    "/citizens/{citizen_id}/access-log",
    summary="Who read or changed the citizen's personal data, when, by which route and with "
    "what result (newest first, paginated): the basis of an access request (GDPR art. 15)",
    responses=RESPONSES,
)
async def get_citizen_access_log(
    citizen_id: IdPath,
    request: Request,
    v: ViewsDep,
    who: AccessLogReader,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    """A consultant of the citizen's municipality only. Reading the log is on it too."""
    return await _citizen_entries(request, v, who, citizen_id, keys.access_log, (offset, limit))


@router.get(
    "/job-orders/{job_order_id}/timeline",
    summary="Every event about the job order (newest first, paginated)",
    responses=RESPONSES,
)
async def get_order_timeline(
    job_order_id: IdPath,
    request: Request,
    v: ViewsDep,
    who: OrderReader,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    await _in_tenant(request, v, who, keys.job_order(job_order_id), "job order", job_order_id)
    key = keys.order_timeline(job_order_id)
    return await _timeline_page(request, v, key, job_order_id, offset, limit)


async def municipality(
    municipality_code: Annotated[
        str,
        Path(pattern=r"^[0-9]{4}$", description="Kommunekode", examples=["0751"]),
    ],
) -> str:
    if municipality_code not in MUNICIPALITY_CODES:
        raise _not_found("municipality", municipality_code)
    return municipality_code


Municipality = Annotated[str, Depends(municipality)]
Cvr = Annotated[str, Path(pattern=r"^[0-9]{8}$", examples=["12345607"])]
Today = Annotated[
    dt.date | None,
    Query(
        ge=FIRST_DAY,
        le=LAST_DAY,
        description=f"The day to count from (default: today, UTC); {FIRST_DAY} to {LAST_DAY}",
    ),
]


@router.get(
    "/worklists/{municipality_code}",
    summary="A municipality's suggestions awaiting review: newest first, best first within a "
    "day; filter by programme, occupation, postal area and score",
    responses={**RESPONSES, **examples.ok(examples.WORKLIST)},
)
async def get_worklist(
    municipality_code: Municipality,
    request: Request,
    v: ViewsDep,
    who: WorklistReader,
    programme: Annotated[Programme | None, Query(examples=["IGU"])] = None,
    occupation_uri: Annotated[str | None, Query(max_length=300)] = None,
    postal_prefix: Annotated[str | None, Query(pattern=r"^[0-9]{1,4}$", examples=["82"])] = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    """Placements due for follow-up are at `/worklists/{municipality_code}/follow-ups`."""
    _municipality_readable(request, who, municipality_code)
    total, items = await queries.worklist(
        v, municipality_code, programme, occupation_uri, postal_prefix, min_score, offset, limit
    )
    audit_citizens(request, _citizens_in(items))
    head = {"municipality_code": municipality_code, "total": total, "offset": offset}
    return conditional_raw(request, {**head, "limit": limit}, "items", items)


@router.get(
    "/worklists/{municipality_code}/counts",
    summary="How many suggestions await review in the municipality, in all and per programme",
    responses={**RESPONSES, **examples.ok(examples.WORKLIST_COUNTS)},
)
async def get_worklist_counts(
    municipality_code: Municipality, request: Request, v: ViewsDep, who: WorklistReader
) -> Response:
    """The unfiltered worklist's `total` and its size per programme (`by_programme`, every
    programme, 0 included; a suggestion without a programme counts in the total only): the
    numbers a worklist page shows beside the list, in one call. Names no citizen."""
    _municipality_readable(request, who, municipality_code)
    counts = await queries.worklist_counts(v, municipality_code)
    return conditional(request, {"municipality_code": municipality_code, **counts})


def _citizens_in(stored: list[bytes]) -> list[str]:
    """The citizens named by stored JSON documents (a page of a list), for the audit trail."""
    return [str(orjson.loads(doc)["citizen_id"]) for doc in stored]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@router.get(
    "/worklists/{municipality_code}/follow-ups",
    summary="Placements due for follow-up: monthly in the first six months, and three months "
    "before an IGU ends (soonest first)",
    responses={**RESPONSES, **examples.ok(examples.FOLLOW_UPS)},
)
async def get_follow_ups(
    municipality_code: Municipality,
    request: Request,
    v: ViewsDep,
    who: WorklistReader,
    as_of: Today = None,
    within_days: Annotated[
        int, Query(ge=0, le=366, description="Also list what falls due this many days ahead")
    ] = 14,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    _municipality_readable(request, who, municipality_code)
    today = as_of or _today()
    until = today + dt.timedelta(days=within_days)
    due = await queries.follow_ups_due(v, municipality_code, until, today)
    audit_citizens(
        request,
        (str(d.get("citizen_id")) for d in due[offset : offset + limit] if d.get("citizen_id")),
    )
    head = {
        "municipality_code": municipality_code,
        "as_of": today.isoformat(),
        "until": until.isoformat(),
    }
    return _paged(request, head, "items", due, offset, limit)


@router.get(
    "/employers/{cvr}",
    summary="An employer and its own job orders (status, positions, presented candidates)",
    responses={**RESPONSES, **examples.ok(examples.EMPLOYER)},
)
async def get_employer(
    cvr: Cvr,
    request: Request,
    v: ViewsDep,
    who: EmployerReader,
    job_order_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Only this job order (none if it is not the employer's)",
        ),
    ] = None,
    include_order: Annotated[
        bool,
        Query(
            description="Each job order with the order as posted (`order`); false: the "
            "summary only, a fraction of the answer for an employer with many orders",
        ),
    ] = True,
) -> Response:
    """Every job order of the employer, newest first (by `updated_at`): `title`,
    `programme`, `status`, `positions` (total, filled by started placements, open),
    `presented_candidates`, `updated_at`, `version` (the If-Match of an update) and `order`
    (the order as posted, unless `include_order=false`)."""
    _own_cvr(request, who, cvr)
    doc = await queries.employer(v, cvr, job_order_id=job_order_id, with_order=include_order)
    if doc is None:
        raise _not_found("employer", cvr)
    return conditional(request, doc)


@router.get(
    "/employers/{cvr}/candidates",
    summary="The candidates presented to the employer, with only the card fields each "
    "citizen consented to share with it",
    responses={**RESPONSES, **examples.ok(examples.CANDIDATES)},
)
async def get_employer_candidates(
    cvr: Cvr,
    request: Request,
    v: ViewsDep,
    who: EmployerReader,
    job_order_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    _own_cvr(request, who, cvr)
    if not await queries.employer_exists(v, cvr):
        raise _not_found("employer", cvr)
    candidates = await queries.employer_candidates(v, cvr, job_order_id)
    audit_citizens(request, (c["citizen_id"] for c in candidates[offset : offset + limit]))
    return _paged(request, {"cvr": cvr}, "candidates", candidates, offset, limit)


def _own_cvr(request: Request, who: Principal, cvr: str) -> None:
    """An employer sees its own CVR only; a system account granted employers:read, all."""
    if who.role == "employer" and who.cvr != cvr:
        raise hidden(request, who, "employer", cvr)


# Years 1900 to 2999, as FIRST_DAY and LAST_DAY.
Month = Annotated[
    str | None, Query(pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$", examples=["2026-01"])
]


@router.get(
    "/kpis/{municipality_code}",
    summary="Key figures per month: job orders with suggestions, presentations and hires "
    "within 3 months; placements by programme; outcomes; time to placement; jobpakker",
    responses={**RESPONSES, **examples.ok(examples.KPIS)},
)
async def get_kpis(
    municipality_code: Municipality,
    request: Request,
    v: ViewsDep,
    who: KpiReader,
    first: Annotated[Month, Query(alias="from")] = None,
    last: Annotated[Month, Query(alias="to")] = None,
    as_of: Today = None,
) -> Response:
    """Months default to the twelve up to this one. Orders count in the month they were
    posted; a month's hire share is final once `hire_window_closed` is true. Anonymous
    counts: consultants read their own municipality's, administrators every one."""
    _municipality_readable(request, who, municipality_code)
    today = as_of or _today()
    last = last or f"{today.year:04d}-{today.month:02d}"
    if first is None:
        year, month = (int(x) for x in last.split("-"))
        first = month_of(add_months(dt.date(year, month, 1), -11))
    if first > last:
        raise HTTPException(422, detail=[{"field": "from", "reason": "from must not be after to"}])
    if _months(first, last) > MAX_KPI_MONTHS:
        reason = f"at most {MAX_KPI_MONTHS} months"
        raise HTTPException(422, detail=[{"field": "from", "reason": reason}])
    months = await queries.kpis(v, municipality_code, first, last, today)
    return conditional(
        request,
        {"municipality_code": municipality_code, "from": first, "to": last, "months": months},
    )


def _months(first: str, last: str) -> int:
    """How many months from `first` to `last` (YYYY-MM), both included."""
    (y1, m1), (y2, m2) = ((int(x) for x in month.split("-")) for month in (first, last))
    return (y2 - y1) * 12 + (m2 - m1) + 1
