"""A model approved while the matching worker runs scores at once, and the switch is in the log.

The stack as processes (real broker, Redis, issuer): suggestions are made with the approved
model A; an administrator approves B at `POST /v1/models/B/approve` on the worker; without
a restart every suggestion is announced anew with B, a card registered afterwards is
scored with B, `/ready` and `/v1/models` say B scores, the reports topic holds
`ModelActivated` (B after A), and the worker's state equals a fresh replay of the log up
to its positions.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from schemas.registry import REGISTRY
from schemas.reports import ModelActivated
from schemas.topics import REPORTS
from services.common.kafka import read_log
from services.demo import example_documents
from services.keys.setup import install_keystore, keystore_path
from services.matching.bootstrap import state_factory
from services.matching.domain.pair_features import FEATURES
from services.matching.model.linear import LinearModel
from services.matching.model.registry import Registry
from services.matching.replay import INPUTS, positions_from_json, replay_log
from services.matching.settings import MatchingSettings
from services.stack import Stack, free_port_base
from tests.e2e.signin import administrator, consultant

A = "20980101T000000-logistic"
B = "20990101T000000-logistic"
LAGER = "jo-4410-aarhus-lager"


def a_model(version: str, shift: int) -> LinearModel:
    n = len(FEATURES)
    coef = np.roll(np.linspace(1.0, -0.5, n), shift)
    return LinearModel(version, tuple(FEATURES), np.zeros(n), np.ones(n), coef, 0.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("switch")
    models = Registry(home / "models")
    models.save(a_model(A, 0), {"approved": True, "training_data": "synthetic"})
    models.save(a_model(B, 4), {"approved": False, "training_data": "synthetic"})
    running = Stack(home=home, ports=free_port_base(), memory=True)
    with running.running():
        yield running


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_approval_switches_the_running_worker(stack: Stack) -> None:
    aarhus, admin = consultant(stack), administrator(stack)
    events, profiles, matching = (stack.urls[s] for s in ("events", "profiles", "matching"))
    cards, orders = example_documents()
    for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
        for doc in docs:
            assert aarhus.post(events + path, json=doc, timeout=10).status_code == 202
    url = f"{profiles}/v1/job-orders/{LAGER}/suggestions"

    def versions() -> set[str]:
        return {s["model_version"] for s in aarhus.get(url).json().get("suggestions", [])}

    assert wait_for(lambda: versions() == {A}, "suggestions with A")
    ready = httpx.get(f"{matching}/ready", timeout=5).json()
    assert ready["model"]["scoring"] == A and ready["model"]["in_sync"]

    approved = admin.post(f"{matching}/v1/models/{B}/approve", timeout=15)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["in_use"] is True and body["takes_effect"].startswith("now")
    assert body["activation"]["previous_version"] == A

    # No restart: the order's suggestions are announced anew with B.
    assert wait_for(lambda: versions() == {B}, "suggestions with B")
    ready = httpx.get(f"{matching}/ready", timeout=5).json()
    assert ready["status"] == "ready"
    assert ready["model"]["scoring"] == B and ready["model"]["activated_in_log"] == B
    assert ready["model"]["switches"][-1]["from"] == A
    listed = admin.get(f"{matching}/v1/models").json()
    assert listed["in_use"]["version"] == B
    assert [m["version"] for m in listed["models"] if m["in_use"]] == [B]
    assert httpx.get(f"{matching}/health", timeout=5).json()["model"]["version"] == B

    # A card registered after the switch is scored with B.
    newcomer = copy.deepcopy(next(c for c in cards if c["citizen_id"] == "cit-7f3a9c2e"))
    newcomer["citizen_id"] = "cit-switch-1"
    assert aarhus.post(events + "/v1/competence-cards", json=newcomer).status_code == 202
    citizen = f"{profiles}/v1/citizens/cit-switch-1"

    def newcomer_suggestions() -> list[dict[str, Any]]:
        doc = aarhus.get(citizen).json()
        return list(doc.get("suggestions") or doc.get("open_suggestions") or [])

    found = wait_for(newcomer_suggestions, "a suggestion of the new card")
    assert {s["model_version"] for s in found} == {B}

    # The switch is in the log ...
    assert stack.bootstrap
    records = asyncio.run(read_log(stack.bootstrap, [REPORTS], idle_ms=400, timeout=30))
    switches = [
        p
        for r in records
        if isinstance(p := REGISTRY.decode(r.value or b"").payload, ModelActivated)
    ]
    assert [(s.previous_version, s.model_version) for s in switches] == [(A, B)]
    assert switches[0].approved_by and switches[0].approved_by.startswith("administrator")

    # ... and the worker's state is a fresh replay's up to the positions it reports.
    def settled() -> dict[str, Any] | None:
        doc = admin.get(f"{matching}/v1/state", timeout=30).json()
        return doc if doc["in_flight"] == 0 else None

    state_doc = wait_for(settled, "the worker to read back its output")
    settings = MatchingSettings(
        kafka_bootstrap_servers=stack.bootstrap,
        auth_issuer=stack.issuer,
        auth_jwks_url=f"{stack.issuer}/.well-known/jwks.json",
        matching_model_dir=stack.home / "models",
        matching_data_dir=stack.home / "replay",
    )
    # The cards are sealed with the stack's key store: the replay opens them with it.
    install_keystore(keystore_path(stack.home), "test")
    fresh = state_factory(settings)()
    positions = positions_from_json(state_doc["positions"])
    asyncio.run(replay_log(fresh, stack.bootstrap, INPUTS, positions))
    assert fresh.scorer.model_version == B
    held, replayed = state_doc["state"], json.loads(json.dumps(fresh.snapshot()))
    assert sorted(k for k in held if held[k] != replayed.get(k)) == []
    assert fresh.digest() == state_doc["digest"]
