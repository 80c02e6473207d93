"""`jobmatch up` brings back what crashed: each service SIGKILLed under a little load comes
back ready without anyone stepping in, and `jobmatch up` keeps running."""

from __future__ import annotations

import pytest

from services.chaos.launch import SERVICES
from tests.faults.conftest import Drill, Phase, options, run_drill


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    home = tmp_path_factory.mktemp("chaos-up")
    opts = options(home, launcher="up", recover_timeout=90.0, lanes=2, readers=0)
    # No reconciliation here: test_kills.py checks the data; this is about the restarts.
    return run_drill(opts, [Phase("kills", SERVICES, commands=30, reconcile=False)])


@pytest.mark.parametrize("kind", SERVICES)
def test_jobmatch_up_restarts_a_killed_service(drill: Drill, kind: str) -> None:
    found = drill.recovered(kind)
    stopped = [line for line in drill.log if "not injected" in line or "exited" in line]
    assert found, f"{kind} was never killed: {stopped}"
    (recovery,) = found
    assert recovery.seconds is not None, f"{kind} not back: {stopped or recovery.detail}"
    assert recovery.restarted_by == "supervisor"
