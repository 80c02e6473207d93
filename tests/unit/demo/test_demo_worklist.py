"""The synthetic cards and orders `jobmatch up --demo` adds for the worklists (pure)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.demo.worklist import DEMO_MUNICIPALITIES, EXAMPLE_CERTIFICATES, demo_documents


def test_demo_documents_fill_both_municipalities_and_keep_clear_of_the_examples() -> None:
    today = dt.date(2026, 11, 30)
    docs = demo_documents(cards_per_municipality=20, orders_per_municipality=4, today=today)
    assert len(docs.cards) == 40 and len(docs.orders) == 8
    assert set(Counter(o["municipality_code"] for o in docs.orders).values()) == {4}
    assert {c["municipality_code"] for c in docs.cards} == set(DEMO_MUNICIPALITIES)
    for doc in docs.cards:
        card = CompetenceCard.model_validate(doc)
        # Without these, no synthetic card can be suggested for the example orders.
        assert not {c.casefold() for c in card.certificates} & EXAMPLE_CERTIFICATES
        assert card.citizen_id.startswith("cit-demo-")
    for doc in docs.orders:
        order = JobOrder.model_validate(doc)
        assert order.job_order_id.startswith("jo-demo-")
        assert order.start_date is None or order.start_date >= today
    again = demo_documents(cards_per_municipality=20, orders_per_municipality=4, today=today)
    assert again == docs  # the same seed, the same documents: a second run adds nothing
