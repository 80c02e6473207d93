"""`jobmatch model ...`: train, evaluate, shadow, list and approve versions of the learned
score. Sentences for people (too few outcomes, a version that cannot be used, the shadow
report) are Danish, or English with `--lang en` (or JOBMATCH_LANG=en)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from services.matching.model.dataset import Dataset

model_app = typer.Typer(help="The learned matching model.", no_args_is_help=True)


def default_registry() -> Path:
    return Path(os.environ.get("JOBMATCH_HOME", "var")) / "models"


RegistryOpt = Annotated[
    Path | None, typer.Option(help="Model registry folder (default $JOBMATCH_HOME/models)")
]
EventsOpt = Annotated[
    Path | None, typer.Option(help="Events as JSON lines (default: read the log)")
]
BootstrapOpt = Annotated[
    str | None, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Broker to read the log from")
]
LangOpt = Annotated[
    str, typer.Option("--lang", envvar="JOBMATCH_LANG", help="Language of the sentences: da or en")
]

# Below these, a model cannot be trained and evaluated on the log's outcomes.
MIN_OUTCOMES = 20
MIN_EACH = 5

SENTENCES: dict[str, dict[str, str]] = {
    "da": {
        "too_few": (
            "For få afgjorte forslag at træne på: loggen har {n} ({good} gode, {poor} "
            "dårlige), og der skal mindst {min} til, heraf mindst {each} gode (ansat) og "
            "{each} dårlige (afvist, afslået eller negativt frafald)."
        ),
        "one_kind": (
            "Træningsvinduet (de ældste {share} % af de {n} afgjorte forslag) har kun én "
            "slags udfald; der skal både gode og dårlige til, så vent på flere udfald eller "
            "giv et mindre --holdout."
        ),
        "not_found": "Modelversionen {version!r} findes hverken i {registry} eller blandt de "
        "medfølgende modeller.",
        "refused": "Modelversionen {version!r} kan ikke bruges: {reason}.",
        "no_events": "Historikken har ingen hændelser at afspille.",
    },
    "en": {
        "too_few": (
            "Too few decided suggestions to train on: the log has {n} ({good} good, {poor} "
            "poor), and it takes at least {min}, of them at least {each} good (hired) and "
            "{each} poor (rejected, declined or a negative drop-out)."
        ),
        "one_kind": (
            "The training window (the oldest {share} % of the {n} decided suggestions) "
            "holds only one kind of outcome; it takes good and poor ones, so wait for more "
            "outcomes or give a smaller --holdout."
        ),
        "not_found": "Model version {version!r} is neither in {registry} nor among the shipped "
        "models.",
        "refused": "Model version {version!r} cannot be used: {reason}.",
        "no_events": "The history holds no events to replay.",
    },
}


def say(lang: str, key: str, **values: Any) -> str:
    return SENTENCES["en" if lang == "en" else "da"][key].format(**values)


def fail(message: str, code: int = 1) -> typer.Exit:
    """One sentence on stderr and a non-zero exit code, no traceback."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def missing_outcomes(dataset: Dataset, lang: str) -> str | None:
    """What is missing to train, in one sentence; None when there is enough."""
    labelled = dataset.labelled
    good = sum(1 for e in labelled if e.label == 1)
    poor = len(labelled) - good
    if len(labelled) >= MIN_OUTCOMES and good >= MIN_EACH and poor >= MIN_EACH:
        return None
    return say(
        lang, "too_few", n=len(labelled), good=good, poor=poor, min=MIN_OUTCOMES, each=MIN_EACH
    )


