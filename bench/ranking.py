"""Ranking evaluation: a person's past titles and wishes -> the jobs worth opening.

Run from the repo root::

    .venv/bin/python bench/ranking.py [--seed 14] [--occupations 400] [--queries 500]

It resembles the real task (applicants' past job titles and wished positions against the
titles of the jobs they open), with the truth taken from outside the linker and the model:

* jobs: for each of a random sample of ESCO occupations (plus the occupations of the 12
  jobpakker in ``target_jobs.csv``), two job orders titled with labels of the occupation,
  Danish or English, preferred or alternative, some with the extra words job ads carry; and
  one order per jobpakke titled with its Danish name (``Serviceassistent``,
  ``Køkkenmedhjælper``, ...).
* persons: for an occupation that has jobs, one or two past job titles drawn from the
  occupation's *alternative* labels that its jobs do not use (so no title is shared
  verbatim), Danish or English, often with a typo or extra words; half of them also wish for
  a job, titled with an alternative label of the same occupation or of another occupation in
  its ISCO unit group.
* the linker does not know the persons' labels: they are removed from the taxonomy the
  product links with (as `bench/linking.py` holds labels out), so the product has to find the
  occupation from the words as it would for a real person's title, not look the label up.
  Labels equal to one of the product's curated Danish titles are never used for persons.
* truth: a job of the person's occupation is relevant with grade 2 (for a jobpakke order:
  any of the jobpakke's listed occupations), a job of another occupation in the same ISCO
  unit group (4 digits) with grade 1, everything else 0.

Each person ranks every job. Reported, side by side in one run: the product as
``jobmatch match rank --per card`` ranks (cards and orders built from the documents as
`services.matching.batch` builds them, scored with each approved shipped model through the
matching worker's one-card-against-all-orders path, `OrderIndex.score_card`, which equals
the per-pair scorer; the run checks that on a sample of persons against `batch.rank` itself),
against a plain character n-gram TF-IDF (``char_wb`` 3-5,
sublinear tf, fitted on the evaluation's own titles) between the person's titles and the
job's title. Metrics: NDCG@10 (graded) and HR@10, on the ``test`` half of the persons
(occupations split at random with the seed) and on ``dev``; nothing in the product is tuned on
either. The ratio product / TF-IDF is the issue's goal (>= 1.3 on NDCG@10).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.matching.batch import profiles_of_cards, profiles_of_orders, rank  # noqa: E402
from services.matching.domain.features import CardProfile, Linker, OrderProfile  # noqa: E402
from services.matching.domain.learned import LearnedScorer  # noqa: E402
from services.matching.domain.ranking_metrics import hit_at_k, ndcg_at_k  # noqa: E402
from services.matching.domain.vectorized import OrderIndex, round4  # noqa: E402
from services.matching.linking import (  # noqa: E402
    TaxonomyLinker,
    default_linker,
    distance_km,
    skills_of,
)
from services.matching.model.registry import SHIPPED, Registry  # noqa: E402
from services.reference.esco import (  # noqa: E402
    DATA_DIR,
    GLOSSARY_FILE,
    ISCO_FILE,
    OCCUPATIONS_FILE,
    SKILLS_FILE,
    Occupation,
    Taxonomy,
    normalise,
    read_glossary,
    read_isco_groups,
    read_occupations,
    read_skills,
)
from services.reference.occupation_linker import curated_titles  # noqa: E402

K = 10
EXTRA_DA = ["søges", "(m/k)", "erfaren", "i Aarhus", "deltid", "fuldtid", "vikar", "ufaglært"]
EXTRA_EN = ["senior", "junior", "(part-time)", "wanted", "- London", "trainee", "full time"]


@dataclass(frozen=True)
class Job:
    id: str
    title: str
    occupations: frozenset[str]  # the occupations it is a job of (several for a jobpakke)


@dataclass
class Person:
    id: str
    occupation: str
    titles: list[str]
    wishes: list[str]
    split: str
    relevance: dict[str, int] = field(default_factory=dict)


@dataclass
class EvalSet:
    jobs: list[Job]
    persons: list[Person]
    # Occupation URI -> the labels given to persons (held out of the product's linker).
    held_out: dict[str, set[str]] = field(default_factory=dict)


def _labels(occ: Occupation) -> list[str]:
    return list(dict.fromkeys(occ.labels()))


def _alt_labels(occ: Occupation, curated: set[str]) -> list[str]:
    return [a for a in dict.fromkeys((*occ.alt_da, *occ.alt_en)) if normalise(a) not in curated]


def typo(word: str, rng: random.Random) -> str:
    """One slip of the keyboard: a letter dropped, doubled or swapped with the next."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def noisy(title: str, rng: random.Random, p_typo: float, p_extra: float) -> str:
    words = title.split()
    if words and rng.random() < p_typo:
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        words[longest] = typo(words[longest], rng)
    if rng.random() < p_extra:
        extra = rng.choice(EXTRA_DA + EXTRA_EN)
        words = [extra, *words] if rng.random() < 0.3 else [*words, extra]
    out = " ".join(words)
    return out[:1].upper() + out[1:] if rng.random() < 0.5 else out


