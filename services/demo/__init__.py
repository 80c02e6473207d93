"""The contract examples (three cards, two job orders) and a loader for a running stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

EXAMPLES = Path(__file__).resolve().parent / "examples"


def example_documents() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cards = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("competence_card_*.json"))]
    orders = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("job_order_*.json"))]
    return cards, orders


def load_examples(
    events_url: str, token_for: Callable[[str], str], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Post the examples through the events API, as a consultant of each document's
    municipality would (`token_for(municipality_code)` gives that consultant's token)."""
    cards, orders = example_documents()
    answers = []
    with httpx.Client(base_url=events_url, timeout=timeout) as client:
        for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
            for doc in docs:
                auth = {"Authorization": f"Bearer {token_for(doc['municipality_code'])}"}
                response = client.post(path, json=doc, headers=auth)
                if response.status_code == 409:
                    continue  # loaded by an earlier run on the same data
                response.raise_for_status()
                answers.append(response.json())
    return answers
