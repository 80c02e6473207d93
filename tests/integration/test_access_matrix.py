"""Who may call what: every route of the events and profiles services, from their route
tables, against every kind of caller.

Rows are keyed by (method, path) as the route table names them; a route that has no row, or
no access rule, fails `test_every_route_has_an_access_rule_and_a_row`. Each row gives the
expected status for each kind of caller on an object of the callers' own tenant (Aarhus,
0751, and the order's employer) and for callers of another tenant (Copenhagen, 0101, and
another employer). Tokens that are missing, expired, for another audience or wrongly
signed get 401 on every route.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from redis.asyncio import Redis

from services.auth.principal import SCOPES
from tests.conftest import Issuer
from tests.integration.workflow_helpers import PLACEMENT, Case, letters, until

OWN, OTHER = "0751", "0101"
OTHER_CVR = "87654303"
CALLERS = (
    "consultant",
    "consultant_other",
    "employer",
    "employer_other",
    "administrator",
    "system",
    "system_other",
    "system_ungranted",
)
OPEN = {"/health", "/ready", "/docs", "/docs/static/{name}", "/openapi.json"}


def tokens(issuer: Issuer, cvr: str) -> dict[str, dict[str, str]]:
    return {
        "consultant": issuer.bearer("consultant", "kons-aarhus", municipality=OWN),
        "consultant_other": issuer.bearer("consultant", "kons-kbh", municipality=OTHER),
        "employer": issuer.bearer("employer", "arbejdsgiver-1", cvr=cvr),
        "employer_other": issuer.bearer("employer", "arbejdsgiver-2", cvr=OTHER_CVR),
        "administrator": issuer.bearer("administrator", "admin-1"),
        "system": issuer.bearer("system", "downstream-x", scopes=SCOPES),
        "system_other": issuer.bearer("system", "downstream-k", scopes=SCOPES, municipality=OTHER),
        "system_ungranted": issuer.bearer("system", "downstream-y"),
    }


def expect(default: int, **statuses: int) -> dict[str, int]:
    """Every caller gets `default` except those named."""
    unknown = set(statuses) - set(CALLERS)
    assert not unknown, unknown
    return {caller: statuses.get(caller, default) for caller in CALLERS}


Fresh = Callable[[str | None], Awaitable[Case]]
Prepared = tuple[str, dict[str, Any] | None, dict[str, str]]


@dataclass(frozen=True)
class Row:
    statuses: dict[str, int]
    # Builds the request on a fresh object of the own tenant (a new one per allowed call).
    prepare: Callable[[Fresh, dict[str, Any], dict[str, Any]], Awaitable[Prepared]]


def _card(card: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(card), "citizen_id": f"cit-{letters()}", "municipality_code": OWN}


def _order(order: dict[str, Any], cvr: str) -> dict[str, Any]:
    fresh = {**copy.deepcopy(order), "job_order_id": f"jo-{letters()}", "municipality_code": OWN}
    fresh["employer"]["cvr"] = cvr
    return fresh


async def new_card(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    return "/v1/competence-cards", _card(card), {}


async def update_card(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    case = await fresh(None)
    body = {**copy.deepcopy(card), "citizen_id": case.cid, "municipality_code": OWN}
    return f"/v1/competence-cards/{case.cid}", body, {"If-Match": '"1"'}


def on_citizen(suffix: str, body: dict[str, Any] | None, stage: str | None = None) -> Any:
    async def prepare(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
        case = await fresh(stage)
        return f"/v1/citizens/{case.cid}/{suffix}", body, {}

    return prepare


async def new_order(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    return "/v1/job-orders", _order(order, Case.cvr), {}


async def update_order(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    case = await fresh(None)
    body = _order(order, case.cvr) | {"job_order_id": case.oid}
    return f"/v1/job-orders/{case.oid}", body, {"If-Match": '"1"'}


async def close_order(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    case = await fresh(None)
    return f"/v1/job-orders/{case.oid}/close", {"reason": "withdrawn"}, {}


def on_suggestion(verb: str, body: dict[str, Any] | None, stage: str | None) -> Any:
    async def prepare(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
        case = await fresh(stage)
        return f"/v1/suggestions/{case.sid}/{verb}", body, {}

    return prepare


async def start_placement(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    case = await fresh("hired")
    return "/v1/placements", PLACEMENT | {"suggestion_id": case.sid}, {}


def on_placement(suffix: str, body: dict[str, Any]) -> Any:
    async def prepare(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
        from services.events.commands import placement_id_for

        case = await fresh("placed")
        return f"/v1/placements/{placement_id_for(case.sid)}/{suffix}", body, {}

    return prepare


async def taxonomy(fresh: Fresh, card: dict[str, Any], order: dict[str, Any]) -> Prepared:
    return "/v1/taxonomy/occupations?q=lager", None, {}


DENIED = 403
CONSULTANT_ONLY = expect(DENIED, consultant=202, consultant_other=404)
# Bodies that name another tenant are refused as such (403), whatever exists.
EVENTS: dict[tuple[str, str], Row] = {
    ("POST", "/v1/competence-cards"): Row(expect(DENIED, consultant=202), new_card),
    ("PUT", "/v1/competence-cards/{citizen_id}"): Row(expect(DENIED, consultant=202), update_card),
    ("POST", "/v1/citizens/{citizen_id}/availability"): Row(
        CONSULTANT_ONLY, on_citizen("availability", {"available": False})
    ),
    ("POST", "/v1/citizens/{citizen_id}/consents"): Row(
        CONSULTANT_ONLY, on_citizen("consents", {"scope": "all"})
    ),
    ("DELETE", "/v1/citizens/{citizen_id}/consents/{consent_id}"): Row(
        CONSULTANT_ONLY, on_citizen("consents/all-1", None, "consented")
    ),
    ("POST", "/v1/citizens/{citizen_id}/erasure"): Row(
        CONSULTANT_ONLY, on_citizen("erasure", {"reason": "citizen asked"})
    ),
    ("POST", "/v1/job-orders"): Row(expect(DENIED, consultant=202, employer=202), new_order),
    ("PUT", "/v1/job-orders/{job_order_id}"): Row(
        expect(DENIED, consultant=202, employer=202), update_order
    ),
    ("POST", "/v1/job-orders/{job_order_id}/close"): Row(
        expect(DENIED, consultant=202, consultant_other=404, employer=202, employer_other=404),
        close_order,
    ),
    ("POST", "/v1/suggestions/{suggestion_id}/accept"): Row(
        CONSULTANT_ONLY, on_suggestion("accept", None, None)
    ),
    ("POST", "/v1/suggestions/{suggestion_id}/reject"): Row(
        CONSULTANT_ONLY, on_suggestion("reject", {"reason_code": "transport"}, None)
    ),
    ("POST", "/v1/suggestions/{suggestion_id}/present"): Row(
        CONSULTANT_ONLY, on_suggestion("present", None, "accepted")
    ),
    ("POST", "/v1/suggestions/{suggestion_id}/employer-decision"): Row(
        expect(DENIED, consultant=202, consultant_other=404, employer=202, employer_other=404),
        on_suggestion("employer-decision", {"decision": "interview"}, "presented"),
    ),
    ("POST", "/v1/placements"): Row(CONSULTANT_ONLY, start_placement),
    ("POST", "/v1/placements/{placement_id}/follow-ups"): Row(
        CONSULTANT_ONLY, on_placement("follow-ups", {"date": "2027-02-04", "status": "on_track"})
    ),
    ("POST", "/v1/placements/{placement_id}/end"): Row(
        CONSULTANT_ONLY, on_placement("end", {"end_date": "2027-03-01", "outcome": "education"})
    ),
    ("GET", "/v1/taxonomy/occupations"): Row(expect(200), taxonomy),
}

# Reads, on one world that went all the way to a placement.
MUNICIPAL_READ = expect(DENIED, consultant=200, consultant_other=404, system=200, system_other=404)
EMPLOYER_READ = expect(DENIED, employer=200, employer_other=404, system=200, system_other=200)
PROFILES: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/v1/job-orders/{job_order_id}"): MUNICIPAL_READ,
    ("GET", "/v1/job-orders/{job_order_id}/suggestions"): MUNICIPAL_READ,
    ("GET", "/v1/job-orders/{job_order_id}/timeline"): MUNICIPAL_READ,
    ("GET", "/v1/citizens/{citizen_id}"): MUNICIPAL_READ,
    ("GET", "/v1/citizens/{citizen_id}/timeline"): MUNICIPAL_READ,
    ("GET", "/v1/citizens/{citizen_id}/access-log"): expect(
        DENIED, consultant=200, consultant_other=404
    ),
    ("GET", "/v1/worklists/{municipality_code}"): MUNICIPAL_READ,
    ("GET", "/v1/worklists/{municipality_code}/follow-ups"): MUNICIPAL_READ,
    ("GET", "/v1/worklists/{municipality_code}/counts"): MUNICIPAL_READ,
    ("GET", "/v1/kpis/{municipality_code}"): MUNICIPAL_READ | {"administrator": 200},
    ("GET", "/v1/employers/{cvr}"): EMPLOYER_READ,
    ("GET", "/v1/employers/{cvr}/candidates"): EMPLOYER_READ,
    ("GET", "/v1/reports"): expect(DENIED, administrator=200, system=200, system_other=200),
    ("GET", "/v1/projections/status"): expect(DENIED, administrator=200),
}


def operations(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> the OpenAPI operation, for every documented route."""
    return {
        (method.upper(), path): op
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
    }