def _events(events: Path | None, bootstrap: str | None) -> list:  # type: ignore[type-arg]
    from schemas.registry import REGISTRY
    from schemas.topics import DOMAIN_TOPICS
    from services.common.kafka import read_log
    from services.keys.cli import default_keystore
    from services.keys.setup import install_keystore

    # The log's sealed fields opened with the stack's keys (an erased citizen's: absent).
    keystore = os.environ.get("KEYSTORE_PATH") or default_keystore()
    install_keystore(keystore if Path(keystore).is_file() else "", "model")
    if events is not None:
        with events.open(encoding="utf-8") as handle:
            decoded = [REGISTRY.decode(line) for line in handle if line.strip()]
    elif bootstrap:
        records = asyncio.run(read_log(bootstrap, DOMAIN_TOPICS))
        decoded = []
        for record in records:
            try:
                decoded.append(REGISTRY.decode(record.value or b""))
            except ValueError:
                continue  # dead-lettered by the consumers already
    else:
        raise typer.BadParameter("give --events FILE or a broker (KAFKA_BOOTSTRAP_SERVERS)")
    return sorted(decoded, key=lambda e: e.occurred_at)


def _run(events: Path | None, bootstrap: str | None, holdout: float, lang: str = "da"):  # type: ignore[no-untyped-def]
    from services.matching.domain.pair_features import FEATURES
    from services.matching.linking import default_linker, distance_km, skills_of
    from services.matching.model.dataset import from_events
    from services.matching.model.training import Featurizer, time_split, train_and_evaluate

    dataset = from_events(_events(events, bootstrap))
    missing = missing_outcomes(dataset, lang)
    if missing is not None:
        raise fail(missing)
    labelled = dataset.labelled
    train_part, _ = time_split(labelled, holdout)
    if len({e.label for e in train_part}) < 2:
        share = round(100 * (1 - holdout))
        raise fail(say(lang, "one_kind", share=share, n=len(labelled)))
    featurizer = Featurizer(default_linker(), skills_of, distance_km)
    model, report = train_and_evaluate(labelled, featurizer, holdout, datetime.now(UTC))
    return dataset, model, report, FEATURES


def _print_report(report: dict) -> None:  # type: ignore[type-arg]
    for part in ("train", "test"):
        window = report[part]
        print(f"{part}: {window['pairs']} pairs, {window['from'][:10]} .. {window['to'][:10]}")
    print(f"positive rate: {report['positive_rate']}")
    print(f"{'scorer':<8} {'AUC':>7} {'NDCG@10':>8} {'P@10':>7}")
    for name in ("model", "rules", "tfidf"):
        m = report[name]
        print(f"{name:<8} {m['auc']:>7.4f} {m['ndcg@10']:>8.4f} {m['precision@10']:>7.4f}")
    cal = report["calibration"]
    print(
        f"model calibration: Brier {cal['brier']:.4f}, expected calibration error {cal['ece']:.4f}"
    )


@model_app.command()
def train(
    events: EventsOpt = None,
    bootstrap: BootstrapOpt = None,
    registry: RegistryOpt = None,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.5)] = 0.25,
    approve: Annotated[bool, typer.Option(help="Approve the new version at once")] = False,
    synthetic: Annotated[bool, typer.Option(help="Mark the training data as synthetic")] = False,
    lang: LangOpt = "da",
) -> None:
    """Train a calibrated logistic model on the log's outcomes and add it to the registry.
    With too few outcomes it says in one sentence what is missing and exits with 1."""
    from services.matching.model.registry import Registry

    dataset, model, report, _ = _run(events, bootstrap, holdout, lang)
    window = dataset.window()
    entry = Registry(registry or default_registry()).save(
        model,
        {
            "created_at": datetime.now(UTC).isoformat(),
            "data_window": {"from": window[0], "to": window[1]} if window else None,
            "training_data": "synthetic" if synthetic else "log",
            "examples": len(dataset.labelled),
            "metrics": report,
            "approved": approve,
        },
    )
    _print_report(report)
    print(f"saved {entry.version} in {entry.path}{' (approved)' if approve else ''}")


