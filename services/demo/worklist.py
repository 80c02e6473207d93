"""Synthetic cards and job orders for the demo municipalities, so that `jobmatch up --demo`
gives the consultants' worklists, and the key figures, something to show.

SYNTHETIC DATA (services/demo/synthetic.py): no real citizen or employer. Made with the
synthetic history's generator, every card and order placed in a demo municipality (Aarhus
0751, Odense 0461), and posted through the public API as a consultant of that municipality
would; the matching service then suggests as it does for any card and order.

The worked example (services/demo/story.py) and the example orders stay as they are: no
synthetic card holds the certificates the example orders require (truckcertifikat,
hygiejnebevis), so none is suggested for them, and Amina remains the warehouse order's best
suggestion; cards and orders of the warehouse and kitchen families are left out as well.
Deterministic for a seed; ids `cit-demo-…` and `jo-demo-…`, so a second run finds them on
record (409) and adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

DEMO_MUNICIPALITIES = ("0751", "0461")
# The families of the example orders (jo-4410-aarhus-lager, jo-4411-aarhus-kantine).
KEPT_CLEAR = ("lager_medicin", "lager_transport", "koekken")
# What the example orders require: a card without them cannot be suggested for them.
EXAMPLE_CERTIFICATES = frozenset({"truckcertifikat", "hygiejnebevis"})


@dataclass(frozen=True)
class DemoDocuments:
    cards: list[dict[str, Any]]
    orders: list[dict[str, Any]]


def demo_documents(
    cards_per_municipality: int = 40,
    orders_per_municipality: int = 8,
    seed: int = 12,
    today: dt.date | None = None,
) -> DemoDocuments:
    """Cards and job orders (API documents) in each demo municipality, dated from `today`."""
    from services.demo import synthetic

    start = today or dt.date.today()
    municipalities = list(DEMO_MUNICIPALITIES)

    class InDemo(synthetic._Builder):
        """The generator, with every card, employer and order in a demo municipality."""

        def municipality(self, flatten: float = 1.0) -> str:
            return municipalities[int(self.rng.integers(0, len(municipalities)))]

    b = InDemo(seed, start, 2, synthetic.TrueModel())
    clear = {i for i, f in enumerate(b.ref.families) if f.key in KEPT_CLEAR}
    wanted = cards_per_municipality * len(municipalities)
    cards: list[dict[str, Any]] = []
    i = 0
    while len(cards) < wanted and i < wanted * 4:
        i += 1
        card, latent = b.card(i)
        families = {latent.family} | {
            b.ref.occupations[o].family for o in (*latent.exp_occ, *latent.wish_occ)
        }
        certified = {c.casefold() for c in card.certificates} & EXAMPLE_CERTIFICATES
        if families & clear or certified:
            continue
        doc = card.model_dump(mode="json", exclude_none=True)
        doc["citizen_id"] = f"cit-demo-{i:04d}"
        cards.append(doc)
    employers = [b.employer() for _ in range(6 * len(municipalities))]
    orders: list[dict[str, Any]] = []
    per: dict[str, int] = dict.fromkeys(municipalities, 0)
    j = 0
    while min(per.values()) < orders_per_municipality and j < 400:
        j += 1
        order, placed = b.order(j, employers)
        muni = order.municipality_code
        if placed.family in clear or per[muni] >= orders_per_municipality:
            continue
        per[muni] += 1
        doc = order.model_dump(mode="json", exclude_none=True)
        doc["job_order_id"] = f"jo-demo-{j:04d}"
        orders.append(doc)
    return DemoDocuments(cards, orders)


def load_demo_documents(
    events_url: str,
    docs: DemoDocuments,
    token_for: Callable[[str], str],
    workers: int = 4,
) -> int:
    """Post the documents through the events API (cards first, then orders), as a consultant
    of each one's municipality; returns how many were accepted (202). Already on record
    (409) or refused (a 4xx for a document the rules no longer take): skipped."""
    tokens = {m: token_for(m) for m in DEMO_MUNICIPALITIES}

    def post(client: httpx.Client, path: str, doc: dict[str, Any]) -> bool:
        auth = {"Authorization": f"Bearer {tokens[doc['municipality_code']]}"}
        return client.post(path, json=doc, headers=auth).status_code == 202

    accepted = 0
    with (
        httpx.Client(base_url=events_url, timeout=30) as client,
        ThreadPoolExecutor(workers) as pool,
    ):
        for path, batch in (("/v1/competence-cards", docs.cards), ("/v1/job-orders", docs.orders)):
            accepted += sum(pool.map(lambda d, p=path: post(client, p, d), batch))
    return accepted