def target_jobs(path: Path = DATA_DIR / "target_jobs.csv") -> dict[str, list[str]]:
    """Jobpakke name (Danish, without the English gloss) -> its ESCO occupation URIs."""
    out: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = row["job"].split("(")[0].strip()
            out[name].append(row["esco_uri"])
    return dict(out)


def build(seed: int, n_occupations: int, n_queries: int) -> EvalSet:
    rng = random.Random(seed)
    occupations = read_occupations(DATA_DIR / OCCUPATIONS_FILE)
    by_isco: dict[str, list[str]] = defaultdict(list)
    for uri, occ in sorted(occupations.items()):
        by_isco[occ.isco[:4]].append(uri)
    packs = target_jobs()
    pack_uris = sorted({u for uris in packs.values() for u in uris if u in occupations})
    curated = {normalise(t) for t, _ in curated_titles()}
    usable = sorted(u for u, o in occupations.items() if len(_alt_labels(o, curated)) >= 2)
    pool = sorted(set(rng.sample(usable, n_occupations)) | set(pack_uris))
    # Occupations split into dev and test at random: a person belongs to its occupation's half.
    split = {u: ("test" if rng.random() < 0.5 else "dev") for u in pool}

    jobs: list[Job] = []
    job_labels: dict[str, set[str]] = defaultdict(set)
    for uri in pool:
        labels = _labels(occupations[uri])
        rng.shuffle(labels)
        # Preferred labels first: job ads use the common name more often than a variant.
        labels.sort(key=lambda t: t not in (occupations[uri].label_da, occupations[uri].label_en))
        for title in labels[:2]:
            job_labels[uri].add(title)
            shown = noisy(title, rng, p_typo=0.0, p_extra=0.3)
            jobs.append(Job(f"job-{len(jobs):05d}", shown, frozenset({uri})))
    for name, uris in sorted(packs.items()):
        jobs.append(Job(f"job-{len(jobs):05d}", name, frozenset(u for u in uris if u in pool)))

    def own(uri: str) -> list[str]:
        return [a for a in _alt_labels(occupations[uri], curated) if a not in job_labels[uri]]

    persons: list[Person] = []
    held_out: dict[str, set[str]] = defaultdict(set)
    candidates = [u for u in pool if own(u)]
    for q in range(n_queries):
        uri = rng.choice(candidates)
        occ = occupations[uri]
        picked = rng.sample(own(uri), min(len(own(uri)), rng.choice((1, 2))))
        held_out[uri].update(picked)
        titles = [noisy(t, rng, p_typo=0.4, p_extra=0.3) for t in picked]
        wishes = []
        if rng.random() < 0.5:
            siblings = [u for u in by_isco[occ.isco[:4]] if u != uri and own(u)]
            wish_uri = rng.choice(siblings) if siblings and rng.random() < 0.5 else uri
            label = rng.choice(own(wish_uri))
            held_out[wish_uri].add(label)
            wishes.append(noisy(label, rng, p_typo=0.3, p_extra=0.2))
        person = Person(f"person-{q:05d}", uri, titles, wishes, split[uri])
        for job in jobs:
            if uri in job.occupations:
                person.relevance[job.id] = 2
            elif any(occupations[u].isco[:4] == occ.isco[:4] for u in job.occupations):
                person.relevance[job.id] = 1
        persons.append(person)
    return EvalSet(jobs, persons, dict(held_out))


def heldout_linker(data: EvalSet) -> TaxonomyLinker:
    """The product's linker on a taxonomy without the labels given to persons."""
    occupations = read_occupations(DATA_DIR / OCCUPATIONS_FILE)
    for uri, labels in data.held_out.items():
        occ = occupations[uri]
        occupations[uri] = replace(
            occ,
            alt_da=tuple(a for a in occ.alt_da if a not in labels),
            alt_en=tuple(a for a in occ.alt_en if a not in labels),
        )
    taxonomy = Taxonomy(
        occupations=occupations,
        skills=read_skills(DATA_DIR / SKILLS_FILE),
        isco_groups=read_isco_groups(DATA_DIR / ISCO_FILE),
        glossary=read_glossary(DATA_DIR / GLOSSARY_FILE),
    )
    return TaxonomyLinker(taxonomy)


# -- the rankers ------------------------------------------------------------------------------


def card_doc(person: Person) -> dict[str, Any]:
    return {
        "citizen_id": person.id,
        "experience": [{"title": t, "years": 2} for t in person.titles],
        "job_wishes": [{"title": w} for w in person.wishes],
    }


def order_doc(job: Job) -> dict[str, Any]:
    return {"job_order_id": job.id, "title": job.title}


Profiles = tuple[list[tuple[str, CardProfile]], list[tuple[str, OrderProfile]]]


