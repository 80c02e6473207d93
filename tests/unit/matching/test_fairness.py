"""Selection rates per monitored group and the four-fifths flag."""

from __future__ import annotations

from services.matching.model.fairness import consented, group_rates


def test_four_fifths_flag_and_consent() -> None:
    pool = {f"c{i}" for i in range(100)}
    monitoring = {
        f"c{i}": {"gender": "female" if i < 50 else "male", "origin_group": "x", "consented": True}
        for i in range(100)
    }
    monitoring["c99"]["consented"] = False  # not counted: no consent to monitoring
    selected = {f"c{i}" for i in range(0, 20)} | {f"c{i}" for i in range(50, 90)}
    rates = {g.group: g for g in group_rates(pool, selected, monitoring, "gender")}
    assert rates["female"].eligible == 50 and rates["female"].selected == 20
    assert rates["male"].eligible == 49 and rates["male"].selected == 40
    assert rates["male"].ratio_to_highest == 1.0
    assert rates["female"].ratio_to_highest == round((20 / 50) / (40 / 49), 4)
    assert rates["female"].below_four_fifths and not rates["male"].below_four_fifths
    assert consented(monitoring, pool) == 99


def test_small_groups_are_not_reported() -> None:
    pool = {"a", "b", "c"}
    monitoring = {cid: {"origin_group": "tiny", "consented": True} for cid in pool}
    assert group_rates(pool, {"a"}, monitoring, "origin_group") == []
