"""Composition root of the matching service: settings -> state, app, agents, pages."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust

from services.auth.authenticator import Authenticator
from services.common.logs import configure_logging
from services.keys.setup import install_keystore
from services.matching.agents import register_agents
from services.matching.app import create_app
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.pair_features import FEATURES
from services.matching.domain.scoring import RuleScorer, Scorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import (
    default_linker,
    distance_km,
    load_stats,
    occupation_name,
    skill_label,
    skills_of,
    taxonomy,
    text_encoder,
    use_taxonomy_cache,
)
from services.matching.model.activation import ModelWatcher, ScorerCache
from services.matching.model.registry import Entry, Models
from services.matching.recovery import Runtime, Snapshots, process_age, publish_events, recover
from services.matching.settings import MatchingSettings
from services.matching.snapshot import SnapshotStore
from services.matching.web import register_pages

log = logging.getLogger(__name__)


@dataclass
class MatchingService:
    app: faust.App
    runtime: Runtime
    settings: MatchingSettings
    # Started with the worker, before the consumer group is joined (see `Worker`).
    early: tuple[Callable[[], Awaitable[None]], ...] = ()
    # Switches to a newly approved model without a restart (None: MATCHING_SCORER=rules).
    watcher: ModelWatcher | None = None

    @property
    def state(self) -> MatchingState:
        return self.runtime.state


def learned_scorer(entry: Entry) -> LearnedScorer:
    """The worker's scorer for a registered version (its linker's skills, distances, labels)."""
    return LearnedScorer(
        entry.model(),
        skills_of,
        distance_km,
        skill_label=skill_label,
        occupation_name=occupation_name,
    )


def scorer_cache(settings: MatchingSettings) -> ScorerCache | None:
    """What the state resolves the versions `ModelActivated` names with (None: the rule
    score is forced, and the log's activations are not followed)."""
    if settings.matching_scorer != "model":
        return None
    return ScorerCache(Models(settings.matching_model_dir), learned_scorer, FEATURES)


def describe_scorer(scorer: Scorer, models: Models | None = None) -> dict[str, Any]:
    """What scores now, for /health and /v1/models: version, kind, training data."""
    entry = models.find(scorer.model_version) if models is not None else None
    if not isinstance(scorer, LearnedScorer):
        return {"version": scorer.model_version, "kind": "rules"}
    training = entry.metadata.get("training_data") if entry is not None else None
    return {
        "version": scorer.model_version,
        "kind": "logistic",
        "training_data": training,
        "note": (
            "trained on SYNTHETIC data (jobmatch demo generate), not on real outcomes"
            if training == "synthetic"
            else "trained on the log's outcomes"
        ),
    }


def choose_scorer(settings: MatchingSettings) -> tuple[Scorer, dict[str, Any]]:
    """The newest approved model of the registry, else the shipped one, else the rule score;
    and what it is. What the worker starts with: a `ModelActivated` in the log overrides it
    from that record on (model/activation.py)."""
    entry = None
    if settings.matching_scorer == "model":
        entry = Models(settings.matching_model_dir).newest_approved()
    if entry is None:
        log.info(
            "no approved model: scoring with the rules",
            extra={"registry": str(settings.matching_model_dir)},
        )
        rules = RuleScorer(distance_km, occupation_name=occupation_name)
        return rules, {"version": rules.model_version, "kind": "rules"}
    log.info(
        "scoring with model",
        extra={"version": entry.version, "training_data": entry.metadata.get("training_data")},
    )
    info = {
        "version": entry.version,
        "kind": "logistic",
        "training_data": entry.metadata.get("training_data"),
        "note": (
            "trained on SYNTHETIC data (jobmatch demo generate), not on real outcomes"
            if entry.metadata.get("training_data") == "synthetic"
            else "trained on the log's outcomes"
        ),
    }
    return learned_scorer(entry), info


def state_factory(
    settings: MatchingSettings,
    scorer: Scorer | None = None,
    models: ScorerCache | None = None,
) -> Callable[[], MatchingState]:
    """New empty states with the worker's linker, score, k and capacity (the worker's and a
    fresh replay's alike), following the log's `ModelActivated` records with `models`. The
    linker loads the taxonomy when it first links a text."""
    use_taxonomy_cache(settings.taxonomy_cache_dir)
    linker = default_linker()
    chosen = scorer or choose_scorer(settings)[0]
    resolver = models if models is not None else scorer_cache(settings)

    def make() -> MatchingState:
        return MatchingState(
            linker,
            chosen,
            k=settings.matching_top_k,
            capacity=settings.matching_capacity,
            index=CardIndex(skills_of),
            models=resolver,
        )

    return make


def replay_settings() -> MatchingSettings:
    """The worker's settings from the environment, for tools that replay the log without
    serving pages (sign-in settings are not needed there)."""
    return MatchingSettings(
        auth_issuer=os.environ.get("AUTH_ISSUER", "unused"),
        auth_jwks_url=os.environ.get("AUTH_JWKS_URL", "unused"),
    )


def bootstrap(settings: MatchingSettings | None = None) -> MatchingService:
    # Interpreter start and imports, up to here.
    breakdown: dict[str, Any] = {"bootstrap_at_process_age": process_age()}
    started = time.monotonic()
    settings = settings or MatchingSettings()  # type: ignore[call-arg]
    configure_logging("matching", settings.log_level)
    # The citizens' data keys: the suggestions' reasons are sealed, the cards read opened.
    install_keystore(settings.keystore_path, "matching")
    scorer, model_info = choose_scorer(settings)
    breakdown["settings_and_model"] = round(time.monotonic() - started, 3)
    scorers = scorer_cache(settings)
    runtime = Runtime(state_factory(settings, scorer, scorers))
    watcher = (
        ModelWatcher(
            runtime,
            scorers.models,
            scorers,
            lambda events: publish_events(settings.kafka_bootstrap_servers, events),
            interval_s=settings.matching_model_poll_s,
        )
        if scorers is not None
        else None
    )
    runtime.breakdown = breakdown
    # The taxonomy's load, whenever the linker first needs it (None: not needed yet).
    breakdown["taxonomy"] = load_stats
    if settings.matching_snapshots:
        runtime.snapshots = Snapshots(
            SnapshotStore(settings.snapshot_dir),
            every_events=settings.matching_snapshot_every_events,
            interval_s=settings.matching_snapshot_interval_s,
        )
    app = create_app(settings)
    register_agents(app, runtime)
    authenticator = Authenticator.from_settings(settings, "matching")
    register_pages(
        app,
        runtime,
        settings.kafka_bootstrap_servers,
        authenticator,
        model_info,
        settings.matching_model_dir,
        watcher=watcher,
        describe=lambda s: describe_scorer(s, scorers.models if scorers else None),
    )
    breakdown["bootstrap"] = round(time.monotonic() - started, 3)

    runtime.tools_loaded.clear()

    async def load_taxonomy() -> None:
        # In a thread, once the state is recovered (the recovery loads it itself if a text
        # it reads needs it; a snapshot carries the links of the texts seen before): the
        # agent needs it for the first card or order whose text it has not linked yet.
        await runtime.recovered.wait()
        try:
            await asyncio.to_thread(taxonomy)
            await asyncio.to_thread(text_encoder)
        except Exception as exc:
            runtime.fatal("taxonomy", exc)
        breakdown["tools_loaded_at_process_age"] = process_age()
        runtime.tools_loaded.set()

    async def recover_state() -> None:
        # Retries with back-off itself; anything escaping it is a bug: exit loudly.
        breakdown["recovery_started_at_process_age"] = process_age()
        try:
            await recover(runtime, settings.kafka_bootstrap_servers)
        except Exception as exc:
            runtime.fatal("recovery", exc)

    # (mode's receiver type does not accept a coroutine function, which it awaits.)
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        breakdown.setdefault("group_joined_at_process_age", process_age())

    if runtime.snapshots is not None:
        snapshots = runtime.snapshots

        @app.timer(min(5.0, settings.matching_snapshot_interval_s))
        async def snapshot_cadence() -> None:
            snapshots.maybe(runtime)

        @app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def final_snapshot(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
            # The consumer has stopped: what was applied since the last one is saved.
            await snapshots.wait()
            if snapshots.worth_on_stop(runtime):
                await snapshots.take(runtime, "stop")

    early: tuple[Callable[[], Awaitable[None]], ...] = (load_taxonomy, recover_state)
    if watcher is not None:
        model_watcher = watcher

        async def watch_models() -> None:
            # Checks are guarded inside; anything escaping the loop is a bug: exit loudly.
            try:
                await model_watcher.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                runtime.fatal("model_watcher", exc)

        early += (watch_models,)
    return MatchingService(app, runtime, settings, early, watcher)


class Worker(faust.Worker):
    """faust's worker, which also starts the service's `early` tasks as it starts. faust
    starts app tasks (and the web server) only once the consumer group is joined, which
    after a crash waits out the dead member's session timeout: the recovery and the
    taxonomy load overlap that wait instead of following it."""

    def __init__(self, service: MatchingService, **kwargs: Any) -> None:
        super().__init__(service.app, **kwargs)
        self._early = service.early

    async def on_first_start(self) -> None:
        await super().on_first_start()
        for start in self._early:
            self.add_future(start())


def run() -> None:
    service = bootstrap()
    worker = Worker(
        service,
        loglevel=service.settings.log_level.lower(),
        override_logging=False,
        quiet=True,
    )
    # The terminal spinner writes escape codes into what must stay a JSON-lines log.
    worker.spinner = None
    worker.execute_from_commandline()
