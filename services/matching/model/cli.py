"""`jobmatch model ...`: train, evaluate, list and approve versions of the learned score."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

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


def _events(events: Path | None, bootstrap: str | None) -> list:  # type: ignore[type-arg]
    from schemas.registry import REGISTRY
    from schemas.topics import DOMAIN_TOPICS
    from services.common.kafka import read_log

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


def _run(events: Path | None, bootstrap: str | None, holdout: float):  # type: ignore[no-untyped-def]
    from services.matching.domain.pair_features import FEATURES
    from services.matching.linking import default_linker, distance_km, skills_of
    from services.matching.model.dataset import from_events
    from services.matching.model.training import Featurizer, train_and_evaluate

    dataset = from_events(_events(events, bootstrap))
    labelled = dataset.labelled
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
) -> None:
    """Train a calibrated logistic model on the log's outcomes and add it to the registry."""
    from services.matching.model.registry import Registry

    dataset, model, report, _ = _run(events, bootstrap, holdout)
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
) -> None:
    """Time-based hold-out: AUC, NDCG@10 and precision@10 of the model, the rule score and a
    TF-IDF text-similarity baseline, in one run."""
    from schemas.reports import ModelEvaluated, ScorerMetrics

    _, model, report, _ = _run(events, bootstrap, holdout)
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
def approve(version: str, registry: RegistryOpt = None) -> None:
    """Approve a version: the matching service loads the newest approved one."""
    import getpass

    from services.matching.model.registry import Registry

    entry = Registry(registry or default_registry()).approve(version, f"cli:{getpass.getuser()}")
    print(f"approved {entry.version}")
