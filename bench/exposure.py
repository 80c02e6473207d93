"""Coverage, congestion and relevance of the suggestions, with and without the capacity rule.

One run on a synthetic history (`services.demo.synthetic`), whose hidden preference model
gives the true probability of a good placement for every pair, so the cost of spreading
suggestions is measured in true relevance, not in the system's own score.

    .venv/bin/python bench/exposure.py [--cards 2000 --orders 400 --seed 7]
        [--without-placements]

The history's placements are read too (`PlacementStarted`, `PlacementEnded`): a citizen in a
placement that has not ended is suggested nowhere, as in the matching worker. Coverage and
congestion are given over every card and over the cards that may be suggested (not placed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from schemas.citizens import CompetenceCardRegistered
from schemas.jobs import JobOrderPosted
from schemas.placements import PlacementEnded, PlacementStarted
from services.demo.synthetic import generate
from services.matching.domain.ranking import exposure
from services.matching.domain.scoring import RuleScorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import default_linker, distance_km, skills_of

UNLIMITED = 10**6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--without-placements",
        action="store_true",
        help="ignore the history's placements (as before citizens in one were left out)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    history = generate(args.cards, args.orders, args.seed, dt.date(2025, 1, 1), 18)
    row = {c.citizen_id: i for i, c in enumerate(history.cards)}
    col = {o.job_order_id: j for j, o in enumerate(history.orders)}
    kinds: tuple[type, ...] = (CompetenceCardRegistered, JobOrderPosted)
    if not args.without_placements:
        kinds += (PlacementStarted, PlacementEnded)
    facts = [e for e in history.events if isinstance(e.payload, kinds)]
    linker = default_linker()
    print(
        f"synthetic history: {len(history.cards)} cards, {len(history.orders)} orders, "
        f"seed {args.seed}, k={args.k} ({time.perf_counter() - started:.1f} s)"
    )
    print(
        f"{'capacity':>9} {'coverage':>9} {'congestion':>11} {'suggested':>10} "
        f"{'mean true p':>12} {'max per citizen':>16} {'placed':>7} "
        f"{'cov. avail.':>12} {'cong. avail.':>13}"
    )
    for capacity in (UNLIMITED, 10, 5, 3):
        state = MatchingState(
            linker,
            RuleScorer(distance_km),
            k=args.k,
            capacity=capacity,
            index=CardIndex(skills_of),
        )
        for event in facts:
            state.load(event)
        state.rebuild_rankings()
        lists = [list(current) for current in state.suggestions.values()]
        figures = exposure(lists, list(state.cards))
        available = [cid for cid in state.cards if cid not in state.placed]
        of_available = exposure(lists, available)
        pairs = [(row[c], col[o]) for o, cur in state.suggestions.items() for c in cur]
        true_p = float(np.mean([history.p_good[i, j] for i, j in pairs])) if pairs else 0.0
        per_citizen: dict[str, int] = {}
        for current in lists:
            for cid in current:
                per_citizen[cid] = per_citizen.get(cid, 0) + 1
        label = "none" if capacity == UNLIMITED else str(capacity)
        print(
            f"{label:>9} {figures['coverage']:>9.3f} {figures['congestion']:>11.3f} "
            f"{len(pairs):>10} {true_p:>12.3f} {max(per_citizen.values(), default=0):>16} "
            f"{len(state.cards) - len(available):>7} {of_available['coverage']:>12.3f} "
            f"{of_available['congestion']:>13.3f}"
        )


if __name__ == "__main__":
    main()
