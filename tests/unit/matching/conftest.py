from __future__ import annotations

import pytest

from services.matching.linking import TaxonomyLinker, default_linker


@pytest.fixture(scope="session")
def linker() -> TaxonomyLinker:
    return default_linker()
