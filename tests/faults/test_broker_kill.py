"""SIGKILL the broker under load, on durable storage (Tansu on the embedded S3 server, the
`jobmatch up` default): nothing it acknowledged may be lost, and the services carry on."""

from __future__ import annotations

import pytest

from services.chaos.report import Inv
from tests.faults.conftest import Drill, Phase, options, run_drill

PHASES = (Phase("control", commands=20), Phase("broker", ("broker",)))


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    return run_drill(options(tmp_path_factory.mktemp("chaos-broker"), storage="durable"), PHASES)


def test_the_broker_and_every_service_are_ready_again(drill: Drill) -> None:
    (recovery,) = drill.recovered("broker")
    assert recovery.seconds is not None, recovery.detail
    assert drill.report("broker").check(Inv.NO_EXITS).ok


def test_a_broker_kill_loses_no_acknowledged_command(drill: Drill) -> None:
    assert drill.report("control").check(Inv.ACKED).ok
    assert drill.new("broker", Inv.ACKED) == []
    assert drill.new("broker", Inv.NO_DUPLICATES) == []


def test_after_a_broker_kill_views_and_matching_agree_with_the_log(drill: Drill) -> None:
    report = drill.report("broker")
    assert report.check(Inv.SETTLED).ok, report.check(Inv.SETTLED).summary
    for invariant in (Inv.VIEWS, Inv.NOT_DOUBLED, Inv.NO_ORPHANS, Inv.WRITE_SIDE):
        assert drill.new("broker", invariant) == [], invariant
