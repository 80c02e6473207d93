"""SIGKILL each service under load, then wipe Redis, on one stack (memory storage): after
each fault, the whole log against what commands were told, what the views show and what
the matching worker holds.

Phases, in order: a control without faults; the matching worker, the profiles service and
the events service killed, each in the middle of its phase; Redis wiped (FLUSHALL) while
the services run. The last phase also compares the views' checksum with a rebuild's and
the matching state with a fresh replay's. The broker kill needs durable storage: see
test_broker_kill.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.chaos.faults import FLUSH
from services.chaos.report import Inv
from tests.faults.conftest import Drill, Phase, options, run_drill

KILLS = ("matching", "profiles", "events")
PHASES = (
    Phase("control", commands=30),
    *(Phase(kind, (kind,)) for kind in KILLS),
    Phase("flush", (FLUSH,), final=True),
)


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    home: Path = tmp_path_factory.mktemp("chaos-kills")
    return run_drill(options(home), PHASES)


def test_without_faults_every_invariant_holds(drill: Drill) -> None:
    """The control: a harness that finds defects in a quiet run would prove nothing."""
    report = drill.report("control")
    assert report.counts["202s"] > 0
    assert not report.failed(), [(c.name, c.summary) for c in report.failed()]


@pytest.mark.parametrize("kind", KILLS)
def test_the_killed_service_is_ready_again(drill: Drill, kind: str) -> None:
    (recovery,) = drill.recovered(kind)
    assert recovery.seconds is not None, recovery.detail


@pytest.mark.parametrize("kind", KILLS)
def test_a_kill_under_load_loses_no_acknowledged_command(drill: Drill, kind: str) -> None:
    assert drill.new(kind, Inv.ACKED) == []


@pytest.mark.parametrize("kind", KILLS)
def test_a_kill_under_load_repeats_no_command_event(drill: Drill, kind: str) -> None:
    assert drill.new(kind, Inv.NO_DUPLICATES) == []


@pytest.mark.parametrize("kind", KILLS)
def test_a_kill_under_load_leaves_no_orphan_or_doubled_suggestion(drill: Drill, kind: str) -> None:
    found = [
        *drill.new(kind, Inv.NO_ORPHANS),
        *drill.new(kind, Inv.NOT_DOUBLED),
        *drill.new(kind, Inv.NOT_RESURRECTED),
    ]
    assert found == []


@pytest.mark.parametrize("kind", KILLS)
def test_after_a_kill_the_write_side_decides_as_the_log(drill: Drill, kind: str) -> None:
    """E.g. a SIGKILL between the aggregate's commit and the append must not leave a card
    the write side knows and the log does not (the re-registration would be refused)."""
    assert drill.new(kind, Inv.WRITE_SIDE) == []


@pytest.mark.parametrize("kind", KILLS)
def test_after_a_kill_the_views_hold_every_event(drill: Drill, kind: str) -> None:
    assert drill.new(kind, Inv.SETTLED) == [] and drill.report(kind).check(Inv.SETTLED).ok
    assert drill.new(kind, Inv.VIEWS) == []


def test_after_a_redis_flush_the_views_come_back_complete(drill: Drill) -> None:
    report = drill.report("flush")
    assert report.check(Inv.SETTLED).ok, report.check(Inv.SETTLED).summary
    assert drill.new("flush", Inv.VIEWS) == []
    rebuild = report.check(Inv.REBUILD)
    assert rebuild.ok, rebuild.summary


def test_after_a_redis_flush_the_write_side_decides_as_the_log(drill: Drill) -> None:
    """No card or order registered twice, no version repeated, no change refused that the
    log allows: the write side's state comes from the log, not from what Redis kept."""
    assert drill.new("flush", Inv.WRITE_SIDE) == []


def test_the_matching_state_equals_a_fresh_replay(drill: Drill) -> None:
    replay = drill.report("flush").check(Inv.REPLAY)
    assert replay.ok, replay.summary


def test_no_internal_error_and_nothing_died_by_itself(drill: Drill) -> None:
    report = drill.report("flush")
    for invariant in (Inv.NO_500, Inv.NO_EXITS):
        check = report.check(invariant)
        assert check.ok, [f.detail for f in check.findings[:5]]