def test_every_route_has_an_access_rule_and_a_row(
    events_app: FastAPI, profiles_app: FastAPI
) -> None:
    """The bearer scheme appears on an operation only through an `Access` rule."""
    for app, rows in ((events_app, set(EVENTS)), (profiles_app, set(PROFILES))):
        ops = operations(app)
        for (method, path), op in ops.items():
            if path in OPEN:
                assert "security" not in op, path
                continue
            assert op.get("security") == [{"HTTPBearer": []}], f"{path} has no access rule"
            assert (method, path) in rows, f"no matrix row for {method} {path}"
        assert rows <= set(ops), f"rows for routes that do not exist: {rows - set(ops)}"


def _paths(app: FastAPI) -> list[tuple[str, str]]:
    return [key for key in operations(app) if key[1] not in OPEN]


def _filled(path: str) -> str:
    return path.replace("{", "x-").replace("}", "")


def bad_tokens(issuer: Issuer) -> dict[str, dict[str, str]]:
    good = issuer.token("consultant", "kons-aarhus", municipality=OWN)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(good, options={"verify_signature": False})
    header = jwt.get_unverified_header(good)
    forged = jwt.encode(claims, stranger, "RS256", headers={"kid": header["kid"], "typ": "at+jwt"})
    return {
        "none": {},
        "expired": issuer.bearer("consultant", municipality=OWN, minutes=-5),
        "wrong_audience": issuer.bearer("consultant", municipality=OWN, audiences=["other-app"]),
        "wrong_signature": {"Authorization": f"Bearer {forged}"},
    }


