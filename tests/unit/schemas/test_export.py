"""The committed JSON Schemas and AsyncAPI document match the models."""

from __future__ import annotations

import json

import yaml

from schemas.export import ASYNCAPI_PATH, JSON_DIR, stale_files
from schemas.registry import REGISTRY


def test_committed_contract_files_are_fresh() -> None:
    stale = stale_files()
    assert not stale, f"run `jobmatch schemas export`; stale: {[p.name for p in stale]}"


def test_one_schema_per_event_and_asyncapi_references_them() -> None:
    names = {p.name for p in JSON_DIR.glob("*.json")}
    assert len(names) == len(REGISTRY.models)
    doc = yaml.safe_load(ASYNCAPI_PATH.read_text())
    assert doc["asyncapi"].startswith("3.")
    messages = doc["components"]["messages"]
    assert set(messages) == set(REGISTRY.models)
    for message in messages.values():
        assert message["payload"]["$ref"].removeprefix("json/") in names
    card = json.loads((JSON_DIR / "CompetenceCardRegistered.v1.json").read_text())
    assert card["properties"]["event_type"]["const"] == "CompetenceCardRegistered"
    assert "citizen_id" in card["properties"]["payload"]["properties"]
