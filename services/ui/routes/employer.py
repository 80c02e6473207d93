"""The employer's pages: own job orders (post, edit, withdraw) and presented candidates."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.ui.errors import ApiError, explain
from services.ui.i18n import translate
from services.ui.routes.consultant import PROGRAMMES, _date, _float, _id, _text
from services.ui.session import Session
from services.ui.web import (
    NotFoundPage,
    after,
    form_of,
    lang_of,
    redirect,
    render,
    require,
    seen_of,
    ui_of,
)

router = APIRouter(prefix="/employer")
Employer = Annotated[Session, Depends(require("employer"))]
CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")
DECISIONS = ("interview", "hired", "declined")
# API field -> form field, for messages next to the field.
ALIASES = {
    "employer.name": "name",
    "employer": "name",
    "title": "title",
    "description": "description",
    "programme": "programme",
    "positions": "positions",
    "worksite.postal_code": "postal_code",
    "worksite": "postal_code",
    "municipality_code": "postal_code",
    "hours_per_week": "hours_per_week",
    "start_date": "start_date",
    "application_deadline": "application_deadline",
    "requirements.danish_min_cefr": "danish_min_cefr",
    "requirements.driving_licences": "driving_licences",
    "requirements.certificates": "certificates",
    "requirements.skills": "skills_must",
    "esco_occupation_uri": "title",
}
FIELDS = (
    "name", "title", "description", "programme", "positions", "postal_code", "hours_per_week",
    "start_date", "application_deadline", "danish_min_cefr", "driving_licences", "certificates",
    "skills_must", "skills_nice", "mentor_available",
)  # fmt: skip


async def _employer(
    request: Request, session: Session, job_order_id: str | None = None
) -> dict[str, Any]:
    """The employer's name and job orders: their summaries (the lists show nothing else), or
    only the order `job_order_id` with the order as posted (the edit form's values)."""
    params: dict[str, Any] = {"min_position": seen_of(request)}
    if job_order_id is None:
        params["include_order"] = "false"
    else:
        params["job_order_id"] = job_order_id
    try:
        doc: dict[str, Any] = await ui_of(request).api.get(
            "profiles", f"/v1/employers/{session.cvr}", session.token, params=params
        )
    except ApiError as exc:
        if exc.status != 404:
            raise
        return {"cvr": session.cvr, "name": None, "job_orders": []}
    return doc


@router.get("/orders", response_class=HTMLResponse)
async def orders(request: Request, session: Employer) -> Response:
    employer = await _employer(request, session)
    return render(request, "employer_orders.html", employer=employer)


def _values_of(order: dict[str, Any], name: str | None) -> dict[str, str]:
    req = order.get("requirements", {})
    skills = req.get("skills", [])
    return {
        "name": order.get("employer", {}).get("name") or name or "",
        "title": order.get("title", ""),
        "description": order.get("description") or "",
        "programme": order.get("programme", "ordinary"),
        "positions": str(order.get("positions", 1)),
        "postal_code": order.get("worksite", {}).get("postal_code", ""),
        "hours_per_week": f"{order.get('hours_per_week', 37):g}",
        "start_date": order.get("start_date") or "",
        "application_deadline": order.get("application_deadline") or "",
        "danish_min_cefr": req.get("danish_min_cefr") or "",
        "driving_licences": ", ".join(req.get("driving_licences", [])),
        "certificates": ", ".join(req.get("certificates", [])),
        "skills_must": "\n".join(s["label"] for s in skills if s.get("must")),
        "skills_nice": "\n".join(s["label"] for s in skills if not s.get("must")),
        "mentor_available": "on" if order.get("mentor_available") else "",
    }


def _form_page(
    request: Request,
    values: dict[str, str],
    order_id: str | None,
    version: int | None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "employer_order_form.html",
        status=status,
        values=values,
        order_id=order_id,
        version=version,
        errors=errors or {},
        error=error,
        programme_options=[(p, translate(lang_of(request), f"programme.{p}")) for p in PROGRAMMES],
        cefr_options=[(c, c) for c in CEFR],
    )


@router.get("/orders/new", response_class=HTMLResponse)
async def new_order(request: Request, session: Employer) -> Response:
    employer = await _employer(request, session)
    values = _values_of({}, employer.get("name"))
    return _form_page(request, values, None, None)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _order_from(
    form: FormData, session: Session, order_id: str, lang: str
) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, str]]:
    """The job order document the API takes, or the problems found before sending it."""
    from services.reference.geo import load_geo

    values = {name: _text(form, name, 8000) for name in FIELDS}
    problems: dict[str, str] = {}
    for name in ("name", "title", "postal_code"):
        if not values[name]:
            problems[name] = translate(lang, "invalid.required")
    if values["programme"] not in PROGRAMMES:
        problems["programme"] = translate(lang, "invalid.required")
    positions = _float(form, "positions", 1, 500, problems, lang)
    hours = _float(form, "hours_per_week", 1, 60, problems, lang)
    start = _date(form, "start_date", problems, lang, required=False)
    deadline = _date(form, "application_deadline", problems, lang, required=False)
    postal = load_geo().postal(values["postal_code"]) if values["postal_code"] else None
    if values["postal_code"] and postal is None:
        problems["postal_code"] = translate(lang, "invalid.postal")
    if values["danish_min_cefr"] and values["danish_min_cefr"] not in CEFR:
        problems["danish_min_cefr"] = translate(lang, "invalid.required")
    if problems or postal is None or positions is None or hours is None:
        return None, values, problems
    skills = [{"label": s, "must": True} for s in _split(values["skills_must"])]
    skills += [{"label": s, "must": False} for s in _split(values["skills_nice"])]
    order = {
        "job_order_id": order_id,
        "employer": {"cvr": session.cvr, "name": values["name"]},
        "municipality_code": postal.municipality_code,
        "title": values["title"],
        "description": values["description"] or None,
        "programme": values["programme"],
        "positions": int(positions),
        "worksite": {"postal_code": postal.postal_code},
        "hours_per_week": hours,
        "start_date": start,
        "application_deadline": deadline,
        "requirements": {
            "danish_min_cefr": values["danish_min_cefr"] or None,
            "driving_licences": [d.upper() for d in _split(values["driving_licences"])],
            "certificates": _split(values["certificates"]),
            "skills": skills,
        },
        "mentor_available": bool(values["mentor_available"]),
    }
    return order, values, problems


