"""Job order rules through the HTTP API, against the real broker and Redis.

Fresh job order ids and fresh (valid modulus-11) CVRs in every test: the `events_api`
fixture is shared with other modules for the whole session.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from schemas.envelope import Event
from schemas.jobs import (
    EmployerRegistered,
    JobOrder,
    JobOrderClosed,
    JobOrderPosted,
    JobOrderUpdated,
)
from schemas.registry import REGISTRY
from schemas.topics import EMPLOYERS, JOB_ORDERS
from services.events.context import CommandContext
from tests.conftest import Issuer
from tests.integration.kafka_helpers import read_all, read_record

ORDERS = "/v1/job-orders"
WAREHOUSE_WORKER = "http://data.europa.eu/esco/occupation/bea705fe-06ac-4147-b8e0-6e8ac1208d8f"
KITCHEN_ASSISTANT = "http://data.europa.eu/esco/occupation/e1cf6897-158d-4b48-a39e-2a3a8cac216c"
OPERATE_FORKLIFT = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
UNKNOWN_OCCUPATION = "http://data.europa.eu/esco/occupation/00000000-0000-4000-8000-000000000000"
CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)


def is_valid_cvr(cvr: str) -> bool:
    return sum(int(d) * w for d, w in zip(cvr, CVR_WEIGHTS, strict=True)) % 11 == 0


def fresh_cvr() -> str:
    """A random 8-digit CVR whose check digit satisfies modulus 11."""
    while True:
        body = f"{random.randrange(10_000_000):07d}"
        check = -sum(int(d) * w for d, w in zip(body, CVR_WEIGHTS[:7], strict=True)) % 11
        if check < 10:
            cvr = body + str(check)
            assert is_valid_cvr(cvr)
            return cvr


def with_fresh_ids(doc: dict[str, Any]) -> dict[str, Any]:
    order = copy.deepcopy(doc)
    order["job_order_id"] = f"jo-r-{uuid.uuid4().hex[:12]}"
    order["employer"]["cvr"] = fresh_cvr()
    return order


def context(api: httpx.AsyncClient) -> CommandContext:
    transport = api._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    ctx: CommandContext = app.state.context
    return ctx


async def post(api: httpx.AsyncClient, order: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(ORDERS, json=order)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_event(broker: str, position: dict[str, Any]) -> Event:
    record = await read_record(broker, position["topic"], position["partition"], position["offset"])
    return REGISTRY.decode(record.value or b"")


async def order_events(broker: str, job_order_id: str) -> list[Event]:
    records = await read_all(broker, JOB_ORDERS.name, JOB_ORDERS.partitions)
    events = [REGISTRY.decode(r.value or b"") for r in records]
    return [e for e in events if e.aggregate_id == job_order_id]


# -- accepted orders and their links -------------------------------------------------------------


@pytest.mark.parametrize("name", ["lager", "kantine"])
async def test_example_orders_are_accepted(
    events_api: httpx.AsyncClient, broker: str, request: pytest.FixtureRequest, name: str
) -> None:
    order = with_fresh_ids(request.getfixturevalue(name))
    body = await post(events_api, order)
    assert (body["event_type"], body["version"]) == ("JobOrderPosted", 1)
    assert body["aggregate_id"] == order["job_order_id"]
    assert body["position"]["topic"] == JOB_ORDERS.name
    assert [e["event_type"] for e in body["events"]] == ["EmployerRegistered", "JobOrderPosted"]
    payload = (await stored_event(broker, body["position"])).payload_as(JobOrderPosted)
    assert payload.job_order_id == order["job_order_id"]
    expected = JobOrder.model_validate(order).model_dump(mode="json")
    assert payload.order.model_dump(mode="json") == expected
    n_skills = len(order["requirements"]["skills"])
    assert [link.path for link in payload.links] == ["title"] + [
        f"requirements.skills.{i}" for i in range(n_skills)
    ]
    texts = [order["title"]] + [s["label"] for s in order["requirements"]["skills"]]
    uris = [order.get("esco_occupation_uri")] + [
        s.get("esco_skill_uri") for s in order["requirements"]["skills"]
    ]
    for link, text, uri in zip(payload.links, texts, uris, strict=True):
        assert link.text == text
        if uri:
            assert (link.uri, link.source, link.confidence) == (uri, "given", 1.0)
        else:
            assert link.source in ("linked", "unlinked")
            assert (link.uri is not None) == (link.source == "linked")


async def test_lager_links_title_and_skills(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any], kantine: dict[str, Any]
) -> None:
    body = await post(events_api, with_fresh_ids(lager))
    payload = (await stored_event(broker, body["position"])).payload_as(JobOrderPosted)
    links = {link.path: link for link in payload.links}
    title = links["title"]
    assert (title.text, title.uri, title.source) == ("Lagermedarbejder", WAREHOUSE_WORKER, "given")
    assert title.confidence == 1.0
    truck = links["requirements.skills.0"]
    assert (truck.text, truck.uri, truck.source) == ("truckkørsel", OPERATE_FORKLIFT, "linked")
    assert 0.6 <= truck.confidence <= 1

    # A title without a URI is linked by the service.
    body = await post(events_api, with_fresh_ids(kantine))
    payload = (await stored_event(broker, body["position"])).payload_as(JobOrderPosted)
    title = next(link for link in payload.links if link.path == "title")
    assert (title.uri, title.source) == (KITCHEN_ASSISTANT, "linked")


# -- 422 naming the field -------------------------------------------------------------------------


def _bad_cvr() -> str:
    cvr = "12345678"
    assert not is_valid_cvr(cvr)
    return cvr


BAD_ORDERS: list[tuple[str, str, Any, str]] = [
    ("cvr-mod11", "employer.cvr", _bad_cvr(), "employer.cvr"),
    ("cvr-7-digits", "employer.cvr", "1234560", "employer.cvr"),
    ("programme", "programme", "fleksjob", "programme"),
    ("igu-2028", "start_date", "2028-01-03", "start_date"),
    ("deadline-after-start", "application_deadline", "2027-01-05", "application_deadline"),
    ("positions-0", "positions", 0, "positions"),
    ("worksite", "worksite.postal_code", "0000", "worksite.postal_code"),
    ("occupation", "esco_occupation_uri", UNKNOWN_OCCUPATION, "esco_occupation_uri"),
    ("municipality", "municipality_code", "0999", "municipality_code"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), [pytest.param(p, v, f, id=i) for i, p, v, f in BAD_ORDERS]
)
async def test_bad_order_is_422_naming_the_field(
    events_api: httpx.AsyncClient, lager: dict[str, Any], path: str, value: Any, field: str
) -> None:
    order = with_fresh_ids(lager)
    valid = copy.deepcopy(order)
    *parents, leaf = path.split(".")
    node = order
    for part in parents:
        node = node[part]
    node[leaf] = value
    response = await events_api.post(ORDERS, json=order)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [e["field"] for e in detail] == [field]
    if field == "start_date":
        assert "31 December 2027" in detail[0]["reason"]
    # Nothing was stored: the valid order with the same ids is its first version and
    # registers the employer (so the employer was not registered by the refused one).
    body = await post(events_api, valid)
    assert body["version"] == 1
    assert [e["event_type"] for e in body["events"]] == ["EmployerRegistered", "JobOrderPosted"]


async def test_igu_may_start_on_the_last_day(
    events_api: httpx.AsyncClient, lager: dict[str, Any]
) -> None:
    order = with_fresh_ids(lager)
    order["start_date"] = "2027-12-31"
    assert (await post(events_api, order))["version"] == 1
    other = with_fresh_ids(lager)
    other["programme"] = "ordinary"
    other["start_date"] = "2028-01-03"  # only IGU ends in 2027
    assert (await post(events_api, other))["version"] == 1


async def test_igu_update_to_2028_is_422(
    events_api: httpx.AsyncClient, lager: dict[str, Any]
) -> None:
    order = with_fresh_ids(lager)
    await post(events_api, order)
    order["start_date"] = "2028-01-03"
    url = f"{ORDERS}/{order['job_order_id']}"
    response = await events_api.put(url, json=order, headers={"If-Match": "1"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["start_date"]


# -- lifecycle -------------------------------------------------------------------------------------


async def test_order_lifecycle(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any], issuer: Issuer
) -> None:
    order = with_fresh_ids(lager)
    oid = order["job_order_id"]
    url = f"{ORDERS}/{oid}"
    await post(events_api, order)

    again = await events_api.post(ORDERS, json=order)
    assert again.status_code == 409

    order["positions"] = 3
    assert (await events_api.put(url, json=order)).status_code == 428
    updated = await events_api.put(url, json=order, headers={"If-Match": '"1"'})
    assert updated.status_code == 202, updated.text
    assert (updated.json()["event_type"], updated.json()["version"]) == ("JobOrderUpdated", 2)
    payload = (await stored_event(broker, updated.json()["position"])).payload_as(JobOrderUpdated)
    assert payload.order.positions == 3 and payload.version == 2

    stale = await events_api.put(url, json=order, headers={"If-Match": "1"})
    assert stale.status_code == 409

    moved = copy.deepcopy(order)
    moved["employer"]["cvr"] = fresh_cvr()
    response = await events_api.put(url, json=moved, headers={"If-Match": "2"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "employer.cvr"

    other_id = copy.deepcopy(order)
    other_id["job_order_id"] = f"jo-r-{uuid.uuid4().hex[:12]}"
    response = await events_api.put(url, json=other_id, headers={"If-Match": "2"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "job_order_id"

    early = await events_api.post(f"{url}/close", json={"reason": "expired"})
    assert early.status_code == 409  # the deadline has not passed
    assert "deadline" in early.json()["detail"][0]["reason"]

    closed = await events_api.post(
        f"{url}/close",
        json={"reason": "withdrawn"},
        headers=issuer.bearer("employer", "arbejdsgiver-1", cvr=order["employer"]["cvr"]),
    )
    assert closed.status_code == 202, closed.text
    assert closed.json()["event_type"] == "JobOrderClosed"
    event = await stored_event(broker, closed.json()["position"])
    assert event.payload_as(JobOrderClosed).reason == "withdrawn"
    assert (event.actor.role, event.actor.id) == ("employer", "arbejdsgiver-1")
    assert event.actor.cvr == order["employer"]["cvr"]

    twice = await events_api.post(f"{url}/close", json={"reason": "withdrawn"})
    assert twice.status_code == 409
    after_close = await events_api.put(url, json=order, headers={"If-Match": "2"})
    assert after_close.status_code == 409

    types = [e.event_type for e in await order_events(broker, oid)]
    assert types == ["JobOrderPosted", "JobOrderUpdated", "JobOrderClosed"]


async def test_unknown_order_is_404(events_api: httpx.AsyncClient, lager: dict[str, Any]) -> None:
    order = with_fresh_ids(lager)
    url = f"{ORDERS}/{order['job_order_id']}"
    assert (await events_api.post(f"{url}/close", json={})).status_code == 404
    put = await events_api.put(url, json=order, headers={"If-Match": "1"})
    assert put.status_code == 404
    bad_reason = await events_api.post(f"{url}/close", json={"reason": "filled"})
    assert bad_reason.status_code == 422


async def test_sweeper_expires_orders_past_their_deadline(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any]
) -> None:
    ctx = context(events_api)
    today = ctx.today()
    order = with_fresh_ids(lager)
    oid = order["job_order_id"]
    order["application_deadline"] = (today - dt.timedelta(days=1)).isoformat()
    order["start_date"] = (today + dt.timedelta(days=30)).isoformat()
    await post(events_api, order)

    # The background sweeper runs once a minute; call it now instead.
    expired = await ctx.expire_due()
    assert oid in expired
    assert oid not in await ctx.expire_due()

    [closed] = [e for e in await order_events(broker, oid) if e.event_type == "JobOrderClosed"]
    assert closed.payload_as(JobOrderClosed).reason == "expired"
    assert (closed.actor.role, closed.actor.id) == ("system", "deadline-sweeper")
    url = f"{ORDERS}/{oid}"
    assert (await events_api.post(f"{url}/close", json={})).status_code == 409


async def test_sweeper_leaves_orders_open_until_the_deadline_passed(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any]
) -> None:
    ctx = context(events_api)
    today = ctx.today()
    order = with_fresh_ids(lager)
    oid = order["job_order_id"]
    order["application_deadline"] = today.isoformat()  # applications are taken all day
    order["start_date"] = (today + dt.timedelta(days=30)).isoformat()
    await post(events_api, order)
    assert oid not in await ctx.expire_due()
    early = await events_api.post(f"{ORDERS}/{oid}/close", json={"reason": "expired"})
    assert early.status_code == 409
    withdrawn = await events_api.post(f"{ORDERS}/{oid}/close", json={"reason": "withdrawn"})
    assert withdrawn.status_code == 202
    # A closed order is no longer tracked: it is never expired afterwards.
    assert oid not in await ctx.handlers.store.due(today.toordinal() + 1000)


async def test_employer_is_registered_once_per_cvr(
    events_api: httpx.AsyncClient, broker: str, lager: dict[str, Any], kantine: dict[str, Any]
) -> None:
    first = with_fresh_ids(lager)
    second = with_fresh_ids(kantine)
    cvr = first["employer"]["cvr"]
    second["employer"]["cvr"] = cvr
    one = await post(events_api, first)
    two = await post(events_api, second)
    assert [e["event_type"] for e in one["events"]] == ["EmployerRegistered", "JobOrderPosted"]
    assert [e["event_type"] for e in two["events"]] == ["JobOrderPosted"]

    registered = await stored_event(broker, one["events"][0]["position"])
    payload = registered.payload_as(EmployerRegistered)
    assert (payload.cvr, payload.name) == (cvr, first["employer"]["name"])
    employers = [
        REGISTRY.decode(r.value or b"")
        for r in await read_all(broker, EMPLOYERS.name, EMPLOYERS.partitions)
    ]
    assert [e.aggregate_id for e in employers].count(cvr) == 1


async def test_cvr_in_non_ascii_digits_is_422(
    events_api: httpx.AsyncClient, lager: dict[str, Any]
) -> None:
    order = with_fresh_ids(lager)
    ascii_cvr = order["employer"]["cvr"]
    order["employer"]["cvr"] = ascii_cvr.translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    response = await events_api.post(ORDERS, json=order)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["detail"]] == ["employer.cvr"]