def _publish(payloads: list, bootstrap: str | None) -> None:  # type: ignore[type-arg]
    """Append reports to the log, where the profiles service shows them to administrators."""
    from schemas.envelope import Actor, Event
    from services.common.kafka import make_producer

    if not bootstrap:
        raise typer.BadParameter("--publish needs a broker (KAFKA_BOOTSTRAP_SERVERS)")

    async def send() -> None:
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            for payload in payloads:
                event = Event.new(
                    payload,
                    actor=Actor(role="administrator", id="jobmatch-model"),
                    occurred_at=datetime.now(UTC),
                )
                await producer.send_and_wait(
                    event.topic,
                    event.to_json(),
                    key=event.aggregate_id.encode(),
                    headers=event.headers(),
                )
        finally:
            await producer.stop()

    asyncio.run(send())


PublishOpt = Annotated[bool, typer.Option(help="Also append the report to the log")]


@model_app.command()
def evaluate(
    events: EventsOpt = None,
    bootstrap: BootstrapOpt = None,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.5)] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    synthetic: Annotated[bool, typer.Option(help="The events are synthetic")] = False,
    publish: PublishOpt = False,
    lang: LangOpt = "da",
) -> None:
    """Time-based hold-out: AUC, NDCG@10 and precision@10 of the model, the rule score and a
    TF-IDF text-similarity baseline, in one run."""
    from schemas.reports import ModelEvaluated, ScorerMetrics

    _, model, report, _ = _run(events, bootstrap, holdout, lang)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if publish:
        payload = ModelEvaluated(
            report_id=f"eval-{model.version}",
            model_version=model.version,
            training_data="synthetic" if synthetic else "log",
            train_from=report["train"]["from"],
            train_to=report["train"]["to"],
            test_from=report["test"]["from"],
            test_to=report["test"]["to"],
            test_pairs=report["test"]["pairs"],
            scorers={
                k: ScorerMetrics.model_validate(report[k]) for k in ("model", "rules", "tfidf")
            },
            calibration=report["calibration"],
        )
        _publish([payload], bootstrap)


@model_app.command()
def fairness(
    monitoring: Annotated[
        Path, typer.Option(help="Monitoring attributes, JSON lines (consent-based)")
    ],
    events: EventsOpt = None,
    bootstrap: BootstrapOpt = None,
    stage: Annotated[str, typer.Option(help="suggested, presented or hired")] = "suggested",
    publish: PublishOpt = False,
) -> None:
    """Selection rates per gender and origin group relative to the eligible pool, with the
    four-fifths flag."""
    from schemas.reports import FairnessReported
    from services.matching.model.fairness import consented, eligible_and_selected, group_rates

    if stage not in ("suggested", "presented", "hired"):
        raise typer.BadParameter("suggested, presented or hired", param_hint="--stage")
    with monitoring.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    by_citizen = {row["citizen_id"]: row for row in rows}
    pool, selected = eligible_and_selected(_events(events, bootstrap), stage)  # type: ignore[arg-type]
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    reports = []
    for attribute in ("gender", "origin_group"):
        groups = group_rates(pool, selected, by_citizen, attribute)  # type: ignore[arg-type]
        reports.append(
            FairnessReported(
                report_id=f"fair-{attribute}-{stage}-{stamp}",
                attribute=attribute,  # type: ignore[arg-type]
                stage=stage,  # type: ignore[arg-type]
                consented=consented(by_citizen, pool),
                groups=groups,
                flagged=any(g.below_four_fifths for g in groups),
            )
        )
        print(f"{attribute} ({stage}; pool {len(pool)}, consented {reports[-1].consented}):")
        for g in groups:
            flag = "  BELOW 4/5" if g.below_four_fifths else ""
            print(
                f"  {g.group:<16} {g.selected:>5}/{g.eligible:<5} rate {g.rate:.3f} "
                f"ratio {g.ratio_to_highest:.2f}{flag}"
            )
    if publish:
        _publish(reports, bootstrap)


