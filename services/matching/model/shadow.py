"""A shadow run: the recorded history replayed with a candidate model beside the active one.

Before anyone approves a version, `jobmatch model shadow CANDIDATE` shows how its
suggestions would have differed from the active model's on what actually happened:

- the same matching machinery as the worker (hard filters, top-k per order, capacity per
  citizen, consents, rejections) is driven through the recorded events in time order, once
  per model (`MatchingState.apply`; the recorded suggestions and their reviews are read as
  the worker reads them, and `ModelActivated` records are not followed: each run keeps its
  model); every suggestion a run makes is collected per order;
- **outcomes**: AUC, NDCG@10 and precision@10 of each model on the recorded outcomes (a
  suggestion whose employer hired is good; rejected, declined or a negative drop-out is
  poor), the card and order as they were when suggested, as `jobmatch model evaluate`
  measures them; and how many of the recorded hires each run would have suggested;
- **overlap**: per order, the Jaccard overlap of the citizens the two runs suggested (over
  the order's life), averaged over the orders either run suggested anyone for, and the
  pairs both, only the active or only the candidate suggested;
- **exposure**: coverage (the share of citizens with a card suggested at least once),
  congestion (Gini of how many orders each citizen was suggested to), the most orders one
  citizen was suggested to, and the share of suggestions that went to the top 10 % of
  citizens;
- **fairness** (with the consent-based monitoring file): selection rates per gender and
  origin group relative to the eligible pool, with the four-fifths flag
  (`fairness.group_rates`), for each run.

Pure apart from the model objects it is handed: the CLI reads the events and the registry.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_auc_score

from schemas.envelope import Event
from services.matching.domain.ranking import exposure
from services.matching.domain.state import MatchingState, Suggest
from services.matching.model.dataset import Example, from_events
from services.matching.model.fairness import consented, eligible_and_selected, group_rates
from services.matching.model.training import per_order_ranking

Scores = Callable[[Sequence[Example]], np.ndarray]
ATTRIBUTES: tuple[Literal["gender", "origin_group"], ...] = ("gender", "origin_group")


@dataclass
class Run:
    """What one model would have suggested over the history."""

    version: str
    # order -> citizens suggested to it at some point.
    suggested: dict[str, set[str]] = field(default_factory=dict)
    announcements: int = 0

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {(oid, cid) for oid, cids in self.suggested.items() for cid in cids}

    def citizens(self) -> set[str]:
        return {cid for cids in self.suggested.values() for cid in cids}


def replay_with(events: Iterable[Event], state: MatchingState) -> Run:
    """Drive `state` (its model fixed: no `models` resolver) through the events in the
    given order, collecting every suggestion it makes."""
    if state.models is not None:
        raise ValueError("a shadow run keeps its model: make the state without `models`")
    run = Run(state.scorer.model_version)
    for event in events:
        for decision in state.apply(event):
            if isinstance(decision, Suggest):
                oid = decision.order.job_order_id
                run.suggested.setdefault(oid, set()).add(decision.candidate.citizen_id)
                run.announcements += 1
    return run


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def outcome_metrics(
    examples: Sequence[Example], scores: np.ndarray, k: int = 10
) -> dict[str, float | None]:
    """AUC over all labelled pairs; NDCG@k and precision@k per order, averaged over orders
    with at least one good pair (as `training.metrics`)."""
    labels = [int(e.label or 0) for e in examples]
    auc: float | None = None
    if len(set(labels)) == 2:
        auc = round(float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64))), 4)
    ndcgs, precisions = per_order_ranking(examples, scores, k)
    return {
        "auc": auc,
        f"ndcg@{k}": _finite(float(np.mean(ndcgs))) if ndcgs else None,
        f"precision@{k}": _finite(float(np.mean(precisions))) if precisions else None,
        "orders": float(len(ndcgs)),
    }


def overlap(active: Run, candidate: Run) -> dict[str, float]:
    orders = set(active.suggested) | set(candidate.suggested)
    jaccards = []
    for oid in orders:
        a, b = active.suggested.get(oid, set()), candidate.suggested.get(oid, set())
        jaccards.append(len(a & b) / len(a | b) if a | b else 1.0)
    pa, pc = active.pairs, candidate.pairs
    return {
        "orders": float(len(orders)),
        "jaccard": round(float(np.mean(jaccards)), 4) if jaccards else 1.0,
        "pairs_both": float(len(pa & pc)),
        "pairs_only_active": float(len(pa - pc)),
        "pairs_only_candidate": float(len(pc - pa)),
    }


def exposure_of(run: Run, population: Iterable[str]) -> dict[str, float]:
    """How concentrated a run's suggestions are on few citizens."""
    people = list(population)
    lists = [sorted(cids) for cids in run.suggested.values()]
    figures = exposure(lists, people)
    counts: dict[str, int] = defaultdict(int)
    for cids in lists:
        for cid in cids:
            counts[cid] += 1
    total = sum(counts.values())
    ranked = sorted(counts.values(), reverse=True)
    top = max(1, math.ceil(len(people) / 10)) if people else 0
    return {
        **figures,
        "pairs": float(total),
        "citizens_suggested": float(len(counts)),
        "max_orders_per_citizen": float(ranked[0] if ranked else 0),
        "top_decile_share": round(sum(ranked[:top]) / total, 4) if total else 0.0,
    }


