"""The `jobmatch` command."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from services.auth.cli import auth_app
from services.chaos.cli import chaos_app
from services.demo.cli import demo_app
from services.keys.cli import keys_app, privacy_app
from services.matching.model.cli import model_app
from services.profiles.cli import projections_app
from services.reference.cli import taxonomy_app

if TYPE_CHECKING:
    from services.stack import Ports, Stack

app = typer.Typer(
    help="jobmatch: event-sourced matching of citizens to employers.", no_args_is_help=True
)
schemas_app = typer.Typer(help="Event contracts.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(taxonomy_app, name="taxonomy")
match_app = typer.Typer(help="Offline matching.", no_args_is_help=True)
app.add_typer(match_app, name="match")
app.add_typer(model_app, name="model")
app.add_typer(demo_app, name="demo")
app.add_typer(projections_app, name="projections")
app.add_typer(auth_app, name="auth")
app.add_typer(chaos_app, name="chaos")
app.add_typer(keys_app, name="keys")
app.add_typer(privacy_app, name="privacy")
err = Console(stderr=True)

DEFAULT_PORT_BASE = 8700


def _home(home: Path | None) -> Path:
    return (home or Path(os.environ.get("JOBMATCH_HOME", "var"))).resolve()


def demo_consultant(home: Path, ports: Ports) -> Callable[[str], str]:
    """Tokens of the demo consultants (`demo-<municipality>`), minted with the stack's key."""
    from services.auth.issuer import LocalIssuer
    from services.stack import issuer_url

    issuer = LocalIssuer(home, issuer_url(ports.issuer))

    def token_for(municipality: str) -> str:
        return issuer.token(
            "consultant", f"demo-{municipality}", municipality=municipality, minutes=10
        )

    return token_for


