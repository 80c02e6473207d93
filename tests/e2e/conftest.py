"""The whole stack as `jobmatch up` runs it: own broker, own Redis, three service processes.

One per test module, so that no module sees another's data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.stack import Stack, free_port_base


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(home=tmp_path_factory.mktemp("stack"), ports=free_port_base(), memory=True)
    with running.running():
        yield running