async def _esco_uri(request: Request, session: Session, title: str, lang: str) -> str | None:
    """The ESCO occupation whose label is the title picked from the list, if it is one."""
    try:
        answer = await ui_of(request).api.get(
            "events", "/v1/taxonomy/occupations", session.token,
            params={"q": title, "lang": lang, "limit": 10},
        )  # fmt: skip
    except ApiError:
        return None
    for result in answer.get("results", []):
        if str(result.get("label", "")).casefold() == title.casefold():
            return str(result["uri"])
    return None


@router.post("/orders")
async def post_order(request: Request, session: Employer) -> Response:
    form = await form_of(request, session)
    lang = lang_of(request)
    order_id = f"jo-{uuid.uuid4().hex[:16]}"
    order, values, problems = _order_from(form, session, order_id, lang)
    if order is None:
        return _form_page(
            request, values, None, None, problems, translate(lang, "common.fix_errors"), 422
        )
    order["esco_occupation_uri"] = await _esco_uri(request, session, values["title"], lang)
    try:
        done = await ui_of(request).api.post("events", "/v1/job-orders", session.token, json=order)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        explained = explain(exc, lang, ALIASES)
        return _form_page(request, values, None, None, explained.fields, explained.message, 422)
    return redirect(after("/employer/orders", "employer.posted_msg", done["read_token"]))


