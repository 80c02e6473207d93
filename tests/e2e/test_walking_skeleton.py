"""The contract examples through the running system: events API in, profiles API out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from schemas.citizens import DEFAULT_SHARED_FIELDS
from schemas.topics import DEAD_LETTER, JOB_ORDERS
from services.common.kafka import make_producer
from services.demo import example_documents
from services.matching.domain.pair_features import FEATURES
from services.matching.model.registry import SHIPPED, Registry
from services.stack import Stack
from tests.e2e.signin import User, consultant, employer
from tests.integration.kafka_helpers import read_all

LOGISTIK = "12345607"  # the employer of jo-4410-aarhus-lager


def _poll(user: User, url: str, ok: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = user.get(url, timeout=2)
        if response.status_code == 200:
            last = response.json()
            if ok(last):
                return last
        time.sleep(0.1)
    raise AssertionError(f"{url} did not reach the expected state in {timeout}s: {last}")


def _ids(doc: dict[str, Any]) -> list[str]:
    return [s["citizen_id"] for s in doc["suggestions"]]


def test_examples_give_the_expected_suggestions(stack: Stack) -> None:
    events, profiles = stack.urls["events"], stack.urls["profiles"]
    aarhus = consultant(stack)
    cards, orders = example_documents()
    for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
        for doc in docs:
            assert aarhus.post(events + path, json=doc, timeout=10).status_code == 202
    posted = time.monotonic()

    lager = _poll(
        aarhus,
        f"{profiles}/v1/job-orders/jo-4410-aarhus-lager/suggestions",
        lambda d: bool(d["suggestions"]),
    )
    kantine = _poll(
        aarhus,
        f"{profiles}/v1/job-orders/jo-4411-aarhus-kantine/suggestions",
        lambda d: bool(d["suggestions"]),
    )
    assert time.monotonic() - posted < 10
    assert _ids(lager)[0] == "cit-7f3a9c2e"
    assert not {"cit-2b8e41d0", "cit-c91d7a55"} & set(_ids(lager))
    assert "cit-2b8e41d0" in _ids(kantine)
    assert "cit-7f3a9c2e" not in _ids(kantine) and "cit-c91d7a55" not in _ids(kantine)

    top = lager["suggestions"][0]
    shipped = Registry(SHIPPED).newest_approved()
    assert shipped is not None and shipped.metadata["training_data"] == "synthetic"
    assert 0 < top["score"] <= 1 and top["rank"] == 1
    assert top["model_version"] == shipped.version
    assert top["reasons"] and {r["code"] for r in top["reasons"]} <= set(FEATURES)
    texts = {r["code"]: r["text_en"] for r in top["reasons"]}
    assert texts["distance_ratio"] == "7 km from home"
    health = httpx.get(f"{stack.urls['matching']}/health", timeout=5).json()
    assert "SYNTHETIC" in health["model"]["note"]
    assert top["eligibility"] == {"programme": "IGU", "eligible": True, "reasons": ["igu_eligible"]}

    citizen = aarhus.get(f"{profiles}/v1/citizens/cit-7f3a9c2e", timeout=5).json()
    assert citizen["card"]["certificates"] == ["truckcertifikat"]
    assert [s["job_order_id"] for s in citizen["suggestions"]] == ["jo-4410-aarhus-lager"]
    eligible = {e["programme"]: e["eligible"] for e in citizen["eligibility"]}
    assert eligible["IGU"] is True and eligible["virksomhedspraktik"] is True
    sources = {link["path"]: link["source"] for link in citizen["links"]}
    assert sources["experience.1"] == "given" and sources["experience.0"] == "linked"
    order = aarhus.get(f"{profiles}/v1/job-orders/jo-4410-aarhus-lager", timeout=5).json()
    assert order["status"] == "open" and order["order"]["programme"] == "IGU"


def test_unknown_ids_are_404(stack: Stack) -> None:
    profiles = stack.urls["profiles"]
    aarhus = consultant(stack)
    for path in (
        "/v1/citizens/cit-nobody",
        "/v1/job-orders/jo-none",
        "/v1/job-orders/jo-none/suggestions",
    ):
        response = aarhus.get(profiles + path, timeout=5)
        assert response.status_code == 404
        assert "not found" in response.json()["detail"]


def test_every_service_is_healthy_and_ready(stack: Stack) -> None:
    for name, url in stack.urls.items():
        assert httpx.get(f"{url}/health", timeout=5).json()["status"] == "ok", name
        ready = httpx.get(f"{url}/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["broker"] is True, name
        assert ready.json()["signing_keys"] is True, name


# The events service reads the job orders too: it decides on their projection.
EVERY_CONSUMER = {b"events", b"matching", b"profiles"}


def test_malformed_event_is_dead_lettered_by_every_consumer(stack: Stack) -> None:
    assert stack.bootstrap
    bad = b'{"event_type": "JobOrderPosted", "schema_version": 1, "payload": {"order": 42}}'

    async def produce_and_read() -> set[bytes]:
        producer = make_producer(stack.bootstrap or "")
        await producer.start()
        try:
            await producer.send_and_wait(JOB_ORDERS.name, bad, key=b"jo-broken")
        finally:
            await producer.stop()
        consumers: set[bytes] = set()
        deadline = time.monotonic() + 15
        while consumers != EVERY_CONSUMER and time.monotonic() < deadline:
            records = await read_all(stack.bootstrap or "", DEAD_LETTER.name, 1, timeout=1)
            consumers = {dict(r.headers)["dlq_consumer"] for r in records if r.key == b"jo-broken"}
        return consumers

    assert asyncio.run(produce_and_read()) == EVERY_CONSUMER
    # Every consumer carries on: the example order is still served, the broken one is not.
    profiles = stack.urls["profiles"]
    aarhus = consultant(stack)
    assert aarhus.get(f"{profiles}/v1/job-orders/jo-broken", timeout=5).status_code == 404
    assert (
        aarhus.get(f"{profiles}/v1/job-orders/jo-4410-aarhus-lager", timeout=5).status_code == 200
    )
    assert httpx.get(f"{stack.urls['matching']}/ready", timeout=5).status_code == 200


def test_consultant_accepts_and_presents_a_real_suggestion(stack: Stack) -> None:
    events, profiles = stack.urls["events"], stack.urls["profiles"]
    aarhus = consultant(stack)
    lager = _poll(
        aarhus,
        f"{profiles}/v1/job-orders/jo-4410-aarhus-lager/suggestions",
        lambda d: bool(d["suggestions"]),
    )
    sid = lager["suggestions"][0]["suggestion_id"]
    deadline = time.monotonic() + 10
    while True:
        accepted = aarhus.post(f"{events}/v1/suggestions/{sid}/accept", timeout=5)
        if accepted.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # the events service learns suggestions from the log
    assert accepted.status_code == 202, accepted.text
    consent = {"scope": "employer", "employer_cvr": LOGISTIK}
    assert (
        aarhus.post(f"{events}/v1/citizens/cit-7f3a9c2e/consents", json=consent).status_code == 202
    )
    presented = aarhus.post(f"{events}/v1/suggestions/{sid}/present", timeout=5)
    assert presented.status_code == 202 and presented.json()["event_type"] == "CandidatePresented"


def test_a_citizen_sees_their_best_open_orders(stack: Stack) -> None:
    matching = stack.urls["matching"]
    aarhus = consultant(stack)
    body = aarhus.get(f"{matching}/v1/citizens/cit-7f3a9c2e/orders", params={"k": 5}, timeout=5)
    assert body.status_code == 200
    orders = body.json()["orders"]
    # The kitchen order needs a hygiejnebevis she does not have: only the warehouse remains.
    assert [o["job_order_id"] for o in orders] == ["jo-4410-aarhus-lager"]
    assert isinstance(orders[0]["suggested"], bool)
    assert orders[0]["reasons"]
    assert aarhus.get(f"{matching}/v1/citizens/cit-nobody/orders", timeout=5).status_code == 404


def test_read_your_writes_and_conditional_gets(stack: Stack) -> None:
    events, profiles = stack.urls["events"], stack.urls["profiles"]
    aarhus = consultant(stack)
    card = example_documents()[0][0] | {"citizen_id": "cit-ryw-abcdef"}
    answer = aarhus.post(f"{events}/v1/competence-cards", json=card, timeout=10).json()
    token = answer["read_token"]
    assert token.startswith("jobmatch.citizens:")
    # With the token the first read already sees the write (it waits, bounded).
    response = aarhus.get(
        f"{profiles}/v1/citizens/cit-ryw-abcdef", params={"min_position": token}, timeout=10
    )
    assert response.status_code == 200 and response.json()["version"] == 1
    tag = response.headers["ETag"]
    for _ in range(20):  # matching may add a suggestion meanwhile: then the view changed
        again = aarhus.get(
            f"{profiles}/v1/citizens/cit-ryw-abcdef", headers={"If-None-Match": tag}, timeout=5
        )
        if again.status_code == 304:
            break
        assert again.status_code == 200 and again.headers["ETag"] != tag
        tag = again.headers["ETag"]
    assert again.status_code == 304 and again.headers["ETag"] == tag
    # A position the log has not reached yet: a bounded wait, then 504.
    topic, partition, offset = token.split(",")[0].split(":")
    ahead = f"{topic}:{partition}:{int(offset) + 10_000}"
    late = aarhus.get(
        f"{profiles}/v1/citizens/cit-ryw-abcdef", params={"min_position": ahead}, timeout=15
    )
    assert late.status_code == 504
    bad = aarhus.get(f"{profiles}/v1/citizens/x", params={"min_position": "nonsense"}, timeout=5)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "min_position"


def test_timelines_say_who_did_what_and_when(stack: Stack) -> None:
    profiles = stack.urls["profiles"]
    aarhus = consultant(stack)
    url = f"{profiles}/v1/citizens/cit-7f3a9c2e/timeline"
    deadline = time.monotonic() + 10
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = aarhus.get(url, params={"limit": 50}, timeout=5).json()
        if "CandidatePresented" in {e["event_type"] for e in body["entries"]}:
            break
        time.sleep(0.1)
    types = [e["event_type"] for e in body["entries"]]
    # Newest first: the presentation comes before (above) the registration of the card.
    assert types.index("CandidatePresented") < types.index("CompetenceCardRegistered")
    registered = next(e for e in body["entries"] if e["event_type"] == "CompetenceCardRegistered")
    assert registered["actor"]["role"] == "consultant" and registered["occurred_at"]
    page = aarhus.get(url, params={"limit": 1, "offset": 1}, timeout=5).json()
    assert page["total"] == body["total"] and page["entries"] == body["entries"][1:2]
    order = aarhus.get(f"{profiles}/v1/job-orders/jo-4410-aarhus-lager/timeline", timeout=5)
    assert "JobOrderPosted" in {e["event_type"] for e in order.json()["entries"]}
    assert aarhus.get(f"{profiles}/v1/citizens/cit-nobody/timeline", timeout=5).status_code == 404


def test_views_show_reviews_presentations_and_consents(stack: Stack) -> None:
    profiles = stack.urls["profiles"]
    aarhus = consultant(stack)
    deadline = time.monotonic() + 10
    order: dict[str, Any] = {}
    while time.monotonic() < deadline:
        order = aarhus.get(f"{profiles}/v1/job-orders/jo-4410-aarhus-lager", timeout=5).json()
        if order["presented"]:
            break
        time.sleep(0.1)
    (presented,) = order["presented"]
    assert presented["citizen_id"] == "cit-7f3a9c2e"
    assert presented["history"] == ["accepted", "presented"]
    assert order["positions"] == {"total": 2, "filled": 0, "open": 2}
    citizen = aarhus.get(f"{profiles}/v1/citizens/cit-7f3a9c2e", timeout=5).json()
    assert [c["employer_cvr"] for c in citizen["consents"]] == [LOGISTIK]
    assert citizen["reviews"][0]["job_order_id"] == "jo-4410-aarhus-lager"
    assert citizen["placements"] == []


def test_the_consultants_worklist(stack: Stack) -> None:
    profiles = stack.urls["profiles"]
    aarhus = consultant(stack)
    url = f"{profiles}/v1/worklists/0751"
    body = aarhus.get(url, timeout=5).json()
    pairs = {(i["job_order_id"], i["citizen_id"]) for i in body["items"]}
    # The kitchen suggestion awaits review; the warehouse one was accepted and left the list.
    assert ("jo-4411-aarhus-kantine", "cit-2b8e41d0") in pairs
    assert ("jo-4410-aarhus-lager", "cit-7f3a9c2e") not in pairs
    igu = aarhus.get(url, params={"programme": "IGU"}, timeout=5).json()["items"]
    assert all(i["programme"] == "IGU" for i in igu)
    kitchen = aarhus.get(url, params={"postal_prefix": "80", "min_score": 0.01}, timeout=5).json()
    assert {i["worksite_postal_code"][:2] for i in kitchen["items"]} <= {"80"}
    # Copenhagen's consultants have an empty list; Aarhus' may not read theirs at all.
    copenhagen = consultant(stack, "0101")
    assert copenhagen.get(f"{profiles}/v1/worklists/0101", timeout=5).json()["total"] == 0
    assert aarhus.get(f"{profiles}/v1/worklists/0101", timeout=5).status_code == 404
    assert aarhus.get(f"{profiles}/v1/worklists/abc", timeout=5).status_code == 422


def test_employers_see_their_orders_and_only_consented_fields(stack: Stack) -> None:
    events, profiles = stack.urls["events"], stack.urls["profiles"]
    aarhus, logistik = consultant(stack), employer(stack, LOGISTIK)
    view = _poll(
        logistik,
        f"{profiles}/v1/employers/{LOGISTIK}",
        lambda d: any(o["presented_candidates"] for o in d["job_orders"]),
    )
    lager = next(o for o in view["job_orders"] if o["job_order_id"] == "jo-4410-aarhus-lager")
    assert lager["status"] == "open" and lager["positions"]["open"] == 2
    assert all(o["job_order_id"] != "jo-4411-aarhus-kantine" for o in view["job_orders"])

    url = f"{profiles}/v1/employers/{LOGISTIK}/candidates"
    (candidate,) = logistik.get(url, timeout=5).json()["candidates"]
    assert candidate["citizen_id"] == "cit-7f3a9c2e" and candidate["consent"] == "given"
    # No fields named in the consent: the professional profile, not where she lives.
    assert set(candidate["profile"]) == set(DEFAULT_SHARED_FIELDS)
    assert candidate["profile"]["certificates"] == ["truckcertifikat"]

    citizen = aarhus.get(f"{profiles}/v1/citizens/cit-7f3a9c2e", timeout=5).json()
    consent_id = citizen["consents"][0]["consent_id"]
    gone = aarhus.delete(f"{events}/v1/citizens/cit-7f3a9c2e/consents/{consent_id}", timeout=5)
    assert gone.status_code == 202, gone.text
    token = {"min_position": gone.json()["read_token"]}
    (withdrawn,) = logistik.get(url, params=token, timeout=10).json()["candidates"]
    assert withdrawn["consent"] == "withdrawn" and withdrawn["profile"] is None

    narrow = {"consent_id": "c-narrow", "scope": "employer", "employer_cvr": LOGISTIK}
    narrow["shared_fields"] = ["skills", "danish"]  # type: ignore[assignment]
    given = aarhus.post(f"{events}/v1/citizens/cit-7f3a9c2e/consents", json=narrow, timeout=5)
    assert given.status_code == 202, given.text
    token = {"min_position": given.json()["read_token"]}
    (again,) = logistik.get(url, params=token, timeout=10).json()["candidates"]
    assert set(again["profile"]) == {"skills", "danish"}

    # Another employer's view is hidden as a missing one; an employer nobody registered is 404.
    assert logistik.get(f"{profiles}/v1/employers/99999999", timeout=5).status_code == 404
    unknown = employer(stack, "39121018")
    assert unknown.get(f"{profiles}/v1/employers/39121018", timeout=5).status_code == 404
    assert logistik.get(f"{profiles}/v1/employers/123", timeout=5).status_code == 422