def demo_employer(home: Path, ports: Ports) -> Callable[[str], str]:
    """Tokens of the demo employers (`demo-<cvr>`), minted with the stack's key."""
    from services.auth.issuer import LocalIssuer
    from services.stack import issuer_url

    issuer = LocalIssuer(home, issuer_url(ports.issuer))

    def token_for(cvr: str) -> str:
        return issuer.token("employer", f"demo-{cvr}", cvr=cvr, minutes=10)

    return token_for


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command()
def up(
    port_base: Annotated[
        int,
        typer.Option(
            help="events=N, profiles=N+1, matching=N+2, broker=N+3, redis=N+4, s3=N+5, "
            "issuer=N+6, ui=N+7"
        ),
    ] = DEFAULT_PORT_BASE,
    memory: Annotated[bool, typer.Option(help="Throwaway broker and Redis (nothing kept)")] = False,
    demo: Annotated[bool, typer.Option(help="Load the example cards and job orders")] = False,
    home: Annotated[
        Path | None, typer.Option(help="Data folder (default $JOBMATCH_HOME or ./var)")
    ] = None,
) -> None:
    """Start the whole stack on 127.0.0.1 and keep it running until Ctrl-C.

    A piece that exits (a service, the issuer, the broker, its storage, Redis) is started
    again, after 1 s, then 2, 4 ... up to 30 s between attempts; each restart is said here
    and in <home>/logs/supervisor.log."""
    from services.demo import load_examples
    from services.stack import Ports, Stack, Supervisor

    stack = Stack(
        home=_home(home),
        ports=Ports(port_base),
        memory=memory,
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        with_ui=True,
    )
    # Explicit, because a launcher started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        try:
            _start(stack, port_base, home is not None, demo, load_examples)
        except KeyboardInterrupt:
            err.print("stopping")
            return
        except Exception as exc:
            err.print(f"[red]start-up failed:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        supervisor = Supervisor(stack, _supervisor_log(stack.home / "logs" / "supervisor.log"))
        try:
            supervisor.run()
        except KeyboardInterrupt:
            err.print("stopping")
    finally:
        # A second Ctrl-C must not cut the stop short and leave children running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


def _start(
    stack: Stack,
    port_base: int,
    home_given: bool,
    demo: bool,
    load_examples: Callable[[str, Callable[[str], str]], object],
) -> None:
    with err.status("starting broker and redis"):
        stack.start_stores()
    err.print(f"broker: {stack.bootstrap}  redis: {stack.redis_url}  data: {stack.home}")
    synthetic: Future[Any] | None = None
    if demo:
        from services.demo.worklist import demo_documents

        # Made while the services start (a few seconds of generator work), posted below.
        synthetic = ThreadPoolExecutor(1).submit(demo_documents)
    with err.status("starting services"):
        stack.start_services()
    for name, url in stack.urls.items():
        print(f"{name}: {url}", flush=True)
    where = "" if port_base == DEFAULT_PORT_BASE else f" --port-base {port_base}"
    if home_given:
        where += f" --home {stack.home}"
    # Plain print: rich would wrap the command in the middle.
    print(
        f"sign-in: issuer {stack.issuer}; get a token with "
        f"`.venv/bin/jobmatch auth token --role consultant --municipality 0751{where}`",
        flush=True,
    )
    if demo:
        from services.demo.story import load_story

        load_examples(stack.urls["events"], demo_consultant(stack.home, stack.ports))
        # A worked example (accepted, presented, hired, an IGU placement with a follow-up),
        # so that the web application has a placement and key figures to show.
        load_story(
            stack.urls["events"],
            stack.urls["profiles"],
            demo_consultant(stack.home, stack.ports),
            demo_employer(stack.home, stack.ports),
        )
        # Then SYNTHETIC cards and orders in Aarhus and Odense, for the worklists and the
        # key figures (after the example, which they leave as it is: services/demo/worklist.py).
        from services.demo.worklist import load_demo_documents

        assert synthetic is not None
        docs = synthetic.result()
        load_demo_documents(stack.urls["events"], docs, demo_consultant(stack.home, stack.ports))
        err.print(
            f"demo: loaded 3 competence cards and 2 job orders, and {len(docs.cards)} synthetic "
            f"cards and {len(docs.orders)} synthetic job orders in Aarhus and Odense; try "
            f"{stack.urls['profiles']}/v1/job-orders/jo-4410-aarhus-lager/suggestions"
        )
    print("ready", flush=True)


def _supervisor_log(path: Path) -> Callable[[str], None]:
    """What the supervisor says: on stderr, and appended to `path` with the time."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        err.print(message, markup=False, highlight=False)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{stamp} {message}\n")

    return say


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    events_url: Annotated[str, typer.Option(help="Events API of a running stack")] = (
        f"http://127.0.0.1:{DEFAULT_PORT_BASE}"
    ),
    home: Annotated[
        Path | None, typer.Option(help="Its data folder (default $JOBMATCH_HOME or ./var)")
    ] = None,
) -> None:
    """Load the example cards and job orders into a running stack (or: demo generate).

    Signs in as a consultant of each document's municipality through the stack's issuer
    (its key is in the data folder; the issuer's port is the events port + 6)."""
    if ctx.invoked_subcommand is not None:
        return
    from services.demo import load_examples
    from services.stack import Ports

    base = int(events_url.rsplit(":", 1)[-1].split("/")[0])
    token_for = demo_consultant(_home(home), Ports(base))
    for answer in load_examples(events_url, token_for):
        print(f"{answer['event_type']} {answer['aggregate_id']} v{answer['version']}")


@schemas_app.command("export")
def schemas_export(
    check: Annotated[bool, typer.Option(help="Only report stale files; exit 1 if any")] = False,
) -> None:
    """Write JSON Schema per event into schemas/json/ and schemas/asyncapi.yaml."""
    from schemas.export import stale_files, write_all

    if check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path}")
        raise typer.Exit(1 if stale else 0)
    for path in write_all():
        print(path)


Bootstrap = Annotated[
    str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port of the broker")
]


@topics_app.command("create")
def topics_create(bootstrap: Bootstrap) -> None:
    """Create every missing catalogued topic, then check them all against the catalogue.

    Replication factor and min.insync.replicas come from KAFKA_TOPIC_REPLICATION_FACTOR and
    KAFKA_TOPIC_MIN_INSYNC_REPLICAS (default 1 and 1; production 3 and 2); retention is
    infinite. An existing topic is never changed: a mismatch (partitions, replicas,
    configs) is reported and the exit status is 1."""
    _topics(bootstrap, create=True)


@topics_app.command("check")
def topics_check(bootstrap: Bootstrap) -> None:
    """Check the broker's topics against the catalogue and settings, changing nothing;
    exit 1 on any mismatch or missing topic."""
    _topics(bootstrap, create=False)


def _topics(bootstrap: str, create: bool) -> None:
    import asyncio

    from services.common.kafka import reconcile_topics, topic_settings

    try:
        settings = topic_settings()
    except ValueError as exc:
        err.print(f"[red]invalid settings:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    report = asyncio.run(reconcile_topics(bootstrap, settings=settings, create=create))
    print(
        f"catalogue: replication factor {settings.kafka_topic_replication_factor}, "
        f"min.insync.replicas {settings.kafka_topic_min_insync_replicas}, retention infinite"
    )
    if create:
        print(f"created: {', '.join(report.created) or 'none (all exist)'}")
    for name, why in sorted(report.failed.items()):
        print(f"refused: {name}: {why}")
    for mismatch in report.mismatches:
        print(f"mismatch: {mismatch}")
    if not report.ok:
        raise typer.Exit(1)
    print("every topic matches the catalogue")


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic catalogue."""
    from schemas.topics import CATALOGUE

    for topic in CATALOGUE:
        print(f"{topic.name}\tkey={topic.key}\tpartitions={topic.partitions}")


@match_app.command("rank")
def match_rank(
    cards: Annotated[Path, typer.Option(help="Competence cards, one JSON document per line")],
    jobs: Annotated[Path, typer.Option(help="Job orders, one JSON document per line")],
    per: Annotated[str, typer.Option(help="card: orders per card; job: cards per order")] = "card",
    top: Annotated[int, typer.Option(min=1, help="Results per line")] = 10,
    models: Annotated[
        Path | None,
        typer.Option(help="Model registry: score with its newest approved model"),
    ] = None,
    scorer_name: Annotated[
        str,
        typer.Option(
            "--scorer",
            help="model: as the matching service (the registry's newest approved model, else "
            "the shipped one); rules: the rule score",
        ),
    ] = "model",
) -> None:
    """Rank with the matching service's score; one JSON line per card (or order) on stdout:
    {"id": ..., "ranked": [{"id": ..., "score": ...}, ...]}."""
    from services.matching.batch import profiles_of_cards, profiles_of_orders, rank, read_jsonl
    from services.matching.domain.learned import LearnedScorer
    from services.matching.domain.ranking import exposure
    from services.matching.domain.scoring import RuleScorer, Scorer
    from services.matching.linking import default_linker, distance_km, skills_of
    from services.matching.model.registry import SHIPPED, Registry

    if per not in ("card", "job"):
        raise typer.BadParameter("must be card or job", param_hint="--per")
    if scorer_name not in ("model", "rules"):
        raise typer.BadParameter("must be model or rules", param_hint="--scorer")
    scorer: Scorer = RuleScorer(distance_km)
    if scorer_name == "model":
        entry = Registry(models).newest_approved() if models is not None else None
        if models is not None and entry is None:
            raise typer.BadParameter(f"no approved model in {models}", param_hint="--models")
        entry = entry or Registry(SHIPPED).newest_approved()
        if entry is not None:
            scorer = LearnedScorer(entry.model(), skills_of, distance_km)
            err.print(f"scoring with model {entry.version} ({entry.metadata.get('training_data')})")
    linker = default_linker()
    with cards.open(encoding="utf-8") as fc, jobs.open(encoding="utf-8") as fj:
        card_profiles = profiles_of_cards(read_jsonl(fc), linker)
        order_profiles = profiles_of_orders(read_jsonl(fj), linker)
    lists = []
    for line in rank(card_profiles, order_profiles, scorer, per, top):  # type: ignore[arg-type]
        print(line.to_json(), flush=False)
        lists.append([r["id"] for r in line.ranked if not r.get("excluded")])
    population = [i for i, _ in (order_profiles if per == "card" else card_profiles)]
    figures = exposure(lists, population)
    err.print(
        f"coverage@{top} {figures['coverage']:.3f}  congestion@{top} (Gini) "
        f"{figures['congestion']:.3f}  over {len(population)}"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