@pytest.mark.parametrize("service", ["events", "profiles"])
async def test_no_valid_token_is_401_on_every_route(
    service: str, events_app: FastAPI, profiles_app: FastAPI, issuer: Issuer
) -> None:
    app = events_app if service == "events" else profiles_app
    variants = bad_tokens(issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        for method, path in _paths(app):
            for name, headers in variants.items():
                body: dict[str, Any] | None = {} if method != "GET" else None
                response = await c.request(method, _filled(path), headers=headers, json=body)
                assert response.status_code == 401, (method, path, name, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_open_routes_need_no_token(events_app: FastAPI, profiles_app: FastAPI) -> None:
    for app in (events_app, profiles_app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as c:
            for path in ("/health", "/ready", "/docs", "/openapi.json"):
                r = await c.get(path)
                for _ in range(300):  # /ready once the views have caught up with the log
                    if path != "/ready" or r.status_code != 503:
                        break
                    await asyncio.sleep(0.1)
                    r = await c.get(path)
                assert r.status_code == 200, (path, r.text)
            assert (await c.get("/docs/static/swagger-ui-bundle.js")).status_code == 200
            assert (await c.get("/docs/static/..%2Fdocs.py")).status_code == 404


@pytest.fixture
def fresh_cases(
    events_api: httpx.AsyncClient,
    broker: str,
    redis: Redis,
    issuer: Issuer,
    amina: dict[str, Any],
    lager: dict[str, Any],
) -> Fresh:
    async def make(stage: str | None) -> Case:
        case = Case(events_api, broker, redis, issuer)
        await case.setup(amina, lager)
        if stage:
            await case.advance(stage)
        return case

    return make


@pytest.mark.parametrize("route", sorted(EVENTS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_commands_by_caller_and_tenant(
    route: tuple[str, str],
    events_api: httpx.AsyncClient,
    issuer: Issuer,
    fresh_cases: Fresh,
    amina: dict[str, Any],
    lager: dict[str, Any],
) -> None:
    row = EVENTS[route]
    method = route[0]
    who = tokens(issuer, Case.cvr)
    shared: Prepared | None = None  # refused calls change nothing: they share one object
    got = {}
    for caller in CALLERS:
        if row.statuses[caller] in (200, 202):
            url, body, extra = await row.prepare(fresh_cases, amina, lager)
        else:
            shared = shared or await row.prepare(fresh_cases, amina, lager)
            url, body, extra = shared
        response = await events_api.request(
            method, url, json=body, headers={**who[caller], **extra}
        )
        got[caller] = response.status_code
    assert got == row.statuses


async def test_queries_by_caller_and_tenant(
    profiles_app: FastAPI, issuer: Issuer, fresh_cases: Fresh
) -> None:
    case = await fresh_cases("placed")
    who = tokens(issuer, case.cvr)
    ids = {
        "job_order_id": case.oid,
        "citizen_id": case.cid,
        "municipality_code": OWN,
        "cvr": case.cvr,
    }
    transport = httpx.ASGITransport(app=profiles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:

        async def projected() -> bool:
            url = f"/v1/employers/{case.cvr}/candidates?job_order_id={case.oid}"
            response = await client.get(url, headers=who["employer"])
            return response.status_code == 200 and response.json()["total"] == 1

        await until(projected, "the profiles views to show the placement", timeout=20)
        for (method, path), statuses in PROFILES.items():
            url = path.format(**ids)
            got = {
                c: (await client.request(method, url, headers=who[c])).status_code for c in CALLERS
            }
            assert got == statuses, path
        # A refusal and a missing object look the same.
        missing = await client.get(
            f"/v1/job-orders/jo-{uuid.uuid4().hex[:8]}", headers=who["consultant"]
        )
        hidden = await client.get(f"/v1/job-orders/{case.oid}", headers=who["consultant_other"])
        assert missing.status_code == hidden.status_code == 404
        assert missing.json()["detail"].replace(missing.url.path.rsplit("/", 1)[-1], "X") == (
            hidden.json()["detail"].replace(case.oid, "X")
        )


async def test_every_refusal_is_logged_with_actor_route_and_reason(
    events_api: httpx.AsyncClient,
    profiles_app: FastAPI,
    issuer: Issuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="services.auth.refusals")
    employer = issuer.bearer("employer", "arbejdsgiver-9", cvr=OTHER_CVR)
    kbh = issuer.bearer("consultant", "kons-kbh", municipality=OTHER)
    await events_api.post("/v1/suggestions/s-1/accept", headers={"Authorization": ""})
    await events_api.post("/v1/suggestions/s-1/accept", headers=employer)
    transport = httpx.ASGITransport(app=profiles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
        await client.get(f"/v1/worklists/{OWN}", headers=kbh)
    refusals = [
        (r.status, r.route, r.actor, r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "services.auth.refusals"
    ]
    assert refusals[0][:3] == (401, "POST /v1/suggestions/s-1/accept", "anonymous")
    assert refusals[1] == (
        403,
        "POST /v1/suggestions/{suggestion_id}/accept",
        f"employer:arbejdsgiver-9@{OTHER_CVR}",
        "the role employer may not do this",
    )
    assert refusals[2] == (
        404,
        "GET /v1/worklists/{municipality_code}",
        f"consultant:kons-kbh@{OTHER}",
        f"municipality {OWN} is outside the caller's tenant",
    )


async def test_a_command_on_another_tenants_object_is_logged_as_refused(
    issuer: Issuer,
    fresh_cases: Fresh,
    events_api: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = await fresh_cases(None)
    caplog.set_level("WARNING", logger="services.auth.refusals")
    kbh = issuer.bearer("consultant", "kons-kbh", municipality=OTHER)
    hidden = await events_api.post(f"/v1/suggestions/{case.sid}/accept", headers=kbh)
    missing = await events_api.post("/v1/suggestions/s-nowhere/accept", headers=kbh)
    assert hidden.status_code == missing.status_code == 404
    refusals = [r for r in caplog.records if r.name == "services.auth.refusals"]
    assert [(r.status, r.actor, r.reason) for r in refusals] == [  # type: ignore[attr-defined]
        (
            404,
            f"consultant:kons-kbh@{OTHER}",
            f"suggestion {case.sid} is outside the caller's tenant",
        )
    ]
