"""The invariants, as pure functions of the log, the ledger and what the services show.

`facts(records)` reads the log once into what the checks need; each `check_*` returns the
findings of one invariant as `Finding`s with stable keys, so that two reconciliations of
one run can be compared (what a phase of a drill added).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.citizens import (
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
)
from schemas.envelope import Event
from schemas.jobs import EmployerRegistered, JobOrderClosed, JobOrderPosted, JobOrderUpdated
from schemas.placements import (
    CandidatePresented,
    PlacementStarted,
    PlacementSuggested,
    SuggestionAccepted,
    SuggestionRejected,
    SuggestionRetracted,
)
from schemas.topics import CITIZENS, JOB_ORDERS, PLACEMENTS
from services.chaos.ledger import CommandRecord
from services.chaos.logread import LogRecord

Pair = tuple[str, str]  # (job_order_id, citizen_id)
TIMELINE_TOPICS = frozenset({CITIZENS.name, JOB_ORDERS.name, PLACEMENTS.name})


@dataclass(frozen=True)
class Finding:
    key: str  # stable across reconciliations of one run
    detail: str


# -- the log, read once ------------------------------------------------------------------------


@dataclass
class CitizenFacts:
    version: int = 0
    erased: bool = False
    municipality: str | None = None


@dataclass
class OrderFacts:
    version: int = 0
    status: str = "open"  # or closed_<reason>
    cvr: str | None = None
    municipality: str | None = None


@dataclass
class LogFacts:
    records: int = 0
    undecodable: int = 0
    # Every record of each event id, in log order.
    by_id: dict[str, list[LogRecord]] = field(default_factory=dict)
    citizens: dict[str, CitizenFacts] = field(default_factory=dict)
    orders: dict[str, OrderFacts] = field(default_factory=dict)
    employers: dict[str, int] = field(default_factory=dict)
    # The suggestion of each pair the views must show: its last PlacementSuggested is not
    # followed by a retraction (a rejected one stays shown, with its review).
    shown: dict[Pair, str] = field(default_factory=dict)
    # Those the matching worker must hold: shown, and not rejected since suggested.
    live: dict[Pair, str] = field(default_factory=dict)
    # The card and order versions each pair was suggested at, and those it was rejected at.
    suggested_at: dict[Pair, tuple[str, str]] = field(default_factory=dict)
    rejected_at: dict[Pair, tuple[str, str]] = field(default_factory=dict)
    # Suggested again at the very versions a consultant rejected it at, and never withdrawn.
    # The worker may suggest a pair again after a rejection was written but before it read
    # it (a race no worker can close: the rejection is another writer's); it then withdraws
    # that suggestion as `rejected` (domain.state), which ends it here (`withdrawn`).
    resurrected: list[Finding] = field(default_factory=list)
    withdrawn: int = 0
    _resurrecting: dict[Pair, tuple[str, Finding]] = field(default_factory=dict)
    # The event ids each citizen's and each order's timeline must hold.
    citizen_timeline: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    order_timeline: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Write-side rules the log breaks (two registrations of one card, a version twice...).
    conflicts: list[Finding] = field(default_factory=list)

    @property
    def unique_events(self) -> int:
        return len(self.by_id)


def facts(records: Iterable[LogRecord]) -> LogFacts:
    out = LogFacts()
    seen: set[str] = set()
    once: Counter[tuple[str, str]] = Counter()
    consents: dict[str, set[str]] = defaultdict(set)
    for record in records:
        out.records += 1
        event = record.event
        if event is None:
            out.undecodable += 1
            continue
        eid = str(event.event_id)
        out.by_id.setdefault(eid, []).append(record)
        # Consumers apply a redelivered suggestion or retraction again where it lands in
        # the log (the views write absolute values), so liveness follows every record...
        _suggestions(out, event, first=eid not in seen)
        if eid in seen:
            continue  # ...while a redelivered command event changes no aggregate again
        seen.add(eid)
        _timelines(out, record, event)
        _apply(out, event, once, consents)
    for (what, key), n in sorted(once.items()):
        if n > 1:
            out.conflicts.append(Finding(f"once:{what}:{key}", f"{what} {key} {n} times"))
    out.resurrected = [finding for _, finding in out._resurrecting.values()]
    return out


def _timelines(out: LogFacts, record: LogRecord, event: Event) -> None:
    if record.topic not in TIMELINE_TOPICS:
        return
    eid = str(event.event_id)
    cid = getattr(event.payload, "citizen_id", None)
    oid = getattr(event.payload, "job_order_id", None)
    if isinstance(cid, str) and not isinstance(event.payload, ErasureRequested):
        out.citizen_timeline[cid].add(eid)
    if isinstance(oid, str):
        out.order_timeline[oid].add(eid)


def _suggestions(out: LogFacts, event: Event, first: bool) -> None:
    p = event.payload
    if isinstance(p, PlacementSuggested):
        pair = (p.job_order_id, p.citizen_id)
        versions = (p.card_version, p.order_version)
        if first and out.rejected_at.get(pair) == versions:
            out._resurrecting[pair] = (
                p.suggestion_id,
                Finding(
                    f"resurrected:{p.job_order_id}:{p.citizen_id}:{event.event_id}",
                    f"{p.citizen_id} suggested for {p.job_order_id} again at the card and "
                    "order versions a consultant rejected, and never withdrawn",
                ),
            )
        elif pair in out._resurrecting and out._resurrecting[pair][0] != p.suggestion_id:
            # Another suggestion of the pair replaces the one that came back.
            del out._resurrecting[pair]
            out.withdrawn += 1
        out.shown[pair] = out.live[pair] = p.suggestion_id
        out.suggested_at[pair] = versions
    elif isinstance(p, SuggestionRetracted):
        pair = (p.job_order_id, p.citizen_id)
        # A retraction or review of an earlier suggestion of the pair than its last does not
        # end the last (the matching state reads it so too); an order's closing ends all.
        if p.reason == "order_closed" or out.shown.get(pair) == p.suggestion_id:
            out.shown.pop(pair, None)
            out.live.pop(pair, None)
            if pair in out._resurrecting:
                del out._resurrecting[pair]
                out.withdrawn += 1
    elif isinstance(p, SuggestionRejected):
        pair = (p.job_order_id, p.citizen_id)
        if out.shown.get(pair, p.suggestion_id) == p.suggestion_id:
            out.live.pop(pair, None)
            if pair in out.suggested_at:
                out.rejected_at[pair] = out.suggested_at[pair]


def _apply(
    out: LogFacts,
    event: Event,
    once: Counter[tuple[str, str]],
    consents: dict[str, set[str]],
) -> None:
    p = event.payload
    if isinstance(p, CompetenceCardRegistered | CompetenceCardUpdated):
        citizen = out.citizens.setdefault(p.citizen_id, CitizenFacts())
        if isinstance(p, CompetenceCardRegistered):
            if citizen.version and not citizen.erased:
                out.conflicts.append(
                    Finding(
                        f"card-registered-again:{p.citizen_id}:{p.version}",
                        f"card of {p.citizen_id} registered again (v{p.version}) "
                        f"while at v{citizen.version}",
                    )
                )
            citizen.erased = False
        elif p.version != citizen.version + 1:
            out.conflicts.append(
                Finding(
                    f"card-version:{p.citizen_id}:{p.version}",
                    f"card of {p.citizen_id} updated to v{p.version} after v{citizen.version}",
                )
            )
        citizen.version = p.version
        citizen.municipality = p.card.municipality_code
    elif isinstance(p, ErasureRequested):
        out.citizens.setdefault(p.citizen_id, CitizenFacts()).erased = True
        for pair in [pair for pair in out.shown if pair[1] == p.citizen_id]:
            out.shown.pop(pair, None)
            out.live.pop(pair, None)
    elif isinstance(p, ConsentGiven):
        if p.consent_id in consents[p.citizen_id]:
            out.conflicts.append(
                Finding(
                    f"consent-again:{p.citizen_id}:{p.consent_id}",
                    f"consent {p.consent_id} of {p.citizen_id} given while on record",
                )
            )
        consents[p.citizen_id].add(p.consent_id)
    elif isinstance(p, ConsentWithdrawn):
        consents[p.citizen_id].discard(p.consent_id)
    elif isinstance(p, JobOrderPosted | JobOrderUpdated):
        order = out.orders.setdefault(p.job_order_id, OrderFacts())
        if isinstance(p, JobOrderPosted):
            once[("JobOrderPosted", p.job_order_id)] += 1
        elif p.version != order.version + 1:
            out.conflicts.append(
                Finding(
                    f"order-version:{p.job_order_id}:{p.version}",
                    f"order {p.job_order_id} updated to v{p.version} after v{order.version}",
                )
            )
        order.version = p.version
        order.cvr = p.order.employer.cvr
        order.municipality = p.order.municipality_code
    elif isinstance(p, JobOrderClosed):
        once[("JobOrderClosed", p.job_order_id)] += 1
        out.orders.setdefault(p.job_order_id, OrderFacts()).status = f"closed_{p.reason}"
    elif isinstance(p, EmployerRegistered):
        once[("EmployerRegistered", p.cvr)] += 1
        out.employers[p.cvr] = out.employers.get(p.cvr, 0) + 1
    elif isinstance(p, SuggestionAccepted | SuggestionRejected):
        once[("review decision on", p.suggestion_id)] += 1
    elif isinstance(p, CandidatePresented):
        once[("CandidatePresented", p.suggestion_id)] += 1
    elif isinstance(p, PlacementStarted):
        once[("PlacementStarted", p.placement_id)] += 1


# -- the checks ------------------------------------------------------------------------------


@dataclass
class Acknowledged:
    """Every event of every 202 answer, against the log."""

    acked_events: int = 0
    lost: list[Finding] = field(default_factory=list)
    doubled: list[Finding] = field(default_factory=list)
    misplaced: list[Finding] = field(default_factory=list)


def check_acknowledged(commands: Iterable[CommandRecord], log: LogFacts) -> Acknowledged:
    out = Acknowledged()
    for command in commands:
        if not command.accepted:
            continue
        for acked in command.events:
            out.acked_events += 1
            found = log.by_id.get(acked.event_id, [])
            key = f"{acked.event_id}"
            what = f"{acked.event_type} {acked.event_id} of {command.describe()}"
            if not found:
                out.lost.append(Finding(f"lost:{key}", f"{what} is not in the log"))
                continue
            if len(found) > 1:
                out.doubled.append(Finding(f"doubled:{key}", f"{what} is {len(found)}x in the log"))
            at = (acked.topic, acked.partition, acked.offset)
            if all((r.topic, r.partition, r.offset) != at for r in found):
                first = found[0]
                out.misplaced.append(
                    Finding(
                        f"misplaced:{key}",
                        f"{what}: answered {at}, in the log at "
                        f"{(first.topic, first.partition, first.offset)}",
                    )
                )
    return out


@dataclass
class Duplicates:
    """Event ids found more than once in the log. Commands' events must be there once; the
    matching worker's derive their ids from their cause, so a redelivery after a crash
    repeats an id with the same content (tolerated: consumers are idempotent)."""

    records: int = 0  # records beyond the first of their id
    of_commands: list[Finding] = field(default_factory=list)
    of_derived: list[Finding] = field(default_factory=list)
    divergent: list[Finding] = field(default_factory=list)


def check_duplicates(log: LogFacts) -> Duplicates:
    out = Duplicates()
    for eid, found in log.by_id.items():
        if len(found) < 2:
            continue
        out.records += len(found) - 1
        first = found[0].event
        assert first is not None
        where = ", ".join(f"{r.topic}:{r.partition}:{r.offset}" for r in found)
        finding = Finding(f"dup:{eid}", f"{first.event_type} {eid} {len(found)}x ({where})")
        if first.actor.role == "system":
            out.of_derived.append(finding)
        else:
            out.of_commands.append(finding)
        if any(r.event != first for r in found[1:]):
            out.divergent.append(
                Finding(f"divergent:{eid}", f"{first.event_type} {eid}: same id, other content")
            )
    return out


def check_answers(commands: Iterable[CommandRecord]) -> list[Finding]:
    """Answers the log contradicts: the generator predicts each command's answer from what
    it was told before (one lane per aggregate, so nothing races it); a refusal of a change
    the log allows, or a 202 for one it forbids, means the write side is not the log's."""
    out = []
    for c in commands:
        if c.expect is None or c.status is None or c.status >= 500 or c.status == 429:
            continue
        if c.status not in c.expect:
            want = "/".join(str(s) for s in sorted(c.expect))
            out.append(
                Finding(
                    f"answer:{c.seq}",
                    f"{c.describe()} (expected {want}){': ' + c.detail if c.detail else ''}",
                )
            )
    return out