async def _own_order(request: Request, session: Session, oid: str) -> dict[str, Any]:
    employer = await _employer(request, session, job_order_id=oid)
    found = next((o for o in employer["job_orders"] if o["job_order_id"] == oid), None)
    if found is None:
        raise NotFoundPage()
    return found


@router.get("/orders/{oid}/edit", response_class=HTMLResponse)
async def edit_order(request: Request, session: Employer, oid: str) -> Response:
    found = await _own_order(request, session, _id(oid))
    order = found.get("order") or {"title": found.get("title"), "programme": found.get("programme")}
    return _form_page(request, _values_of(order, None), oid, found.get("version"))


@router.post("/orders/{oid}")
async def update_order(request: Request, session: Employer, oid: str) -> Response:
    oid = _id(oid)
    form = await form_of(request, session)
    lang = lang_of(request)
    version = _text(form, "version", 10)
    order, values, problems = _order_from(form, session, oid, lang)
    number = int(version) if version.isdigit() else None
    if order is None:
        return _form_page(
            request, values, oid, number, problems, translate(lang, "common.fix_errors"), 422
        )
    order["esco_occupation_uri"] = await _esco_uri(request, session, values["title"], lang)
    try:
        done = await ui_of(request).api.put(
            "events", f"/v1/job-orders/{oid}", session.token, json=order,
            headers={"If-Match": f'"{version}"'} if number is not None else {},
        )  # fmt: skip
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        explained = explain(exc, lang, ALIASES)
        return _form_page(request, values, oid, number, explained.fields, explained.message, 422)
    return redirect(after("/employer/orders", "employer.updated_msg", done["read_token"]))


@router.post("/orders/{oid}/withdraw")
async def withdraw(request: Request, session: Employer, oid: str) -> Response:
    oid = _id(oid)
    await form_of(request, session)
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/job-orders/{oid}/close", session.token, json={"reason": "withdrawn"}
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        employer = await _employer(request, session)
        message = explain(exc, lang_of(request)).message
        return render(request, "employer_orders.html", status=409, employer=employer, error=message)
    return redirect(after("/employer/orders", "employer.withdrawn_msg", done["read_token"]))


async def _candidates_page(
    request: Request, session: Session, order: str, error: str | None = None, status: int = 200
) -> Response:
    api = ui_of(request).api
    seen = seen_of(request)
    employer = await _employer(request, session)
    params = {"job_order_id": order or None, "limit": 100, "min_position": seen}
    try:
        answer = await api.get(
            "profiles", f"/v1/employers/{session.cvr}/candidates", session.token, params=params
        )
        candidates = answer.get("candidates", [])
    except ApiError as exc:
        if exc.status != 404:
            raise
        candidates = []
    titles = {
        o["job_order_id"]: o.get("title") or o["job_order_id"] for o in employer["job_orders"]
    }
    return render(
        request,
        "employer_candidates.html",
        status=status,
        candidates=candidates,
        titles=titles,
        order=order,
        decisions=DECISIONS,
        error=error,
    )


@router.get("/candidates", response_class=HTMLResponse)
async def candidates(
    request: Request, session: Employer, order: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    return await _candidates_page(request, session, order)


@router.post("/candidates/decision")
async def decide(request: Request, session: Employer) -> Response:
    form = await form_of(request, session)
    sid = _id(_text(form, "suggestion_id", 64))
    decision = _text(form, "decision", 20)
    order = _text(form, "order", 64)
    lang = lang_of(request)
    if decision not in DECISIONS:
        return await _candidates_page(
            request, session, order, translate(lang, "invalid.required"), 422
        )
    body = {"decision": decision, "reason": _text(form, "reason", 1000) or None}
    try:
        done = await ui_of(request).api.post(
            "events", f"/v1/suggestions/{sid}/employer-decision", session.token, json=body
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _candidates_page(request, session, order, explain(exc, lang).message, 409)
    return redirect(
        after("/employer/candidates", "employer.decision_msg", done["read_token"], order=order)
    )
