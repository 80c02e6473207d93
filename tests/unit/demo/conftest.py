from __future__ import annotations

import datetime as dt

import pytest

from services.demo.synthetic import SyntheticHistory, generate

START = dt.date(2025, 1, 1)


@pytest.fixture(scope="package")
def history() -> SyntheticHistory:
    """Big enough for the statistical checks, small enough to stay well under a second."""
    return generate(n_cards=700, n_orders=160, seed=11, start=START, months=14)


@pytest.fixture(scope="package")
def small() -> SyntheticHistory:
    return generate(n_cards=120, n_orders=30, seed=3, start=START, months=8)
