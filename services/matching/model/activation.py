"""A newly approved model scores without a restart, and the switch is in the log.

The worker's `ModelWatcher` compares the newest approved version (of the registry, else the
shipped folder: `registry.Models`) with the one the state scores with, every
`MATCHING_MODEL_POLL_S` seconds and at once when `POST /v1/models/{v}/approve` approves
one. When they differ it loads the new version (a version that does not load, or whose
features are not this code's, is refused: logged, shown on `/ready` and `/v1/models`, and
the old model keeps scoring), then appends `ModelActivated` to `jobmatch.reports`
(acks=all). The agent reads the record back like any input: the state switches to the new
scorer there, ranks every open order again and announces every suggestion anew with the
new model's score and version (`MatchingState._switch_model`). A replay switches at the
same record, so the state after a restart equals a fresh replay's; before the first such
record the state scores with what the worker starts with (the newest approved version at
its start, as before).

`ScorerCache` is what the state resolves a version with (`MatchingState.models`): each
version is loaded once (the files of a version never change), and a version it cannot
load leaves the scorer as it is, in the worker and in every replay alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from schemas.envelope import Actor, Event, derived_event_id
from schemas.reports import ModelActivated
from services.matching.domain.scoring import Scorer
from services.matching.model.registry import Entry, Models

if TYPE_CHECKING:
    from services.matching.recovery import Runtime

log = logging.getLogger(__name__)

ACTOR = Actor(role="system", id="matching")
Publish = Callable[[Sequence[Event]], Awaitable[None]]


class ModelRefused(ValueError):
    """A version that cannot score here: missing, unreadable, or other features."""


def check_model(entry: Entry, features: Sequence[str]) -> None:
    """Raise ModelRefused unless `entry` loads and scores this code's features."""
    try:
        model = entry.model()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelRefused(f"model {entry.version!r} does not load: {exc}") from exc
    if tuple(model.features) != tuple(features):
        raise ModelRefused(
            f"model {entry.version!r} has features {list(model.features)}, this code "
            f"computes {list(features)}"
        )
    if model.version != entry.version:
        raise ModelRefused(f"model {entry.version!r} names itself {model.version!r}")
    probability = model.predict_proba(np.zeros(len(features)))
    if not np.all(np.isfinite(probability)):
        raise ModelRefused(f"model {entry.version!r} gives no finite score")


class ScorerCache:
    """Version -> scorer, each loaded once; None (logged) for one that cannot score here."""

    def __init__(
        self, models: Models, build: Callable[[Entry], Scorer], features: Sequence[str]
    ) -> None:
        self.models = models
        self.build = build
        self.features = tuple(features)
        self._scorers: dict[str, Scorer] = {}
        self.errors: dict[str, str] = {}

    def load(self, version: str) -> Scorer:
        """The scorer of `version`; ModelRefused if it cannot score here."""
        found = self._scorers.get(version)
        if found is not None:
            return found
        entry = self.models.find(version)
        if entry is None:
            raise ModelRefused(f"model {version!r} is not in the registry")
        check_model(entry, self.features)
        scorer = self.build(entry)
        self._scorers[version] = scorer
        self.errors.pop(version, None)
        return scorer

    def __call__(self, version: str) -> Scorer | None:
        try:
            scorer = self.load(version)
        except ModelRefused as exc:
            self.errors[version] = str(exc)
            log.error(
                "model named by ModelActivated not available: the scorer stays as it is",
                extra={"version": version, "reason": str(exc)},
            )
            return None
        log.info("model activated from the log: scoring with it", extra={"version": version})
        return scorer


def activation_event(
    entry: Entry, previous: str, occurred_at: datetime, kind: str = "logistic"
) -> Event:
    """The record of a switch; its id is a function of the switch (previous, new version
    and its approval), so a repeat after an unacknowledged send is recognisable."""
    meta = entry.metadata
    payload = ModelActivated(
        report_id=f"model-{entry.version}"[:80],
        model_version=entry.version,
        previous_version=previous,
        kind="rules" if kind == "rules" else "logistic",
        training_data=meta.get("training_data")
        if meta.get("training_data") in ("synthetic", "log")
        else None,
        approved_by=meta.get("approved_by"),
        approved_at=meta.get("approved_at"),
    )
    return Event.new(
        payload,
        actor=ACTOR,
        occurred_at=occurred_at,
        event_id=derived_event_id(
            "ModelActivated", previous, entry.version, meta.get("approved_at")
        ),
    )