@dataclass
class Suggestions:
    """The log's live suggestions against those the matching worker holds."""

    live: int = 0
    held: int = 0
    orphans: list[Finding] = field(default_factory=list)  # shown in the log, not held
    unannounced: list[Finding] = field(default_factory=list)  # held, never (still) emitted
    resurrected: list[Finding] = field(default_factory=list)  # back at the rejected versions
    withdrawn: int = 0  # back before the worker read the rejection, then withdrawn


def check_suggestions(log: LogFacts, held: set[Pair]) -> Suggestions:
    out = Suggestions(
        live=len(log.live),
        held=len(held),
        resurrected=list(log.resurrected),
        withdrawn=log.withdrawn,
    )
    for oid, cid in sorted(log.live.keys() - held):
        status = log.orders.get(oid, OrderFacts()).status
        out.orphans.append(
            Finding(
                f"orphan:{oid}:{cid}",
                f"{log.live[(oid, cid)]} ({cid} for {oid}, order {status}) is live in the log "
                "but the matching worker does not hold it",
            )
        )
    for oid, cid in sorted(held - log.live.keys()):
        out.unannounced.append(
            Finding(
                f"unannounced:{oid}:{cid}",
                f"the matching worker holds {cid} for {oid}, which the log does not show live",
            )
        )
    return out


