"""Competence card rules through the HTTP API, against the real broker and Redis.

Each test uses fresh citizen ids (letters only, so no CPR-shaped digit run can appear):
the `events_api` fixture is shared with other modules for the whole session.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from schemas.citizens import CompetenceCard, CompetenceCardRegistered, CompetenceCardUpdated
from schemas.common import ConceptLink
from schemas.envelope import Event
from schemas.registry import REGISTRY
from schemas.topics import CITIZENS
from tests.conftest import Issuer
from tests.integration.kafka_helpers import read_record

CARDS = "/v1/competence-cards"
WAREHOUSE_WORKER = "http://data.europa.eu/esco/occupation/bea705fe-06ac-4147-b8e0-6e8ac1208d8f"
ORDER_PICKER_GIVEN = "http://data.europa.eu/esco/occupation/cd94def5-3442-4c2e-ae3d-0761a3008bcb"
OPERATE_FORKLIFT = "http://data.europa.eu/esco/skill/28cb374e-6261-4133-8371-f9a5470145da"
UNKNOWN_OCCUPATION = "http://data.europa.eu/esco/occupation/00000000-0000-4000-8000-000000000000"
UNKNOWN_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"
NOT_DANISH_POSTAL = "0000"  # 4 digits, not in services/reference/data/postal_codes.csv

_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def fresh_citizen_id() -> str:
    """A unique citizen id made of letters only (uuid hex digits mapped to letters)."""
    return f"cit-r-{uuid.uuid4().hex[:12].translate(_LETTERS)}"


def with_id(doc: dict[str, Any]) -> dict[str, Any]:
    card = copy.deepcopy(doc)
    card["citizen_id"] = fresh_citizen_id()
    return card


async def stored_event(broker: str, accepted: dict[str, Any]) -> Event:
    pos = accepted["position"]
    assert pos["topic"] == CITIZENS.name
    record = await read_record(broker, pos["topic"], pos["partition"], pos["offset"])
    event = REGISTRY.decode(record.value or b"")
    assert str(event.event_id) == accepted["event_id"]
    return event


def assert_link_invariants(links: list[ConceptLink], card: dict[str, Any]) -> None:
    """A given URI is kept as given; a linked one is confident enough; else no URI."""
    items = [
        *(
            ("experience", i, e["title"], e.get("esco_occupation_uri"), 0.5)
            for i, e in enumerate(card["experience"])
        ),
        *(
            ("job_wishes", i, w["title"], w.get("esco_occupation_uri"), 0.5)
            for i, w in enumerate(card["job_wishes"])
        ),
        *(
            ("skills", i, s["label"], s.get("esco_skill_uri"), 0.6)
            for i, s in enumerate(card["skills"])
        ),
    ]
    by_path = {link.path: link for link in links}
    assert len(by_path) == len(links) == len(items)
    for group, i, text, uri, minimum in items:
        link = by_path[f"{group}.{i}"]
        assert link.text == text
        if uri:
            assert (link.uri, link.source, link.confidence) == (uri, "given", 1.0)
        elif link.source == "linked":
            assert link.uri and link.label and minimum <= link.confidence <= 1
        else:
            assert link.source == "unlinked" and link.uri is None and link.confidence < minimum


def eligibility_of(payload: CompetenceCardRegistered, programme: str) -> tuple[bool, list[str]]:
    [found] = [e for e in payload.eligibility if e.programme == programme]
    return found.eligible, found.reasons


async def register(api: httpx.AsyncClient, card: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(CARDS, json=card)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


# -- accepted cards and what the stored event carries ------------------------------------------


@pytest.mark.parametrize("name", ["amina", "yonas", "fatima"])
async def test_example_cards_are_accepted_unchanged(
    events_api: httpx.AsyncClient, broker: str, request: pytest.FixtureRequest, name: str
) -> None:
    card = with_id(request.getfixturevalue(name))
    body = await register(events_api, card)
    assert (body["event_type"], body["version"]) == ("CompetenceCardRegistered", 1)
    assert body["aggregate_id"] == card["citizen_id"]
    event = await stored_event(broker, body)
    payload = event.payload_as(CompetenceCardRegistered)
    assert payload.citizen_id == card["citizen_id"]
    # The card travels unchanged (nothing dropped or altered).
    expected = CompetenceCard.model_validate(card).model_dump(mode="json")
    assert payload.card.model_dump(mode="json") == expected
    # One link per experience, job wish and skill; the eligibility of every programme.
    assert_link_invariants(payload.links, card)
    assert {e.programme for e in payload.eligibility} >= {"IGU", "IO-stilling", "ordinary"}
    assert all(e.reasons for e in payload.eligibility)


async def test_amina_links_and_igu_eligibility(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    payload = (await stored_event(broker, await register(events_api, card))).payload_as(
        CompetenceCardRegistered
    )
    links = {link.path: link for link in payload.links}

    linked = links["experience.0"]
    assert (linked.text, linked.uri, linked.source) == ("lagerarbejder", WAREHOUSE_WORKER, "linked")
    assert 0.5 <= linked.confidence <= 1 and linked.label == "lagerarbejder"

    given = links["experience.1"]
    assert (given.text, given.uri, given.source) == ("plukker", ORDER_PICKER_GIVEN, "given")
    assert given.confidence == 1.0

    skill = links["skills.0"]
    assert (skill.uri, skill.source, skill.confidence) == (OPERATE_FORKLIFT, "given", 1.0)
    wish = links["job_wishes.0"]
    assert (wish.text, wish.uri, wish.source) == ("lagermedarbejder", WAREHOUSE_WORKER, "linked")

    eligible, reasons = eligibility_of(payload, "IGU")
    assert eligible and reasons == ["igu_eligible"]
    [igu] = [e for e in payload.eligibility if e.programme == "IGU"]
    # Assessed for the day she can start (available_from), not before today.
    today = dt.datetime.now(dt.UTC).date()
    assert igu.assessed_for == max(
        dt.date.fromisoformat(card["availability"]["available_from"]), today
    )


async def test_danish_residence_is_not_igu_eligible(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    card["programme"]["residence_basis"] = "danish"
    payload = (await stored_event(broker, await register(events_api, card))).payload_as(
        CompetenceCardRegistered
    )
    eligible, reasons = eligibility_of(payload, "IGU")
    assert not eligible
    assert reasons == ["igu_not_refugee_or_family_reunified"]


async def test_over_fifty_is_not_igu_eligible(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    card["programme"]["birth_year"] = dt.datetime.now(dt.UTC).year - 56
    card["programme"]["arrival_date"] = "2019-03-15"
    payload = (await stored_event(broker, await register(events_api, card))).payload_as(
        CompetenceCardRegistered
    )
    eligible, reasons = eligibility_of(payload, "IGU")
    assert not eligible
    assert reasons == ["igu_age_outside_18_50"]
    # Other programmes are unaffected by age.
    assert eligibility_of(payload, "ordinary")[0]


# -- 422 naming each bad field; nothing stored ----------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(card: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = card
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return apply


BAD_FIELDS: list[tuple[str, Mutation, str]] = [
    ("municipality", _set("municipality_code", "0999"), "municipality_code"),
    ("postal", _set("location.postal_code", NOT_DANISH_POSTAL), "location.postal_code"),
    ("course", _set("danish.course", "DU4"), "danish.course"),
    ("module", _set("danish.module", 7), "danish.module"),
    ("cefr", _set("danish.cefr", "D1"), "danish.cefr"),
    ("hours-0", _set("availability.hours_per_week", 0), "availability.hours_per_week"),
    ("hours-80", _set("availability.hours_per_week", 80), "availability.hours_per_week"),
    ("commute", _set("location.max_commute_km", -1), "location.max_commute_km"),
    ("birth-year", _set("programme.birth_year", 1900), "programme.birth_year"),
    ("years-neg", _set("experience.0.years", -1), "experience.0.years"),
    ("years-70", _set("experience.0.years", 70), "experience.0.years"),
    ("available", _set("availability.available_from", "1900-06-01"), "availability.available_from"),
    ("arrival", _set("programme.arrival_date", "1985-05-01"), "programme"),
    (
        "occupation",
        _set("experience.0.esco_occupation_uri", UNKNOWN_OCCUPATION),
        "experience.0.esco_occupation_uri",
    ),
    ("skill", _set("skills.1.esco_skill_uri", UNKNOWN_SKILL), "skills.1.esco_skill_uri"),
    ("licence", _set("driving_licences.0", "Z"), "driving_licences.0"),
]


async def _refused_then_first_version(
    api: httpx.AsyncClient, card: dict[str, Any], original: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await api.post(CARDS, json=card)
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    assert all(entry["reason"] for entry in detail)
    # Nothing was stored: the valid card of the same citizen is its first version.
    valid = copy.deepcopy(original)
    valid["citizen_id"] = card["citizen_id"]
    assert (await register(api, valid))["version"] == 1
    return detail


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=i) for i, m, f in BAD_FIELDS])
async def test_bad_field_is_422_naming_it(
    events_api: httpx.AsyncClient, amina: dict[str, Any], mutate: Mutation, field: str
) -> None:
    card = with_id(amina)
    amina_birth = card["programme"]["birth_year"]
    assert amina_birth == 1991  # the arrival case relies on it
    mutate(card)
    detail = await _refused_then_first_version(events_api, card, amina)
    assert [entry["field"] for entry in detail] == [field]


async def test_cpr_shaped_citizen_id_is_422(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    for cpr in ("0101901234", "cit-010190-1234", "x311299-0001"):
        card = copy.deepcopy(amina)
        card["citizen_id"] = cpr
        response = await events_api.post(CARDS, json=card)
        assert response.status_code == 422, cpr
        [entry] = response.json()["detail"]
        assert entry["field"] == "citizen_id" and "CPR" in entry["reason"]


async def test_several_bad_fields_are_each_named(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    card["availability"]["hours_per_week"] = 0
    card["location"]["max_commute_km"] = -5
    card["programme"]["birth_year"] = 1900
    card["danish"]["cefr"] = "D1"
    card["driving_licences"] = ["B", "Z"]
    detail = await _refused_then_first_version(events_api, card, amina)
    assert {e["field"] for e in detail} == {
        "availability.hours_per_week",
        "location.max_commute_km",
        "programme.birth_year",
        "danish.cefr",
        "driving_licences.1",
    }


async def test_several_unknown_references_are_each_named(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    card["location"]["postal_code"] = NOT_DANISH_POSTAL
    card["experience"][0]["esco_occupation_uri"] = UNKNOWN_OCCUPATION
    card["job_wishes"][0]["esco_occupation_uri"] = UNKNOWN_OCCUPATION
    card["skills"][1]["esco_skill_uri"] = UNKNOWN_SKILL
    detail = await _refused_then_first_version(events_api, card, amina)
    fields = {e["field"]: e["reason"] for e in detail}
    assert set(fields) == {
        "location.postal_code",
        "experience.0.esco_occupation_uri",
        "job_wishes.0.esco_occupation_uri",
        "skills.1.esco_skill_uri",
    }
    assert UNKNOWN_OCCUPATION in fields["experience.0.esco_occupation_uri"]
    assert NOT_DANISH_POSTAL in fields["location.postal_code"]


# -- versioning ------------------------------------------------------------------------------------


async def test_card_versioning(
    events_api: httpx.AsyncClient, broker: str, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    cid = card["citizen_id"]
    url = f"{CARDS}/{cid}"
    assert (await register(events_api, card))["version"] == 1

    again = await events_api.post(CARDS, json=card)
    assert again.status_code == 409
    assert "PUT" in again.json()["detail"][0]["reason"]

    card["availability"]["hours_per_week"] = 25
    missing = await events_api.put(url, json=card)
    assert missing.status_code == 428

    updated = await events_api.put(url, json=card, headers={"If-Match": '"1"'})
    assert updated.status_code == 202, updated.text
    body = updated.json()
    assert (body["event_type"], body["version"]) == ("CompetenceCardUpdated", 2)
    payload = (await stored_event(broker, body)).payload_as(CompetenceCardUpdated)
    assert payload.version == 2 and payload.card.availability.hours_per_week == 25
    assert payload.links and payload.eligibility

    stale = await events_api.put(url, json=card, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"][0]["reason"]

    third = await events_api.put(url, json=card, headers={"If-Match": "2"})
    assert third.status_code == 202 and third.json()["version"] == 3


async def test_put_with_another_citizen_id_in_body_is_422(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    await register(events_api, card)
    other = copy.deepcopy(card)
    other["citizen_id"] = fresh_citizen_id()
    response = await events_api.put(
        f"{CARDS}/{card['citizen_id']}", json=other, headers={"If-Match": "1"}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["citizen_id"]
    # Neither card moved on.
    again = await events_api.put(
        f"{CARDS}/{card['citizen_id']}", json=card, headers={"If-Match": "1"}
    )
    assert again.status_code == 202 and again.json()["version"] == 2
    assert (await register(events_api, other))["version"] == 1


async def test_put_for_unknown_citizen_is_404(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    response = await events_api.put(
        f"{CARDS}/{card['citizen_id']}", json=card, headers={"If-Match": "1"}
    )
    assert response.status_code == 404
    # A 404 leaves nothing behind either.
    assert (await register(events_api, card))["version"] == 1


# -- actor ----------------------------------------------------------------------------------------


async def test_event_records_actor_from_the_token_and_time(
    events_api: httpx.AsyncClient, broker: str, yonas: dict[str, Any], issuer: Issuer
) -> None:
    card = with_id(yonas)
    before = dt.datetime.now(dt.UTC)
    headers = {
        **issuer.bearer("consultant", "kons-31", municipality="0751"),
        # Ignored: the actor comes from the verified token alone.
        "X-Actor-Role": "administrator",
        "X-Actor-Id": "<script>alert(1)</script>",
    }
    response = await events_api.post(CARDS, json=card, headers=headers)
    after = dt.datetime.now(dt.UTC)
    assert response.status_code == 202, response.text
    event = await stored_event(broker, response.json())
    assert event.actor.model_dump() == {
        "role": "consultant",
        "id": "kons-31",
        "municipality_code": "0751",
        "cvr": None,
    }
    assert event.municipality_code == card["municipality_code"]
    assert event.aggregate_id == card["citizen_id"]
    assert before - dt.timedelta(seconds=1) <= event.occurred_at <= after + dt.timedelta(seconds=1)
    assert event.occurred_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda c: c.update(notes="Ring på 12 34 56 78 efter kl. 10"), "notes", "telefonnummer"),
        (lambda c: c.update(notes="CPR: 010190-1234"), "notes", "CPR-nummer"),
        (
            lambda c: c["experience"][0].update(title="kok, skriv til kok@example.dk"),
            "experience.0.title",
            "e-mailadresse",
        ),
    ],
)
async def test_free_text_with_a_direct_identifier_is_422_naming_it(
    events_api: httpx.AsyncClient,
    amina: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    reason: str,
) -> None:
    card = with_id(amina)
    mutate(card)
    response = await events_api.post(CARDS, json=card)
    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["field"] == field and reason in entry["reason"]
    # Nothing was stored: the same card without it is the first version.
    accepted = await events_api.post(
        CARDS, json=with_id(amina) | {"citizen_id": card["citizen_id"]}
    )
    assert accepted.status_code == 202


async def test_a_reason_with_a_phone_number_is_422(
    events_api: httpx.AsyncClient, amina: dict[str, Any]
) -> None:
    card = with_id(amina)
    assert (await events_api.post(CARDS, json=card)).status_code == 202
    path = f"/v1/citizens/{card['citizen_id']}/availability"
    response = await events_api.post(
        path, json={"available": False, "reason": "syg, ring +45 12345678"}
    )
    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["field"] == "reason" and "telefonnummer" in entry["reason"]
    ok = await events_api.post(path, json={"available": False, "reason": "sygemeldt"})
    assert ok.status_code == 202