class ModelWatcher:
    """Keeps the log's active model at the newest approved version (module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        models: Models,
        scorers: ScorerCache,
        publish: Publish,
        interval_s: float = 5.0,
        resend_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.models = models
        self.scorers = scorers
        self.publish = publish
        self.interval_s = interval_s
        self.resend_after_s = resend_after_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # The version whose ModelActivated was appended and not read back yet, and when.
        self.pending: tuple[str, float] | None = None
        self.newest_approved: str | None = None
        self.last_error: str | None = None
        self.last_activation: dict[str, Any] = {}
        self.switches: list[dict[str, Any]] = []
        self._scoring: str | None = None

    @property
    def scoring(self) -> str:
        return self.runtime.state.scorer.model_version

    def poke(self) -> None:
        """Check now (an approval came in) instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """The polling loop; a failing check is logged and tried again at the next turn."""
        await self.runtime.recovered.wait()
        self._note_switch()
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # logged, shown on /ready; the old model keeps scoring
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("model check failed; the current model keeps scoring")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            self._note_switch()

    def _note_switch(self) -> None:
        """Log each switch the agent made (it reads ModelActivated back), once."""
        now = self.scoring
        if self._scoring is not None and now != self._scoring:
            state = self.runtime.state
            switch = {
                "from": self._scoring,
                "to": now,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "suggestions": sum(len(s) for s in state.suggestions.values()),
            }
            self.switches = [*self.switches, switch][-10:]
            log.info("matching switched model", extra=switch)
        self._scoring = now
        if self.pending is not None and self.pending[0] == now:
            self.pending = None

    async def check(self) -> dict[str, Any]:
        """Append `ModelActivated` if the newest approved version is not the one scoring;
        what was done (also in `health`)."""
        async with self._lock:
            if not self.runtime.recovered.is_set():
                return {"status": "recovering"}
            self._note_switch()
            entry = await asyncio.to_thread(self.models.newest_approved)
            self.newest_approved = entry.version if entry else None
            if entry is None or entry.version == self.scoring:
                self.last_error = None
                self.pending = None
                return {"status": "in_use" if entry else "none_approved"}
            sent = self.pending
            recent = sent is not None and self._clock() - sent[1] < self.resend_after_s
            if sent is not None and sent[0] == entry.version and recent:
                return {"status": "appended", "version": entry.version}
            try:
                await asyncio.to_thread(self.scorers.load, entry.version)
            except ModelRefused as exc:
                if self.last_error != str(exc):
                    log.error(
                        "newest approved model refused: the current model keeps scoring",
                        extra={"version": entry.version, "reason": str(exc)},
                    )
                self.last_error = str(exc)
                return {"status": "refused", "version": entry.version, "reason": str(exc)}
            previous = self.scoring
            event = activation_event(entry, previous, datetime.now(UTC))
            try:
                await self.publish([event])
            except Exception as exc:
                self.last_error = f"ModelActivated not appended: {type(exc).__name__}: {exc}"
                log.exception(
                    "ModelActivated not appended; retrying at the next check",
                    extra={"version": entry.version},
                )
                return {"status": "error", "version": entry.version, "reason": self.last_error}
            self.pending = (entry.version, self._clock())
            self.last_error = None
            self.last_activation = {
                "version": entry.version,
                "previous_version": previous,
                "event_id": str(event.event_id),
                "appended_at": event.occurred_at.isoformat(timespec="seconds"),
            }
            log.info("ModelActivated appended", extra=self.last_activation)
            return {"status": "appended", **self.last_activation}

    async def wait_for(self, version: str, timeout_s: float) -> bool:
        """Until the state scores with `version` (the agent read the record), at most
        `timeout_s` seconds; whether it does."""
        deadline = self._clock() + timeout_s
        while self.scoring != version:
            if self._clock() >= deadline:
                return False
            await asyncio.sleep(0.05)
        self._note_switch()
        return True

    def health(self) -> dict[str, Any]:
        state = self.runtime.state
        return {
            "scoring": self.scoring,
            "activated_in_log": state.activated,
            "newest_approved": self.newest_approved,
            "in_sync": self.newest_approved in (None, self.scoring),
            "pending": self.pending[0] if self.pending else None,
            "error": self.last_error,
            "refused": dict(self.scorers.errors),
            "last_activation": self.last_activation,
            "switches": self.switches,
            "poll_s": self.interval_s,
        }
