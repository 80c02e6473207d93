"""Held-out evaluation of the ESCO occupation linker against a plain TF-IDF baseline.

Run from the repo root::

    .venv/bin/python bench/linking.py [--seed 7] [--holdout-fraction 0.25]

Four query sets, each scored for the baseline and the product side by side:

1. ``held-out``: Danish ESCO alternative labels removed from the index and predicted back to
   their occupation. Both linkers are fitted on the remaining labels only.
2. ``titles``: ``bench/data/titles_da.csv``, Danish job titles in the style of job ads and the
   national title lists, each with the ESCO occupations accepted as correct.
3. ``titles_da_2``: ``bench/data/titles_da_2.csv``, a second set of Danish titles for
   unskilled and semi-skilled work, written before looking at the linker's output and never
   used for tuning (``--dev`` skips it, for development runs).
4. ``seed jobs``: ``bench/data/seed_jobs.csv``, the jobs of the seed programmes (the 12 VIP2
   jobpakker by VIP2's names, IGU jobs in care, cleaning, kitchen, warehouse, transport,
   agriculture and childcare, the demo's titles) with the occupations accepted as right;
   ``tests/unit/reference/test_seed_jobs.py`` requires hit@1 = 1 on it.

The product includes our curated Danish job titles (``services/reference/data/
job_titles_da.csv``); on the held-out set, titles equal to a held-out label are left out.

The baseline is the one the issue names: ``TfidfVectorizer(analyzer="char_wb",
sublinear_tf=True)`` over Danish labels only, cosine similarity, an occupation scores its best
label. It is reported for both n-gram ranges the issue mentions; the gain is measured against
the stronger of the two.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.reference.esco import (  # noqa: E402
    DATA_DIR,
    OCCUPATIONS_FILE,
    normalise,
    read_occupations,
)
from services.reference.evaluation import (  # noqa: E402
    BASELINE_RANGES,
    TITLES_FILE,
    TITLES_HELDOUT_FILE,
    BaselineLinker,
    Link,
    Metrics,
    Query,
    evaluate,
    holdout,
    read_titles,
)
from services.reference.occupation_linker import (  # noqa: E402
    OccupationLinker,
    curated_titles,
    target_job_priors,
)

DEFAULT_SEED = 7
SEED_JOBS_FILE = ROOT / "bench" / "data" / "seed_jobs.csv"
DEFAULT_FRACTION = 0.25


def _row(name: str, m: Metrics) -> str:
    return f"| {name:<26} | {m.n:>4} | {m.mrr:.3f} | {m.hit1:.3f} | {m.hit10:.3f} |"


def compare(
    title: str, baselines: dict[str, Link], product: Link, queries: Sequence[Query]
) -> tuple[Metrics, Metrics]:
    print(f"\n### {title}\n")
    print("| linker                     |    n | MRR@10 | hit@1 | hit@10 |")
    print("|---|---|---|---|---|")
    best: Metrics | None = None
    for name, link in baselines.items():
        m = evaluate(link, queries)
        print(_row(name, m))
        if best is None or m.mrr > best.mrr:
            best = m
    assert best is not None
    ours = evaluate(product, queries)
    print(_row("product", ours))
    gain = 100.0 * (ours.mrr - best.mrr) / best.mrr if best.mrr else float("inf")
    print(f"\nrelative MRR gain over the best baseline: {gain:+.1f} %")
    return best, ours


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--holdout-fraction", type=float, default=DEFAULT_FRACTION)
    parser.add_argument("--titles", type=Path, default=TITLES_FILE)
    parser.add_argument("--titles-heldout", type=Path, default=TITLES_HELDOUT_FILE)
    parser.add_argument(
        "--dev", action="store_true", help="skip the held-out titles set (development runs)"
    )
    args = parser.parse_args(argv)
    if not 0.0 < args.holdout_fraction < 1.0:
        parser.error("--holdout-fraction must be between 0 and 1")

    started = time.perf_counter()
    occupations = read_occupations(DATA_DIR / OCCUPATIONS_FILE)
    train, queries = holdout(occupations, args.seed, args.holdout_fraction)
    print(
        f"seed {args.seed}, hold-out fraction {args.holdout_fraction}: "
        f"{len(queries)} held-out Danish alt labels"
    )
    baselines: dict[str, Link] = {
        f"baseline char_wb {lo}-{hi}": BaselineLinker(train.values(), (lo, hi)).link
        for lo, hi in BASELINE_RANGES
    }
    # The product's curated Danish titles, less any that equals a held-out label (it would
    # put the answer back into the index).
    held = {normalise(q.text) for q in queries}
    curated = [(t, uri) for t, uri in curated_titles() if normalise(t) not in held]
    print(
        f"curated titles: {len(curated)} of {len(curated_titles())} (equal to a held-out label: "
        f"{len(curated_titles()) - len(curated)})"
    )
    product = OccupationLinker(train.values(), target_job_priors(), titles=curated)
    compare("held-out ESCO alt labels", baselines, product.search, queries)

    titles = read_titles(args.titles)
    baselines = {
        f"baseline char_wb {lo}-{hi}": BaselineLinker(occupations.values(), (lo, hi)).link
        for lo, hi in BASELINE_RANGES
    }
    product = OccupationLinker(occupations.values(), target_job_priors(), titles=curated_titles())
    compare(f"Danish job titles ({args.titles.name})", baselines, product.search, titles)
    if not args.dev:
        heldout_titles = read_titles(args.titles_heldout)
        compare(
            f"held-out Danish job titles ({args.titles_heldout.name}, never tuned on)",
            baselines,
            product.search,
            heldout_titles,
        )
    seeds = read_titles(SEED_JOBS_FILE)
    compare(
        f"the seeds' jobs ({SEED_JOBS_FILE.name}: 12 VIP2 jobpakker, IGU jobs, demo titles)",
        baselines,
        product.search,
        seeds,
    )
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