def profiles(data: EvalSet, linker: Linker) -> Profiles:
    cards = profiles_of_cards((card_doc(p) for p in data.persons), linker)
    orders = profiles_of_orders((order_doc(j) for j in data.jobs), linker)
    return cards, orders


def product_rankings(built: Profiles, scorer: LearnedScorer) -> dict[str, list[str]]:
    """Each person's top K jobs by the product's score (score down, then job id)."""
    cards, orders = built
    index = OrderIndex([o for _, o in orders], skills_of)
    ids = np.array([i for i, _ in orders])
    out = {}
    for cid, card in cards:
        cols, probabilities = index.score_card(card, scorer)
        scores = round4(probabilities)  # `Scored.score`, as the per-pair scorer rounds
        order = np.lexsort((ids[cols], -scores))[:K]
        out[cid] = ids[cols][order].tolist()
    return out


def check_against_batch(
    built: Profiles, scorer: LearnedScorer, ranked: dict[str, list[str]], n: int
) -> None:
    """The first n persons' lists equal what `jobmatch match rank --per card` prints."""
    cards, orders = built
    for line in rank(cards[:n], orders, scorer, "card", K):
        want = [r["id"] for r in line.ranked]
        if ranked[line.id] != want:
            raise AssertionError(f"{line.id}: {ranked[line.id]} != match rank's {want}")


def tfidf_rankings(data: EvalSet) -> dict[str, list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    person_text = [" ".join(p.titles + p.wishes) for p in data.persons]
    job_text = [j.title for j in data.jobs]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vec.fit(person_text + job_text)
    sims = (vec.transform(person_text) @ vec.transform(job_text).T).toarray()
    ids = np.array([j.id for j in data.jobs])
    out = {}
    for i, person in enumerate(data.persons):
        # Score down, then job id (the product's tie-break).
        order = np.lexsort((ids, -sims[i]))[:K]
        out[person.id] = ids[order].tolist()
    return out


def evaluate(data: EvalSet, rankings: dict[str, list[str]], split: str) -> dict[str, float]:
    persons = [p for p in data.persons if p.split == split and p.relevance]
    ndcg = [ndcg_at_k(rankings[p.id], p.relevance, K) for p in persons]
    hits = [hit_at_k(rankings[p.id], p.relevance, K) for p in persons]
    return {
        "ndcg@10": round(float(np.mean(ndcg)), 4),
        "hr@10": round(float(np.mean(hits)), 4),
        "persons": len(persons),
    }


def scorers(extra: Sequence[Path] = ()) -> list[tuple[str, LearnedScorer]]:
    """Every approved shipped model, newest (the one the service loads) first; then every
    model of the `extra` registries (candidates, approved or not)."""
    entries = [e for e in reversed(Registry(SHIPPED).entries()) if e.approved]
    for root in extra:
        entries += list(reversed(Registry(root).entries()))
    return [
        (f"model {entry.version}", LearnedScorer(entry.model(), skills_of, distance_km))
        for entry in entries
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--occupations", type=int, default=400)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--check", type=int, default=20, help="persons checked vs match rank")
    parser.add_argument(
        "--no-holdout",
        action="store_true",
        help="link with the full taxonomy (the persons' labels are then in the index)",
    )
    parser.add_argument(
        "--models", type=Path, action="append", default=[], help="also a registry's models"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    started = time.monotonic()
    data = build(args.seed, args.occupations, args.queries)
    print(
        f"seed {args.seed}: {len(data.jobs)} jobs, {len(data.persons)} persons "
        f"({sum(p.split == 'test' for p in data.persons)} test), "
        f"mean relevant jobs per person {np.mean([len(p.relevance) for p in data.persons]):.1f}"
    )
    results: dict[str, dict[str, dict[str, float]]] = {}
    rankings = {"tfidf char 3-5": tfidf_rankings(data)}
    t0 = time.monotonic()
    linker = default_linker() if args.no_holdout else heldout_linker(data)
    built = profiles(data, linker)
    print(f"  linker and profiles: {time.monotonic() - t0:.1f} s")
    for name, scorer in scorers(args.models):
        t0 = time.monotonic()
        rankings[name] = product_rankings(built, scorer)
        check_against_batch(built, scorer, rankings[name], args.check)
        print(f"  {name}: ranked in {time.monotonic() - t0:.1f} s (checked {args.check})")
    for name, ranked in rankings.items():
        results[name] = {split: evaluate(data, ranked, split) for split in ("test", "dev")}
    base = results["tfidf char 3-5"]
    print(f"\n{'ranker':<34} {'split':<5} {'NDCG@10':>8} {'HR@10':>7} {'x TF-IDF':>9}")
    for name, by_split in results.items():
        for split, m in by_split.items():
            ratio = m["ndcg@10"] / base[split]["ndcg@10"]
            print(f"{name:<34} {split:<5} {m['ndcg@10']:>8.4f} {m['hr@10']:>7.4f} {ratio:>9.2f}")
    print(f"\n{time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
