"""Offline ranking of many cards against many job orders (`jobmatch match rank`).

Documents come in the API's JSON shape, one per line. They may be incomplete (no URIs,
titles in English, fields missing): a field that does not validate is dropped and a
missing required one gets a neutral default, rather than losing the whole document. Pairs
that a hard requirement excludes are still ranked, below every admissible pair, so that an
evaluation sees a full ranking; `excluded` marks them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.matching.domain.features import (
    CardProfile,
    Linker,
    OrderProfile,
    card_profile,
    order_profile,
)
from services.matching.domain.scoring import Excluded, Scorer

# Excluded pairs rank below admissible ones: their factor score is squeezed into [0, 0.2).
EXCLUDED_SCALE = 0.2

CARD_DEFAULTS: dict[str, Any] = {
    "municipality_code": "0101",
    "availability": {"hours_per_week": 37},
    "location": {"postal_code": "0000"},
}
ORDER_DEFAULTS: dict[str, Any] = {
    "employer": {"cvr": "12345607", "name": "unknown"},
    "municipality_code": "0101",
    "title": "unknown",
    "programme": "ordinary",
    "worksite": {"postal_code": "0000"},
    "hours_per_week": 37,
}

M = TypeVar("M", bound=BaseModel)


def _drop(doc: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove the value at `loc` (the innermost container that holds it)."""
    target = doc
    for part in loc[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = loc[-1]
    if isinstance(target, dict) and last in target:
        del target[last]
        return True
    if isinstance(target, list) and isinstance(last, int) and last < len(target):
        del target[last]
        return True
    return False


def lenient(model: type[M], raw: dict[str, Any], defaults: dict[str, Any]) -> M:
    doc = copy.deepcopy(raw)
    for key, value in defaults.items():
        doc.setdefault(key, copy.deepcopy(value))
    for _ in range(20):
        try:
            return model.model_validate(doc)
        except ValidationError as exc:
            changed = False
            for err in exc.errors():
                loc = tuple(err["loc"])
                if err["type"] == "missing" and len(loc) == 1 and loc[0] in defaults:
                    doc[loc[0]] = copy.deepcopy(defaults[loc[0]])
                    changed = True
                elif _drop(doc, loc) or (len(loc) > 1 and _drop(doc, loc[:-1])):
                    changed = True
            if not changed:
                raise
    return model.model_validate(doc)


def _ident(doc: dict[str, Any], *names: str) -> str:
    for name in names:
        if doc.get(name):
            return str(doc[name])
    raise ValueError(f"document without {' or '.join(names)}")


@dataclass(frozen=True)
class Ranked:
    id: str
    ranked: list[dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "ranked": self.ranked}, ensure_ascii=False)


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise ValueError("each line must hold one JSON object")
            yield doc


def profiles_of_cards(
    docs: Iterable[dict[str, Any]], linker: Linker
) -> list[tuple[str, CardProfile]]:
    out = []
    for doc in docs:
        ident = _ident(doc, "citizen_id", "id")
        # The id is carried beside the card: a batch id need not pass the pseudonym rules.
        card = lenient(CompetenceCard, {**doc, "citizen_id": "cit-batch"}, CARD_DEFAULTS)
        out.append((ident, card_profile(card, linker)))
    return out


def profiles_of_orders(
    docs: Iterable[dict[str, Any]], linker: Linker
) -> list[tuple[str, OrderProfile]]:
    out = []
    for doc in docs:
        ident = _ident(doc, "job_order_id", "id")
        order = lenient(JobOrder, {**doc, "job_order_id": "jo-batch"}, ORDER_DEFAULTS)
        out.append((ident, order_profile(order, linker)))
    return out


def pair_score(card: CardProfile, order: OrderProfile, scorer: Scorer) -> tuple[float, bool]:
    result = scorer(card, order, with_soft_score=True)
    if isinstance(result, Excluded):
        return result.soft_score * EXCLUDED_SCALE, True
    # Admissible pairs sit above every excluded one.
    return EXCLUDED_SCALE + (1 - EXCLUDED_SCALE) * result.score, False


def rank(
    cards: list[tuple[str, CardProfile]],
    orders: list[tuple[str, OrderProfile]],
    scorer: Scorer,
    per: Literal["card", "job"],
    top: int,
) -> Iterator[Ranked]:
    queries, candidates = (cards, orders) if per == "card" else (orders, cards)
    for qid, query in queries:
        scored = []
        for cid, cand in candidates:
            card, order = (query, cand) if per == "card" else (cand, query)
            value, excluded = pair_score(card, order, scorer)  # type: ignore[arg-type]
            scored.append((value, cid, excluded))
        scored.sort(key=lambda t: (-t[0], t[1]))
        yield Ranked(
            qid,
            [
                {"id": cid, "score": round(value, 4), **({"excluded": True} if ex else {})}
                for value, cid, ex in scored[:top]
            ],
        )
