"""The consultant's pages: worklist, suggestion, citizen, placement, KPIs.

Everything is read from and written to the public APIs with the consultant's own token, so
the municipality's access rules apply as they do to any client: a citizen of another
municipality answers 404 there, and here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from schemas.citizens import DEFAULT_SHARED_FIELDS, SharedField
from services.profiles.followups import open_follow_ups
from services.ui.errors import ApiError, explain
from services.ui.i18n import translate
from services.ui.session import Session
from services.ui.web import after, form_of, lang_of, redirect, render, require, seen_of, ui_of

router = APIRouter()
Consultant = Annotated[Session, Depends(require("consultant"))]
PROGRAMMES = ("IGU", "IO-stilling", "virksomhedspraktik", "løntilskud", "jobpakke", "ordinary")
PLACEMENT_TYPES = ("IGU", "IO-stilling", "virksomhedspraktik", "løntilskud", "ordinary")
REJECTION_CODES = (
    "danish_level",
    "transport",
    "health",
    "citizen_declines",
    "employer_mismatch",
    "other",
)
# What a consent may share, and what the form ticks by default: the event schema's.
SHARED_FIELDS: tuple[str, ...] = get_args(SharedField)
DEFAULT_SHARED: tuple[str, ...] = DEFAULT_SHARED_FIELDS
FOLLOW_UP_STATUSES = ("on_track", "at_risk", "needs_action")
OUTCOMES = ("ordinary_job", "education", "positive_drop_out", "negative_drop_out")
PAGE_SIZE = 25
POSTAL = re.compile(r"^[0-9]{1,4}$")
MONTH = re.compile(r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$")
ID = re.compile(r"^[A-Za-z0-9._:-]{3,64}$")


def _id(value: str) -> str:
    """A path id as the APIs accept it; anything else is a missing page."""
    from services.ui.web import NotFoundPage

    if not ID.match(value):
        raise NotFoundPage()
    return value


def _municipality_name(code: str | None) -> str:
    from services.reference.geo import load_geo

    if not code:
        return ""
    name = load_geo().municipality_name(code)
    return f"{name} Kommune" if name else code


async def _resolve_occupation(request: Request, session: Session, text: str) -> str | None:
    """The ESCO URI whose label (in the page's language) is `text`, via the taxonomy API."""
    answer = await ui_of(request).api.get(
        "events",
        "/v1/taxonomy/occupations",
        session.token,
        params={"q": text, "lang": lang_of(request), "limit": 10},
    )
    wanted = text.strip().casefold()
    for result in answer.get("results", []):
        if str(result.get("label", "")).casefold() == wanted:
            return str(result["uri"])
    return None


# -- worklist --------------------------------------------------------------------------------


@router.get("/worklist", response_class=HTMLResponse)
async def worklist(
    request: Request,
    session: Consultant,
    programme: Annotated[str, Query(max_length=40)] = "",
    occupation: Annotated[str, Query(max_length=200)] = "",
    postal: Annotated[str, Query(max_length=10)] = "",
    min_score: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[str, Query(max_length=6)] = "1",
) -> Response:
    ui = ui_of(request)
    lang = lang_of(request)
    mun = session.municipality or ""
    errors: dict[str, str] = {}
    params: dict[str, Any] = {}
    if programme in PROGRAMMES:
        params["programme"] = programme
    if postal.strip():
        if POSTAL.match(postal.strip()):
            params["postal_prefix"] = postal.strip()
        else:
            errors["postal"] = translate(lang, "invalid.postal")
    if min_score.strip():
        try:
            value = float(min_score.replace(",", ".").strip())
            if not 0 <= value <= 100:
                raise ValueError
            params["min_score"] = value / 100
        except ValueError:
            errors["min_score"] = translate(lang, "invalid.range", low=0, high=100)
    if occupation.strip():
        uri = await _resolve_occupation(request, session, occupation)
        if uri is None:
            errors["occupation"] = translate(lang, "worklist.occupation_unknown")
        else:
            params["occupation_uri"] = uri
    try:
        page_no = max(1, min(400, int(page)))
    except ValueError:
        page_no = 1
    params["offset"] = (page_no - 1) * PAGE_SIZE
    params["limit"] = PAGE_SIZE
    seen = seen_of(request)
    base = f"/v1/worklists/{mun}"
    token = session.token
    # Three calls: the page of the list, the whole worklist's counts, the follow-ups due.
    found, counts, due = await asyncio.gather(
        ui.api.get("profiles", base, token, params={**params, "min_position": seen}),
        ui.api.get("profiles", f"{base}/counts", token),
        ui.api.get("profiles", f"{base}/follow-ups", token, params={"within_days": 14}),
    )
    total = int(found["total"])
    pages = max(1, math.ceil(total / PAGE_SIZE))
    by_programme = counts.get("by_programme", {})
    context = {
        "items": found["items"],
        "total": total,
        "total_all": int(counts["total"]),
        "counts": [(p, int(by_programme.get(p, 0))) for p in PROGRAMMES],
        "page": page_no,
        "pages": pages,
        "filters": {
            "programme": programme if programme in PROGRAMMES else "",
            "occupation": occupation,
            "postal": postal,
            "min_score": min_score,
        },
        "errors": errors,
        "programmes": PROGRAMMES,
        "follow_ups": due["items"],
        "municipality": _municipality_name(mun),
        "page_link": page_link,
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "results":
        return render(request, "partials/worklist_results.html", **context)
    return render(request, "worklist.html", **context)


def page_link(filters: dict[str, str], page: int) -> str:
    from urllib.parse import urlencode

    query = {k: v for k, v in filters.items() if v}
    query["page"] = str(page)
    return "/worklist?" + urlencode(query)


# -- job order: its suggestions and their status ----------------------------------------------

SUGGESTION_STATUSES = ("pending", "accepted", "rejected", "presented", "hired", "retracted")


@router.get("/orders/{oid}", response_class=HTMLResponse)
async def order_page(
    request: Request,
    session: Consultant,
    oid: str,
    status: Annotated[str, Query(max_length=20)] = "pending",
) -> Response:
    """The order and its suggestions with their status: pending ones by default, one status
    or all on request (the profiles API's `status=`)."""
    oid = _id(oid)
    shown = status if status in (*SUGGESTION_STATUSES, "all") else "pending"
    api = ui_of(request).api
    seen = {"min_position": seen_of(request)}
    order, listed = await asyncio.gather(
        api.get("profiles", f"/v1/job-orders/{oid}", session.token, params=seen),
        api.get(
            "profiles",
            f"/v1/job-orders/{oid}/suggestions",
            session.token,
            params={"status": shown, "limit": 200},
        ),
    )
    return render(
        request,
        "order.html",
        oid=oid,
        order=order,
        order_doc=order.get("order", {}),
        suggestions=listed.get("suggestions", []),
        total=int(listed.get("total", 0)),
        shown=shown,
        statuses=SUGGESTION_STATUSES,
    )


# -- suggestion ------------------------------------------------------------------------------


async def _citizen_and_order(
    request: Request, session: Session, cid: str, oid: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    api = ui_of(request).api
    seen = seen_of(request)
    citizen_call = api.get(
        "profiles", f"/v1/citizens/{cid}", session.token, params={"min_position": seen}
    )
    order_call = api.get(
        "profiles", f"/v1/job-orders/{oid}", session.token, params={"min_position": seen}
    )
    answers: Any = await asyncio.gather(citizen_call, order_call, return_exceptions=True)
    citizen, order = answers
    if isinstance(citizen, BaseException):
        raise citizen
    if isinstance(order, ApiError) and order.status == 404:
        return citizen, None  # an order of another municipality the citizen commutes to
    if isinstance(order, BaseException):
        raise order
    return citizen, order


def _review_of(citizen: dict[str, Any], oid: str) -> dict[str, Any] | None:
    return next((r for r in citizen.get("reviews", []) if r.get("job_order_id") == oid), None)


def _consent_for(citizen: dict[str, Any], cvr: str | None) -> dict[str, Any] | None:
    for consent in reversed(citizen.get("consents", [])):
        if consent.get("scope") == "all" or (cvr and consent.get("employer_cvr") == cvr):
            return consent
    return None


async def _suggestion_page(
    request: Request,
    session: Session,
    cid: str,
    oid: str,
    *,
    error: str | None = None,
    fields: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    citizen, order = await _citizen_and_order(request, session, cid, oid)
    suggestion = next(
        (s for s in citizen.get("suggestions", []) if s.get("job_order_id") == oid), None
    )
    review = _review_of(citizen, oid)
    if suggestion is None and review is None:
        from services.ui.web import NotFoundPage

        raise NotFoundPage()
    cvr = (order or {}).get("employer_cvr")
    placement = next(
        (p for p in citizen.get("placements", []) if p.get("job_order_id") == oid), None
    )
    reasons = (suggestion or {}).get("reasons", [])
    largest = max([abs(float(r.get("contribution", 0))) for r in reasons] + [0.0])
    return render(
        request,
        "suggestion.html",
        status=status,
        citizen=citizen,
        card=citizen.get("card", {}),
        order=order,
        order_doc=(order or {}).get("order", {}),
        suggestion=suggestion,
        suggestion_id=(suggestion or review or {}).get("suggestion_id", ""),
        review=review,
        consent=_consent_for(citizen, cvr),
        placement=placement,
        largest=largest,
        error=error,
        errors=fields or {},
        rejection_options=[
            (c, translate(lang_of(request), f"reject.{c}")) for c in REJECTION_CODES
        ],
        shared_fields=SHARED_FIELDS,
        default_shared=DEFAULT_SHARED,
        cid=cid,
        oid=oid,
    )


@router.get("/suggestions/{cid}/{oid}", response_class=HTMLResponse)
async def suggestion(request: Request, session: Consultant, cid: str, oid: str) -> Response:
    return await _suggestion_page(request, session, _id(cid), _id(oid))


async def _refusal(
    request: Request, session: Session, cid: str, oid: str, exc: ApiError, aliases: dict[str, str]
) -> Response:
    """The suggestion page again, with the API's refusal in words (and who got there first)."""
    lang = lang_of(request)
    if exc.status in (401, 403, 404):
        raise exc
    explained = explain(exc, lang, aliases)
    reasons = " ".join(r for _, r in exc.problems())
    already = re.search(r"was already (\w+)$", reasons)
    if already:
        citizen, _ = await _citizen_and_order(request, session, cid, oid)
        review = _review_of(citizen, oid)
        if review is not None:
            from services.ui import present

            explained.message = translate(
                lang,
                "refusal.already_by",
                status=present.review_status(already.group(1), lang),
                actor=present.actor(review.get("actor"), lang),
                at=present.moment(review.get("at"), lang),
            )
    return await _suggestion_page(
        request,
        session,
        cid,
        oid,
        error=explained.message,
        fields=explained.fields,
        status=409 if exc.status == 409 else 422,
    )


def _text(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return str(value).strip()[:limit] if isinstance(value, str) else ""


async def _on_suggestion(
    request: Request, session: Consultant, cid: str, oid: str, action: str, message: str
) -> Response:
    """A command on the suggestion without a body (accept, present): its id from the form,
    a refusal shown on the suggestion page, the page again with `message` on success."""
    cid, oid = _id(cid), _id(oid)
    form = await form_of(request, session)
    sid = _id(_text(form, "suggestion_id", 64))
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/suggestions/{sid}/{action}", session.token
        )
    except ApiError as exc:
        return await _refusal(request, session, cid, oid, exc, {})
    return redirect(after(f"/suggestions/{cid}/{oid}", message, done["read_token"]))


@router.post("/suggestions/{cid}/{oid}/accept")
async def accept(request: Request, session: Consultant, cid: str, oid: str) -> Response:
    return await _on_suggestion(request, session, cid, oid, "accept", "suggestion.accepted_msg")


@router.post("/suggestions/{cid}/{oid}/reject")
async def reject(request: Request, session: Consultant, cid: str, oid: str) -> Response:
    cid, oid = _id(cid), _id(oid)
    form = await form_of(request, session)
    sid = _id(_text(form, "suggestion_id", 64))
    code = _text(form, "reason_code", 40)
    text = _text(form, "reason_text", 1000)
    lang = lang_of(request)
    if code not in REJECTION_CODES:
        return await _suggestion_page(
            request, session, cid, oid,
            error=translate(lang, "common.fix_errors"),
            fields={"reason_code": translate(lang, "invalid.required")},
            status=422,
        )  # fmt: skip
    body = {"reason_code": code, "reason_text": text or None}
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/suggestions/{sid}/reject", session.token, json=body
        )
    except ApiError as exc:
        aliases = {"reason_code": "reason_code", "reason_text": "reason_text"}
        return await _refusal(request, session, cid, oid, exc, aliases)
    return redirect(after(f"/citizens/{cid}", "suggestion.rejected_msg", done["read_token"]))


@router.post("/suggestions/{cid}/{oid}/consent")
async def consent(request: Request, session: Consultant, cid: str, oid: str) -> Response:
    cid, oid = _id(cid), _id(oid)
    form = await form_of(request, session)
    scope = _text(form, "scope", 20)
    cvr = _text(form, "employer_cvr", 8)
    shared = [f for f in form.getlist("shared_fields") if f in SHARED_FIELDS]
    lang = lang_of(request)
    problems: dict[str, str] = {}
    if scope not in ("employer", "all"):
        problems["scope"] = translate(lang, "invalid.required")
    if not shared:
        problems["shared_fields"] = translate(lang, "invalid.required")
    if problems:
        return await _suggestion_page(
            request, session, cid, oid,
            error=translate(lang, "common.fix_errors"), fields=problems, status=422,
        )  # fmt: skip
    body: dict[str, Any] = {"scope": scope, "shared_fields": shared}
    if scope == "employer":
        body["employer_cvr"] = cvr
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/citizens/{cid}/consents", session.token, json=body
        )
    except ApiError as exc:
        aliases = {"scope": "scope", "shared_fields": "shared_fields", "employer_cvr": "scope"}
        return await _refusal(request, session, cid, oid, exc, aliases)
    return redirect(
        after(f"/suggestions/{cid}/{oid}", "suggestion.consent_msg", done["read_token"])
    )


@router.post("/suggestions/{cid}/{oid}/present")
async def present_candidate(request: Request, session: Consultant, cid: str, oid: str) -> Response:
    return await _on_suggestion(request, session, cid, oid, "present", "suggestion.presented_msg")


# -- citizen ---------------------------------------------------------------------------------


async def _titles(request: Request, session: Session, order_ids: set[str]) -> dict[str, str]:
    """Titles of the orders a citizen's page mentions (orders out of reach: their id)."""
    api = ui_of(request).api
    ids = sorted(order_ids)[:20]
    answers = await asyncio.gather(
        *[api.get("profiles", f"/v1/job-orders/{oid}", session.token) for oid in ids],
        return_exceptions=True,
    )
    titles = {}
    for oid, answer in zip(ids, answers, strict=True):
        if isinstance(answer, dict):
            titles[oid] = str(answer.get("order", {}).get("title") or oid)
        elif isinstance(answer, ApiError) and answer.status == 401:
            raise answer
    return titles


@router.get("/citizens/{cid}", response_class=HTMLResponse)
async def citizen_page(request: Request, session: Consultant, cid: str) -> Response:
    cid = _id(cid)
    api = ui_of(request).api
    seen = seen_of(request)
    citizen, timeline = await asyncio.gather(
        api.get("profiles", f"/v1/citizens/{cid}", session.token, params={"min_position": seen}),
        api.get(
            "profiles",
            f"/v1/citizens/{cid}/timeline",
            session.token,
            params={"limit": 50, "min_position": seen},
        ),
    )
    order_ids = {s["job_order_id"] for s in citizen.get("suggestions", [])}
    order_ids |= {r["job_order_id"] for r in citizen.get("reviews", [])}
    order_ids |= {p["job_order_id"] for p in citizen.get("placements", []) if p.get("job_order_id")}
    titles = await _titles(request, session, order_ids)
    return render(
        request,
        "citizen.html",
        citizen=citizen,
        card=citizen.get("card", {}),
        timeline=timeline.get("entries", []),
        titles=titles,
        cid=cid,
    )


# -- placements ------------------------------------------------------------------------------


def _placement_type_for(programme: str | None) -> str:
    return programme if programme in PLACEMENT_TYPES else "ordinary"


def _float(
    form: FormData, name: str, low: float, high: float, problems: dict[str, str], lang: str
) -> float | None:
    raw = _text(form, name, 20).replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        problems[name] = translate(lang, "invalid.number")
        return None
    if not low <= value <= high:
        problems[name] = translate(lang, "invalid.range", low=f"{low:g}", high=f"{high:g}")
        return None
    return value


def _date(
    form: FormData, name: str, problems: dict[str, str], lang: str, required: bool = True
) -> str | None:
    raw = _text(form, name, 20)
    if not raw:
        if required:
            problems[name] = translate(lang, "invalid.required")
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        problems[name] = translate(lang, "invalid.date")
        return None


async def _new_placement_page(
    request: Request,
    session: Session,
    cid: str,
    oid: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    citizen, order = await _citizen_and_order(request, session, cid, oid)
    review = _review_of(citizen, oid)
    if review is None:
        from services.ui.web import NotFoundPage

        raise NotFoundPage()
    doc = (order or {}).get("order", {})
    igu = doc.get("programme") == "IGU"
    defaults = {
        "placement_type": _placement_type_for(doc.get("programme")),
        "start_date": doc.get("start_date") or dt.date.today().isoformat(),
        "end_date": "",
        "weekly_hours_work": "29" if igu else f"{doc.get('hours_per_week', 37):g}",
        "weekly_hours_school": "8" if igu else "0",
    }
    return render(
        request,
        "placement_new.html",
        status=status,
        cid=cid,
        oid=oid,
        title=doc.get("title") or oid,
        review=review,
        values={**defaults, **(values or {})},
        errors=errors or {},
        error=error,
        type_options=[(p, translate(lang_of(request), f"programme.{p}")) for p in PLACEMENT_TYPES],
    )


@router.get("/citizens/{cid}/placements/new", response_class=HTMLResponse)
async def new_placement(
    request: Request,
    session: Consultant,
    cid: str,
    order: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    return await _new_placement_page(request, session, _id(cid), _id(order))


@router.post("/citizens/{cid}/placements")
async def start_placement(request: Request, session: Consultant, cid: str) -> Response:
    cid = _id(cid)
    form = await form_of(request, session)
    lang = lang_of(request)
    oid = _id(_text(form, "job_order_id", 64))
    problems: dict[str, str] = {}
    kind = _text(form, "placement_type", 40)
    if kind not in PLACEMENT_TYPES:
        problems["placement_type"] = translate(lang, "invalid.required")
    start = _date(form, "start_date", problems, lang)
    end = _date(form, "end_date", problems, lang, required=False)
    work = _float(form, "weekly_hours_work", 0, 60, problems, lang)
    school = _float(form, "weekly_hours_school", 0, 60, problems, lang)
    values = {k: _text(form, k, 40) for k in (
        "placement_type", "start_date", "end_date", "weekly_hours_work", "weekly_hours_school"
    )}  # fmt: skip
    if problems:
        return await _new_placement_page(
            request, session, cid, oid, values, problems, translate(lang, "common.fix_errors"), 422
        )
    body = {
        "suggestion_id": _id(_text(form, "suggestion_id", 64)),
        "placement_type": kind,
        "start_date": start,
        "end_date": end,
        "weekly_hours_work": work,
        "weekly_hours_school": school,
    }
    try:
        done = await ui_of(request).api.post("events", "/v1/placements", session.token, json=body)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        aliases = {k: k for k in values}
        explained = explain(exc, lang, aliases)
        return await _new_placement_page(
            request, session, cid, oid, values, explained.fields, explained.message, 422
        )
    return redirect(after(f"/citizens/{cid}", "placement.started_msg", done["read_token"]))


async def _placement_page(
    request: Request,
    session: Session,
    cid: str,
    pid: str,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    api = ui_of(request).api
    citizen = await api.get(
        "profiles", f"/v1/citizens/{cid}", session.token, params={"min_position": seen_of(request)}
    )
    placement = next(
        (p for p in citizen.get("placements", []) if p.get("placement_id") == pid), None
    )
    if placement is None:
        from services.ui.web import NotFoundPage

        raise NotFoundPage()
    today = dt.date.today()
    due = []
    if placement.get("status") != "ended" and placement.get("start_date"):
        due = open_follow_ups(placement, today + dt.timedelta(days=60))
    titles = await _titles(request, session, {placement.get("job_order_id") or ""} - {""})
    start = placement.get("start_date") or today.isoformat()
    first_day = max(today.isoformat(), start)  # a follow-up cannot predate the start
    defaults = {
        "date": first_day,
        "status": "on_track",
        "note": "",
        "end_date": first_day,
        "outcome": "",
    }
    return render(
        request,
        "placement.html",
        status=status,
        cid=cid,
        placement=placement,
        title=titles.get(placement.get("job_order_id") or "", placement.get("job_order_id")),
        due=due,
        today=today,
        errors=errors or {},
        error=error,
        values={**defaults, **(values or {})},
        status_options=[
            (s, translate(lang_of(request), f"followup.{s}")) for s in FOLLOW_UP_STATUSES
        ],
        outcome_options=[("", "–")]
        + [(o, translate(lang_of(request), f"outcome.{o}")) for o in OUTCOMES],
    )


@router.get("/citizens/{cid}/placements/{pid}", response_class=HTMLResponse)
async def placement_page(request: Request, session: Consultant, cid: str, pid: str) -> Response:
    return await _placement_page(request, session, _id(cid), _id(pid))


@router.post("/citizens/{cid}/placements/{pid}/follow-ups")
async def follow_up(request: Request, session: Consultant, cid: str, pid: str) -> Response:
    cid, pid = _id(cid), _id(pid)
    form = await form_of(request, session)
    lang = lang_of(request)
    problems: dict[str, str] = {}
    day = _date(form, "date", problems, lang)
    status = _text(form, "status", 20)
    if status not in FOLLOW_UP_STATUSES:
        problems["status"] = translate(lang, "invalid.required")
    note = _text(form, "note", 4000)
    values = {"date": _text(form, "date", 20), "status": status, "note": note}
    if problems:
        return await _placement_page(
            request, session, cid, pid, problems, translate(lang, "common.fix_errors"), values, 422
        )
    body = {"date": day, "status": status, "note": note or None}
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/placements/{pid}/follow-ups", session.token, json=body
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        explained = explain(exc, lang, {"date": "date", "status": "status", "note": "note"})
        return await _placement_page(
            request, session, cid, pid, explained.fields, explained.message, values, 422
        )
    return redirect(
        after(f"/citizens/{cid}/placements/{pid}", "placement.follow_up_msg", done["read_token"])
    )


@router.post("/citizens/{cid}/placements/{pid}/end")
async def end_placement(request: Request, session: Consultant, cid: str, pid: str) -> Response:
    cid, pid = _id(cid), _id(pid)
    form = await form_of(request, session)
    lang = lang_of(request)
    problems: dict[str, str] = {}
    day = _date(form, "end_date", problems, lang)
    outcome = _text(form, "outcome", 40)
    if outcome not in OUTCOMES:
        problems["outcome"] = translate(lang, "invalid.required")
    values = {"end_date": _text(form, "end_date", 20), "outcome": outcome}
    if problems:
        return await _placement_page(
            request, session, cid, pid, problems, translate(lang, "common.fix_errors"), values, 422
        )
    try:
        done = await ui_of(request).api.post(
            "events",
            f"/v1/placements/{pid}/end",
            session.token,
            json={"end_date": day, "outcome": outcome},
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        explained = explain(exc, lang, {"end_date": "end_date", "outcome": "outcome"})
        return await _placement_page(
            request, session, cid, pid, explained.fields, explained.message, values, 422
        )
    return redirect(
        after(f"/citizens/{cid}/placements/{pid}", "placement.ended_msg", done["read_token"])
    )


# -- KPIs ------------------------------------------------------------------------------------


@router.get("/kpis", response_class=HTMLResponse)
async def kpis(
    request: Request,
    session: Consultant,
    first: Annotated[str, Query(alias="from", max_length=7)] = "",
    last: Annotated[str, Query(alias="to", max_length=7)] = "",
) -> Response:
    from services.ui.kpis import charts_of

    lang = lang_of(request)
    errors: dict[str, str] = {}
    params: dict[str, str] = {}
    for name, value in (("from", first), ("to", last)):
        if value:
            if MONTH.match(value):
                params[name] = value
            else:
                errors[name] = translate(lang, "invalid.date")
    if "from" in params and "to" in params and params["from"] > params["to"]:
        errors["from"] = translate(lang, "invalid.range", low=params["from"], high=params["to"])
        params.pop("from")
    try:
        answer = await ui_of(request).api.get(
            "profiles", f"/v1/kpis/{session.municipality}", session.token, params=params
        )
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors["from"] = explain(exc, lang, {"from": "from", "to": "to"}).fields.get(
            "from", translate(lang, "api.422")
        )
        answer = await ui_of(request).api.get(
            "profiles", f"/v1/kpis/{session.municipality}", session.token
        )
    return render(
        request,
        "kpis.html",
        kpis=charts_of(answer["months"], lang),
        months=answer["months"],
        first=answer["from"],
        last=answer["to"],
        errors=errors,
        municipality=_municipality_name(session.municipality),
    )