# -- the views -------------------------------------------------------------------------------


@dataclass
class CitizenView:
    status: int
    version: int | None = None
    suggestions: list[str] = field(default_factory=list)  # job order ids
    timeline: list[str] | None = None  # event ids


@dataclass
class OrderView:
    status: int
    state: str | None = None
    version: int | None = None
    suggestions: list[str] = field(default_factory=list)  # citizen ids
    timeline: list[str] | None = None


@dataclass
class ViewsSnapshot:
    citizens: dict[str, CitizenView] = field(default_factory=dict)
    orders: dict[str, OrderView] = field(default_factory=dict)
    employers: dict[str, int] = field(default_factory=dict)


@dataclass
class Views:
    """The profiles views (through the query API) against the log."""

    checked: int = 0
    missing: list[Finding] = field(default_factory=list)  # in the log, not (so) in the view
    stale: list[Finding] = field(default_factory=list)  # in the view, not (so) in the log
    doubled: list[Finding] = field(default_factory=list)  # twice in one list


def check_views(log: LogFacts, views: ViewsSnapshot) -> Views:
    out = Views()
    live_by_order: dict[str, set[str]] = defaultdict(set)
    live_by_citizen: dict[str, set[str]] = defaultdict(set)
    for oid, cid in log.shown:
        live_by_order[oid].add(cid)
        live_by_citizen[cid].add(oid)
    for cid, citizen in sorted(log.citizens.items()):
        if citizen.erased or not citizen.version:
            continue
        view = views.citizens.get(cid)
        if view is None:
            continue  # not probed
        out.checked += 1
        if view.status != 200:
            out.missing.append(Finding(f"citizen:{cid}", f"citizen {cid}: {view.status}"))
            continue
        if view.version != citizen.version:
            out.missing.append(
                Finding(
                    f"citizen-version:{cid}:{citizen.version}",
                    f"citizen {cid} at v{view.version} in the view, v{citizen.version} in the log",
                )
            )
        _compare_list(out, f"suggestions of citizen {cid}", live_by_citizen[cid], view.suggestions)
        _compare_timeline(out, f"citizen {cid}", log.citizen_timeline.get(cid), view.timeline)
    for oid, order in sorted(log.orders.items()):
        if not order.version:
            continue
        oview = views.orders.get(oid)
        if oview is None:
            continue
        out.checked += 1
        if oview.status != 200:
            out.missing.append(Finding(f"order:{oid}", f"job order {oid}: {oview.status}"))
            continue
        if oview.version != order.version or oview.state != order.status:
            out.missing.append(
                Finding(
                    f"order-state:{oid}:{order.version}:{order.status}",
                    f"job order {oid} v{oview.version} {oview.state} in the view, "
                    f"v{order.version} {order.status} in the log",
                )
            )
        _compare_list(out, f"suggestions of order {oid}", live_by_order[oid], oview.suggestions)
        _compare_timeline(out, f"order {oid}", log.order_timeline.get(oid), oview.timeline)
    for cvr in sorted(log.employers):
        status = views.employers.get(cvr)
        if status is None:
            continue
        out.checked += 1
        if status != 200:
            out.missing.append(Finding(f"employer:{cvr}", f"employer {cvr}: {status}"))
    return out


def _compare_list(out: Views, what: str, want: set[str], shown: Sequence[str]) -> None:
    for ident, n in Counter(shown).items():
        if n > 1:
            out.doubled.append(Finding(f"doubled:{what}:{ident}", f"{ident} {n}x in {what}"))
    for ident in sorted(want - set(shown)):
        out.missing.append(Finding(f"missing:{what}:{ident}", f"{ident} missing from {what}"))
    for ident in sorted(set(shown) - want):
        out.stale.append(
            Finding(f"stale:{what}:{ident}", f"{ident} in {what}, not live in the log")
        )


def _compare_timeline(
    out: Views, what: str, want: set[str] | None, shown: Sequence[str] | None
) -> None:
    if shown is None:
        return
    for eid in sorted((want or set()) - set(shown)):
        out.missing.append(
            Finding(f"timeline:{what}:{eid}", f"event {eid} missing from the timeline of {what}")
        )
    for eid in sorted(set(shown) - (want or set())):
        out.stale.append(
            Finding(
                f"timeline-extra:{what}:{eid}",
                f"event {eid} in the timeline of {what}, not in the log",
            )
        )
