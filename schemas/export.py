"""Export the contracts: one JSON Schema per event and an AsyncAPI 3 document.

Downstream teams generate consumers from these files; `tests/unit/schemas/test_export.py`
fails when the committed files differ from what the models produce.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import yaml

from schemas.citizens import CitizenErased
from schemas.envelope import HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, Event
from schemas.envelope import EventPayload as _Payload
from schemas.registry import REGISTRY
from schemas.topics import CATALOGUE, VIEW_TOPICS

SCHEMAS_DIR = Path(__file__).resolve().parent
JSON_DIR = SCHEMAS_DIR / "json"
ASYNCAPI_PATH = SCHEMAS_DIR / "asyncapi.yaml"
_REF = "#/$defs/{model}"
# Events that oblige a consumer to act: their whole description goes into the AsyncAPI.
CONSUMER_DUTIES = frozenset((CitizenErased.event_type,))


def schema_file_name(model: type[_Payload]) -> str:
    return f"{model.event_type}.v{model.schema_version}.json"


def event_json_schema(model: type[_Payload]) -> dict[str, Any]:
    """The whole record (envelope + this payload) as JSON Schema 2020-12."""
    envelope = Event.model_json_schema(ref_template=_REF)
    payload = model.model_json_schema(ref_template=_REF)
    defs: dict[str, Any] = envelope.pop("$defs", {})
    defs.pop("EventPayload", None)
    defs.update(payload.pop("$defs", {}))
    props = envelope["properties"]
    props["event_type"] = {"const": model.event_type, "type": "string"}
    props["schema_version"] = {"const": model.schema_version, "type": "integer"}
    props["payload"] = _sealable(model, payload)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:jobmatch:event:{model.event_type}:v{model.schema_version}",
        "title": model.event_type,
        "description": (model.__doc__ or model.event_type).strip().splitlines()[0],
        "x-topic": model.topic,
        **{k: v for k, v in envelope.items() if k not in ("title", "description")},
        "$defs": dict(sorted(defs.items())),
    }


SEALED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The personal fields (x-personal-fields), encrypted with the citizen's data "
    "key: AES-256-GCM, `data` = base64(12-byte nonce | ciphertext of the fields' JSON members "
    "without the enclosing braces), the record's event_id (its text) as associated data; "
    "`kid` names the key (the citizen's id). Once the citizen is erased the key is deleted "
    "and the fields can no longer be read: treat them as absent.",
    "properties": {
        "kid": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
    "required": ["kid", "data"],
    "additionalProperties": False,
}


def _sealable(model: type[_Payload], payload: dict[str, Any]) -> dict[str, Any]:
    """A payload with personal fields: they travel in `sealed` (not required in clear)."""
    personal = list(model.personal_fields)
    if not personal:
        return payload
    payload["properties"]["sealed"] = SEALED_SCHEMA
    payload["required"] = [f for f in payload.get("required", []) if f not in personal]
    payload["x-personal-fields"] = personal
    return payload


def _description(model: type[_Payload]) -> str:
    """The docstring as paragraphs (its line breaks inside a paragraph dropped)."""
    paragraphs = inspect.cleandoc(model.__doc__ or model.event_type).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[type[_Payload]]] = {}
    for model in REGISTRY.models.values():
        by_topic.setdefault(model.topic, []).append(model)
    for topic in VIEW_TOPICS:
        channel_id = topic.name.removeprefix("jobmatch.").replace("-", "_")
        refs = {}
        for model in by_topic.get(topic.name, []):
            messages[model.event_type] = {
                "name": model.event_type,
                "title": model.event_type,
                "summary": (model.__doc__ or model.event_type).strip().splitlines()[0],
                **(
                    {"description": _description(model)}
                    if model.event_type in CONSUMER_DUTIES
                    else {}
                ),
                "contentType": "application/json",
                "headers": {
                    "type": "object",
                    "properties": {
                        HEADER_EVENT_TYPE: {"const": model.event_type},
                        HEADER_SCHEMA_VERSION: {"const": str(model.schema_version)},
                        HEADER_EVENT_ID: {"type": "string", "format": "uuid"},
                    },
                },
                "payload": {"$ref": f"json/{schema_file_name(model)}"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": topic.key},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
            refs[model.event_type] = {"$ref": f"#/components/messages/{model.event_type}"}
        channels[channel_id] = {
            "address": topic.name,
            "description": topic.description,
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "bindingVersion": "0.5.0",
                }
            },
        }
        operations[f"consume_{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in refs],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "jobmatch events",
            "version": "1.0.0",
            "description": (
                "The event log of jobmatch. Every record is a JSON envelope (event_id, "
                "event_type, schema_version, occurred_at, aggregate_id, correlation_id, "
                "causation_id, actor, municipality_code, payload); the Kafka key is the "
                "aggregate id. Delivery is at-least-once: deduplicate on event_id. "
                "Personal fields (each payload's x-personal-fields) are sealed per citizen "
                "(the payload's `sealed`); after a CitizenErased they cannot be read any more, "
                "and the consumer must delete what it holds about the citizen. "
                "Topics: " + ", ".join(f"{t.name} ({t.partitions} partitions)" for t in CATALOGUE)
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered_files() -> dict[Path, str]:
    files = {
        JSON_DIR / schema_file_name(model): json.dumps(
            event_json_schema(model), indent=2, ensure_ascii=False
        )
        + "\n"
        for model in REGISTRY.models.values()
    }
    files[ASYNCAPI_PATH] = yaml.safe_dump(
        asyncapi_document(), sort_keys=False, allow_unicode=True, width=100
    )
    return files


def stale_files() -> list[Path]:
    """Files whose committed content differs from the models (or that should not exist)."""
    expected = rendered_files()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in JSON_DIR.glob("*.json") if p not in expected]
    return sorted(stale)


def write_all() -> list[Path]:
    JSON_DIR.mkdir(parents=True, exist_ok=True)
    expected = rendered_files()
    for old in JSON_DIR.glob("*.json"):
        if old not in expected:
            old.unlink()
    for path, text in expected.items():
        path.write_text(text)
    return sorted(expected)