@model_app.command("list")
def list_versions(registry: RegistryOpt = None) -> None:
    """The registered versions, oldest first."""
    from services.matching.model.registry import Registry

    for entry in Registry(registry or default_registry()).entries():
        m = entry.metadata.get("metrics", {}).get("model", {})
        flag = "approved" if entry.approved else "-"
        print(f"{entry.version}\t{flag}\t{entry.metadata.get('training_data')}\tAUC {m.get('auc')}")


@model_app.command()
def shadow(
    candidate: Annotated[str, typer.Argument(help="The version to try (not approved yet)")],
    events: EventsOpt = None,
    bootstrap: BootstrapOpt = None,
    registry: RegistryOpt = None,
    active: Annotated[
        str | None,
        typer.Option(help="Compare with this version (default: the newest approved, as matching)"),
    ] = None,
    monitoring: Annotated[
        Path | None,
        typer.Option(help="Monitoring attributes, JSON lines (consent-based): fairness figures"),
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, max=200, envvar="MATCHING_TOP_K")] = 10,
    capacity: Annotated[int, typer.Option(min=1, max=100, envvar="MATCHING_CAPACITY")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    lang: LangOpt = "da",
) -> None:
    """Replay the recorded history with CANDIDATE and with the active model, and report how
    the suggestions would have differed: NDCG against the recorded outcomes, overlap of the
    suggestions per order, exposure (how concentrated on few citizens) and, with
    --monitoring, the fairness figures. Nothing is approved or written."""
    from services.matching.bootstrap import learned_scorer
    from services.matching.domain.learned import LearnedScorer
    from services.matching.domain.pair_features import FEATURES
    from services.matching.domain.scoring import RuleScorer, Scorer
    from services.matching.domain.state import MatchingState
    from services.matching.domain.vectorized import CardIndex
    from services.matching.linking import default_linker, distance_km, skills_of
    from services.matching.model.activation import ModelRefused, check_model
    from services.matching.model.registry import Models
    from services.matching.model.shadow import render
    from services.matching.model.shadow import shadow as shadow_run
    from services.matching.model.training import Featurizer

    root = registry or default_registry()
    models = Models(root)

    def scorer_of(version: str) -> Scorer:
        entry = models.find(version)
        if entry is None:
            raise fail(say(lang, "not_found", version=version, registry=root))
        try:
            check_model(entry, FEATURES)
        except ModelRefused as exc:
            raise fail(say(lang, "refused", version=version, reason=exc)) from None
        return learned_scorer(entry)

    chosen = scorer_of(candidate)
    if active is not None:
        current: Scorer = scorer_of(active)
    else:
        newest = models.newest_approved()
        current = scorer_of(newest.version) if newest else RuleScorer(distance_km)
    history = _events(events, bootstrap)
    if not history:
        raise fail(say(lang, "no_events"))
    by_citizen = None
    if monitoring is not None:
        with monitoring.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        by_citizen = {row["citizen_id"]: row for row in rows}
    linker = default_linker()
    featurizer = Featurizer(linker, skills_of, distance_km)

    def state_with(scorer: Scorer) -> Any:
        def make() -> MatchingState:
            return MatchingState(
                linker, scorer, k=top_k, capacity=capacity, index=CardIndex(skills_of)
            )

        return make

    def scores_of(scorer: Scorer) -> Any:
        def scores(examples: Any) -> Any:
            if isinstance(scorer, LearnedScorer):
                return scorer.model.predict_proba(featurizer.matrix(examples))
            return featurizer.rule_scores(examples)

        return scores

    report = shadow_run(
        history,
        state_with(current),
        state_with(chosen),
        scores_of(current),
        scores_of(chosen),
        by_citizen,
    )
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render(report, lang))


@model_app.command()
def approve(version: str, registry: RegistryOpt = None) -> None:
    """Approve a version: the running matching service switches to the newest approved one
    within MATCHING_MODEL_POLL_S seconds (and records the switch in the log)."""
    import getpass

    from services.matching.model.registry import Registry

    entry = Registry(registry or default_registry()).approve(version, f"cli:{getpass.getuser()}")
    print(f"approved {entry.version}")
