"""Composition root of the matching service: settings -> state, app, agents, pages."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust

from services.auth.authenticator import Authenticator
from services.common.logs import configure_logging
from services.matching.agents import register_agents
from services.matching.app import create_app
from services.matching.domain.learned import LearnedScorer
from services.matching.domain.scoring import RuleScorer, Scorer
from services.matching.domain.state import MatchingState
from services.matching.domain.vectorized import CardIndex
from services.matching.linking import default_linker, distance_km, skill_label, skills_of
from services.matching.model.registry import SHIPPED, Registry
from services.matching.recovery import Runtime, recover
from services.matching.settings import MatchingSettings
from services.matching.web import register_pages

log = logging.getLogger(__name__)


@dataclass
class MatchingService:
    app: faust.App
    runtime: Runtime
    settings: MatchingSettings

    @property
    def state(self) -> MatchingState:
        return self.runtime.state


def choose_scorer(settings: MatchingSettings) -> tuple[Scorer, dict[str, Any]]:
    """The newest approved model of the registry, else the shipped one, else the rule score;
    and what it is."""
    entry = None
    if settings.matching_scorer == "model":
        entry = (
            Registry(settings.matching_model_dir).newest_approved()
            or Registry(SHIPPED).newest_approved()
        )
    if entry is None:
        log.info(
            "no approved model: scoring with the rules",
            extra={"registry": str(settings.matching_model_dir)},
        )
        rules = RuleScorer(distance_km)
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
    return LearnedScorer(entry.model(), skills_of, distance_km, skill_label=skill_label), info


def state_factory(
    settings: MatchingSettings, scorer: Scorer | None = None
) -> Callable[[], MatchingState]:
    """New empty states with the worker's linker, score, k and capacity (the worker's and a
    fresh replay's alike)."""
    linker = default_linker()
    chosen = scorer or choose_scorer(settings)[0]

    def make() -> MatchingState:
        return MatchingState(
            linker,
            chosen,
            k=settings.matching_top_k,
            capacity=settings.matching_capacity,
            index=CardIndex(skills_of),
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
    settings = settings or MatchingSettings()  # type: ignore[call-arg]
    configure_logging("matching", settings.log_level)
    scorer, model_info = choose_scorer(settings)
    runtime = Runtime(state_factory(settings, scorer))
    app = create_app(settings)
    register_agents(app, runtime)
    authenticator = Authenticator.from_settings(settings, "matching")
    register_pages(app, runtime, settings.kafka_bootstrap_servers, authenticator, model_info)

    @app.task
    async def recover_state() -> None:
        # Retries with back-off itself; anything escaping it is a bug: exit loudly.
        try:
            await recover(runtime, settings.kafka_bootstrap_servers)
        except Exception as exc:
            runtime.fatal("recovery", exc)

    return MatchingService(app, runtime, settings)


def run() -> None:
    service = bootstrap()
    worker = faust.Worker(
        service.app,
        loglevel=service.settings.log_level.lower(),
        override_logging=False,
        quiet=True,
    )
    # The terminal spinner writes escape codes into what must stay a JSON-lines log.
    worker.spinner = None
    worker.execute_from_commandline()