def fairness_of(
    run: Run, pool: set[str], monitoring: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    selected = run.citizens() & pool
    out: dict[str, Any] = {"consented": consented(monitoring, pool)}
    for attribute in ATTRIBUTES:
        groups = group_rates(pool, selected, monitoring, attribute)
        out[attribute] = {
            "groups": [g.model_dump() for g in groups],
            "flagged": any(g.below_four_fifths for g in groups),
            "lowest_ratio": min((g.ratio_to_highest for g in groups), default=None),
        }
    return out


def shadow(
    events: Sequence[Event],
    make_active: Callable[[], MatchingState],
    make_candidate: Callable[[], MatchingState],
    active_scores: Scores,
    candidate_scores: Scores,
    monitoring: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The shadow report (module docstring); `events` in the order they happened."""
    active_state, candidate_state = make_active(), make_candidate()
    active = replay_with(events, active_state)
    candidate = replay_with(events, candidate_state)
    labelled = from_events(events).labelled
    hires = {(e.job_order_id, e.citizen_id) for e in labelled if e.label == 1}
    pool, _ = eligible_and_selected(events, "suggested")
    population = sorted(pool)
    report: dict[str, Any] = {
        "events": len(events),
        "models": {"active": active.version, "candidate": candidate.version},
        "k": active_state.k,
        "capacity": active_state.capacity,
        "outcomes": {
            "labelled": len(labelled),
            "good": sum(1 for e in labelled if e.label == 1),
            "hires": len(hires),
        },
        "overlap": overlap(active, candidate),
    }
    for name, run, scores in (
        ("active", active, active_scores),
        ("candidate", candidate, candidate_scores),
    ):
        part: dict[str, Any] = {
            "version": run.version,
            "announcements": run.announcements,
            "outcomes": outcome_metrics(labelled, scores(labelled)) if labelled else {},
            "hires_suggested": len(hires & run.pairs),
            "exposure": exposure_of(run, population),
        }
        if monitoring is not None:
            part["fairness"] = fairness_of(run, pool, monitoring)
        report[name] = part
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


TEXTS: dict[str, dict[str, str]] = {
    "da": {
        "title": "Skyggekørsel: {candidate} mod den aktive model {active}",
        "history": "Historik: {events} hændelser, {labelled} afgjorte forslag ({good} gode), "
        "{hires} ansættelser; top {k} pr. ordre, højst {capacity} pr. borger",
        "outcomes": "Mod de registrerede udfald",
        "hires": "ansættelser den ville have foreslået",
        "overlap": "Overlap mellem forslagene",
        "jaccard": "Jaccard pr. ordre (gennemsnit over {orders} ordrer)",
        "pairs": "par: begge {both}, kun aktiv {active}, kun kandidat {candidate}",
        "exposure": "Eksponering (hvor samlet forslagene er på få borgere)",
        "coverage": "dækning (andel borgere foreslået)",
        "congestion": "koncentration (Gini)",
        "max": "flest ordrer for én borger",
        "top": "andel af forslag til de 10 % mest foreslåede",
        "fairness": "Fairness (udvælgelsesrate pr. gruppe ift. den højeste; * under 4/5)",
        "no_monitoring": "Fairness: ingen overvågningsfil (--monitoring)",
        "consented": "samtykke til overvågning: {n}",
        "gender": "køn",
        "active": "aktiv",
        "candidate": "kandidat",
        "origin_group": "oprindelse",
    },
    "en": {
        "title": "Shadow run: {candidate} against the active model {active}",
        "history": "History: {events} events, {labelled} decided suggestions ({good} good), "
        "{hires} hires; top {k} per order, at most {capacity} per citizen",
        "outcomes": "Against the recorded outcomes",
        "hires": "hires it would have suggested",
        "overlap": "Overlap of the suggestions",
        "jaccard": "Jaccard per order (mean over {orders} orders)",
        "pairs": "pairs: both {both}, only active {active}, only candidate {candidate}",
        "exposure": "Exposure (how concentrated suggestions are on few citizens)",
        "coverage": "coverage (share of citizens suggested)",
        "congestion": "congestion (Gini)",
        "max": "most orders for one citizen",
        "top": "share of suggestions to the top 10 % most suggested",
        "fairness": "Fairness (selection rate per group relative to the highest; * below 4/5)",
        "no_monitoring": "Fairness: no monitoring file (--monitoring)",
        "consented": "consented to monitoring: {n}",
        "gender": "gender",
        "active": "active",
        "candidate": "candidate",
        "origin_group": "origin",
    },
}


def render(report: Mapping[str, Any], lang: str = "da") -> str:
    """The report as text, Danish or English."""
    t = TEXTS["en" if lang == "en" else "da"]
    a, c = report["active"], report["candidate"]
    lines = [
        t["title"].format(candidate=c["version"], active=a["version"]),
        t["history"].format(
            events=report["events"],
            labelled=report["outcomes"]["labelled"],
            good=report["outcomes"]["good"],
            hires=report["outcomes"]["hires"],
            k=report["k"],
            capacity=report["capacity"],
        ),
        "",
        f"{'':<44} {t['active']:>12} {t['candidate']:>12}",
        t["outcomes"],
    ]

    def row(label: str, x: Any, y: Any) -> None:
        lines.append(f"  {label:<42} {_fmt(x):>12} {_fmt(y):>12}")

    for key, label in (("auc", "AUC"), ("ndcg@10", "NDCG@10"), ("precision@10", "P@10")):
        row(
            label,
            a["outcomes"].get(key),
            c["outcomes"].get(key),
        )
    row(t["hires"], a["hires_suggested"], c["hires_suggested"])
    lines.append(t["exposure"])
    row(t["coverage"], a["exposure"]["coverage"], c["exposure"]["coverage"])
    row(t["congestion"], a["exposure"]["congestion"], c["exposure"]["congestion"])
    row(t["max"], a["exposure"]["max_orders_per_citizen"], c["exposure"]["max_orders_per_citizen"])
    row(t["top"], a["exposure"]["top_decile_share"], c["exposure"]["top_decile_share"])
    ov = report["overlap"]
    lines += [
        t["overlap"],
        f"  {t['jaccard'].format(orders=_fmt(ov['orders']))}: {_fmt(ov['jaccard'])}",
        "  "
        + t["pairs"].format(
            both=_fmt(ov["pairs_both"]),
            active=_fmt(ov["pairs_only_active"]),
            candidate=_fmt(ov["pairs_only_candidate"]),
        ),
    ]
    if "fairness" not in a:
        lines.append(t["no_monitoring"])
        return "\n".join(lines)
    lines += [t["fairness"], "  " + t["consented"].format(n=a["fairness"]["consented"])]
    for attribute in ATTRIBUTES:
        lines.append(f"  {t[attribute]}")
        ga = {g["group"]: g for g in a["fairness"][attribute]["groups"]}
        gc = {g["group"]: g for g in c["fairness"][attribute]["groups"]}
        for group in sorted(set(ga) | set(gc)):

            def cell(g: Mapping[str, Any] | None) -> str:
                if g is None:
                    return "-"
                flag = "*" if g["below_four_fifths"] else ""
                return f"{g['rate']:.3f}/{g['ratio_to_highest']:.2f}{flag}"

            lines.append(f"    {group:<40} {cell(ga.get(group)):>12} {cell(gc.get(group)):>12}")
    return "\n".join(lines)
