"""Commands (imperative) and the pure rules that turn them into events (past tense).

Each `decide_*` function takes the command and the current state of the aggregates it
touches and returns the events plus the new states, or raises a `CommandError`. No I/O and
no clock: today's date comes in as an argument.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from schemas.citizens import (
    CitizenAvailabilityChanged,
    CitizenErased,
    CompetenceCard,
    CompetenceCardRegistered,
    CompetenceCardUpdated,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
    ProgrammeEligibility,
    SharedField,
)
from schemas.common import ConceptLink
from schemas.envelope import EventPayload
from schemas.jobs import (
    EmployerRegistered,
    JobOrder,
    JobOrderClosed,
    JobOrderPosted,
    JobOrderUpdated,
)
from schemas.placements import (
    CandidatePresented,
    EmployerDecisionRecorded,
    FollowUpRecorded,
    PlacementEnded,
    PlacementStarted,
    SuggestionAccepted,
    SuggestionRejected,
)
from services.events.errors import Conflict, Invalid, NotFound, PreconditionRequired
from services.events.state import (
    CitizenState,
    OrderState,
    PlacementState,
    ReviewState,
    SuggestionState,
)
from services.rules.eligibility import IGU_LAST_START, PROGRAMMES, check
from services.rules.programmes import PlacementPlan, placement_refusals

Key = tuple[str, str]


def citizen_key(citizen_id: str) -> Key:
    return ("citizen", citizen_id)


def order_key(job_order_id: str) -> Key:
    return ("order", job_order_id)


def review_key(suggestion_id: str) -> Key:
    return ("review", suggestion_id)


def placement_key(placement_id: str) -> Key:
    return ("placement", placement_id)


def employer_key(cvr: str) -> Key:
    return ("employer", cvr)


@dataclass
class Decision:
    events: list[EventPayload]
    # The aggregates the events change: claimed for the command (see store.py).
    touches: tuple[Key, ...] = ()
    version: int | None = None
    # Where the events happen, when only the loaded state knows (the order's municipality).
    municipality_code: str | None = None


# -- citizens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitCompetenceCard:
    card: CompetenceCard
    links: list[ConceptLink]
    expected_version: int | None = None


def assess_eligibility(card: CompetenceCard, today: dt.date) -> list[ProgrammeEligibility]:
    """Every programme's gates for the day the citizen can start (or today)."""
    when = max(card.availability.available_from or today, today)
    out = []
    for programme in PROGRAMMES:
        result = check(card, programme, when)
        out.append(
            ProgrammeEligibility(
                programme=programme,
                eligible=result.eligible,
                reasons=list(result.reasons),
                assessed_for=when,
            )
        )
    return out


def _live_citizen(citizen: CitizenState | None, citizen_id: str) -> CitizenState:
    if citizen is None or citizen.card is None:
        raise NotFound(f"citizen {citizen_id!r} has no competence card")
    if citizen.erased:
        raise Conflict(f"citizen {citizen_id!r} has been erased")
    return citizen


def decide_register_card(
    cmd: SubmitCompetenceCard, citizen: CitizenState | None, today: dt.date
) -> Decision:
    cid = cmd.card.citizen_id
    if citizen is not None and citizen.card is not None and not citizen.erased:
        raise Conflict(
            f"citizen {cid!r} already has card version {citizen.card_version}; "
            "update it with PUT and If-Match"
        )
    event = CompetenceCardRegistered(
        citizen_id=cid,
        version=1,
        card=cmd.card,
        links=cmd.links,
        eligibility=assess_eligibility(cmd.card, today),
    )
    return Decision([event], (citizen_key(cid),), version=1)


def decide_update_card(
    cmd: SubmitCompetenceCard, citizen: CitizenState | None, today: dt.date
) -> Decision:
    cid = cmd.card.citizen_id
    current = _live_citizen(citizen, cid)
    if cmd.expected_version is None:
        raise PreconditionRequired("an update must carry the expected version (If-Match)")
    if cmd.expected_version != current.card_version:
        raise Conflict(
            f"card is at version {current.card_version}, not {cmd.expected_version}: "
            "reload it and apply your change again"
        )
    version = current.card_version + 1
    event = CompetenceCardUpdated(
        citizen_id=cid,
        version=version,
        card=cmd.card,
        links=cmd.links,
        eligibility=assess_eligibility(cmd.card, today),
    )
    return Decision([event], (citizen_key(cid),), version=version)


@dataclass(frozen=True)
class ChangeAvailability:
    citizen_id: str
    available: bool
    available_from: dt.date | None = None
    hours_per_week: float | None = None
    reason: str | None = None


def decide_change_availability(cmd: ChangeAvailability, citizen: CitizenState | None) -> Decision:
    _live_citizen(citizen, cmd.citizen_id)
    event = CitizenAvailabilityChanged(
        citizen_id=cmd.citizen_id,
        available=cmd.available,
        available_from=cmd.available_from,
        hours_per_week=cmd.hours_per_week,
        reason=cmd.reason,
    )
    return Decision([event], (citizen_key(cmd.citizen_id),))


@dataclass(frozen=True)
class GiveConsent:
    citizen_id: str
    consent_id: str
    scope: Literal["employer", "all"]
    employer_cvr: str | None = None
    shared_fields: list[SharedField] | None = None


def decide_give_consent(cmd: GiveConsent, citizen: CitizenState | None) -> Decision:
    current = _live_citizen(citizen, cmd.citizen_id)
    if cmd.scope == "employer" and not cmd.employer_cvr:
        raise Invalid("a consent for one employer names its CVR", field="employer_cvr")
    if cmd.scope == "all" and cmd.employer_cvr:
        raise Invalid("a consent for all employers names no CVR", field="employer_cvr")
    if cmd.consent_id in current.consents:
        raise Conflict(f"consent {cmd.consent_id!r} is already on record")
    event = ConsentGiven(
        citizen_id=cmd.citizen_id,
        consent_id=cmd.consent_id,
        scope=cmd.scope,
        employer_cvr=cmd.employer_cvr,
        shared_fields=cmd.shared_fields,
    )
    return Decision([event], (citizen_key(cmd.citizen_id),))


@dataclass(frozen=True)
class WithdrawConsent:
    citizen_id: str
    consent_id: str


def decide_withdraw_consent(cmd: WithdrawConsent, citizen: CitizenState | None) -> Decision:
    current = _live_citizen(citizen, cmd.citizen_id)
    consent = current.consents.get(cmd.consent_id)
    if consent is None:
        raise NotFound(f"consent {cmd.consent_id!r} is not on record")
    event = ConsentWithdrawn(
        citizen_id=cmd.citizen_id,
        consent_id=cmd.consent_id,
        scope=consent.scope,
        employer_cvr=consent.employer_cvr,
    )
    return Decision([event], (citizen_key(cmd.citizen_id),))


def decide_request_erasure(
    citizen_id: str, reason: str | None, citizen: CitizenState | None
) -> Decision:
    _live_citizen(citizen, citizen_id)
    # The publisher deletes the citizen's data key before it appends CitizenErased.
    events: list[EventPayload] = [
        ErasureRequested(citizen_id=citizen_id, reason=reason),
        CitizenErased(citizen_id=citizen_id),
    ]
    return Decision(events, (citizen_key(citizen_id),))


# -- job orders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostJobOrder:
    order: JobOrder
    links: list[ConceptLink]
    expected_version: int | None = None


def _check_programme_dates(order: JobOrder) -> None:
    if order.programme == "IGU" and order.start_date and order.start_date > IGU_LAST_START:
        raise Invalid(
            "IGU (integrationsgrunduddannelse) runs only until 31 December 2027; "
            "an IGU order cannot start later",
            field="start_date",
        )
    deadline, start = order.application_deadline, order.start_date
    if deadline and start and deadline > start:
        raise Invalid(
            "the application deadline lies after the start date", field="application_deadline"
        )


def decide_post_order(
    cmd: PostJobOrder, order: OrderState | None, employer_known: bool
) -> Decision:
    oid = cmd.order.job_order_id
    if order is not None and order.order is not None:
        raise Conflict(
            f"job order {oid!r} already exists at version {order.order_version}; "
            "update it with PUT and If-Match"
        )
    _check_programme_dates(cmd.order)
    events: list[EventPayload] = []
    touches: tuple[Key, ...] = ()
    cvr = cmd.order.employer.cvr
    if not employer_known:
        # First: should the order's own event fail to append, the employer is on record
        # all the same, which a retry of the command finds.
        events.append(EmployerRegistered(cvr=cvr, name=cmd.order.employer.name))
        touches = (employer_key(cvr),)
    events.append(JobOrderPosted(job_order_id=oid, version=1, order=cmd.order, links=cmd.links))
    return Decision(events, (*touches, order_key(oid)), version=1)


def _open_order(order: OrderState | None, job_order_id: str) -> OrderState:
    if order is None or order.order is None:
        raise NotFound(f"job order {job_order_id!r} not found")
    if order.status != "open":
        raise Conflict(f"job order {job_order_id!r} is {order.status.replace('_', ' ')}")
    return order


def decide_update_order(cmd: PostJobOrder, order: OrderState | None) -> Decision:
    oid = cmd.order.job_order_id
    current = _open_order(order, oid)
    if cmd.expected_version is None:
        raise PreconditionRequired("an update must carry the expected version (If-Match)")
    if cmd.expected_version != current.order_version:
        raise Conflict(
            f"job order is at version {current.order_version}, not {cmd.expected_version}"
        )
    assert current.order is not None
    if cmd.order.employer.cvr != current.order.employer.cvr:
        raise Invalid("a job order cannot move to another employer", field="employer.cvr")
    _check_programme_dates(cmd.order)
    if cmd.order.positions < current.started:
        raise Invalid(
            f"{current.started} placements have started; positions cannot be fewer",
            field="positions",
        )
    version = current.order_version + 1
    event = JobOrderUpdated(job_order_id=oid, version=version, order=cmd.order, links=cmd.links)
    return Decision([event], (order_key(oid),), version=version)


def decide_close_order(
    job_order_id: str,
    reason: Literal["withdrawn", "expired"],
    order: OrderState | None,
    today: dt.date,
) -> Decision:
    current = _open_order(order, job_order_id)
    assert current.order is not None
    deadline = current.order.application_deadline
    if reason == "expired" and (deadline is None or deadline >= today):
        raise Conflict(f"job order {job_order_id!r} has not passed its deadline ({deadline})")
    event = JobOrderClosed(job_order_id=job_order_id, reason=reason)
    return Decision([event], (order_key(job_order_id),))


# -- review and placement ----------------------------------------------------------------------

RejectionCode = Literal[
    "danish_level", "transport", "health", "citizen_declines", "employer_mismatch", "other"
]


def _suggestion(suggestion: SuggestionState | None, suggestion_id: str) -> SuggestionState:
    if suggestion is None:
        raise NotFound(f"suggestion {suggestion_id!r} not found")
    return suggestion


def _review_open(
    suggestion: SuggestionState | None, review: ReviewState | None, suggestion_id: str
) -> SuggestionState:
    found = _suggestion(suggestion, suggestion_id)
    current = review or ReviewState()
    if current.status != "suggested":
        raise Conflict(f"suggestion {suggestion_id!r} was already {current.status}")
    if found.retracted:
        raise Conflict(f"suggestion {suggestion_id!r} was retracted ({found.retracted})")
    return found


def decide_accept(
    suggestion_id: str, suggestion: SuggestionState | None, review: ReviewState | None
) -> Decision:
    found = _review_open(suggestion, review, suggestion_id)
    event = SuggestionAccepted(
        suggestion_id=suggestion_id, job_order_id=found.job_order_id, citizen_id=found.citizen_id
    )
    return Decision([event], (review_key(suggestion_id),))


def decide_reject(
    suggestion_id: str,
    code: RejectionCode,
    text: str | None,
    suggestion: SuggestionState | None,
    review: ReviewState | None,
) -> Decision:
    found = _review_open(suggestion, review, suggestion_id)
    if code == "other" and not (text and text.strip()):
        raise Invalid("reason 'other' needs a text", field="reason_text")
    event = SuggestionRejected(
        suggestion_id=suggestion_id,
        job_order_id=found.job_order_id,
        citizen_id=found.citizen_id,
        reason_code=code,
        reason_text=text,
    )
    return Decision([event], (review_key(suggestion_id),))


def decide_present(
    suggestion_id: str,
    suggestion: SuggestionState | None,
    review: ReviewState | None,
    citizen: CitizenState | None,
    order: OrderState | None,
) -> Decision:
    found = _suggestion(suggestion, suggestion_id)
    current = review or ReviewState()
    if current.status != "accepted":
        raise Conflict(
            f"only an accepted suggestion can be presented; this one is {current.status}"
        )
    person = _live_citizen(citizen, found.citizen_id)
    open_order = _open_order(order, found.job_order_id)
    assert open_order.order is not None
    cvr = open_order.order.employer.cvr
    if not person.consents_to(cvr):
        raise Conflict(f"citizen {found.citizen_id!r} has no consent on record for employer {cvr}")
    event = CandidatePresented(
        suggestion_id=suggestion_id,
        job_order_id=found.job_order_id,
        citizen_id=found.citizen_id,
        employer_cvr=cvr,
    )
    muni = open_order.order.municipality_code
    return Decision([event], (review_key(suggestion_id),), municipality_code=muni)


_DECIDABLE = {"presented", "interview"}


def decide_employer_decision(
    suggestion_id: str,
    decision: Literal["interview", "hired", "declined"],
    reason: str | None,
    suggestion: SuggestionState | None,
    review: ReviewState | None,
) -> Decision:
    found = _suggestion(suggestion, suggestion_id)
    current = review or ReviewState()
    if current.status not in _DECIDABLE:
        raise Conflict(
            f"the employer decides on presented candidates; this one is {current.status}"
        )
    if decision == "interview" and current.status == "interview":
        raise Conflict("an interview is already recorded")
    event = EmployerDecisionRecorded(
        suggestion_id=suggestion_id,
        job_order_id=found.job_order_id,
        citizen_id=found.citizen_id,
        decision=decision,
        reason=reason,
    )
    return Decision([event], (review_key(suggestion_id),))


@dataclass(frozen=True)
class StartPlacement:
    suggestion_id: str
    placement_type: Literal["virksomhedspraktik", "IGU", "IO-stilling", "løntilskud", "ordinary"]
    start_date: dt.date
    end_date: dt.date | None
    weekly_hours_work: float
    weekly_hours_school: float


def placement_id_for(suggestion_id: str) -> str:
    """One placement per suggestion: a retried command finds the same id."""
    return "plc-" + hashlib.sha256(suggestion_id.encode()).hexdigest()[:20]


def _programme_rules(cmd: StartPlacement, order: JobOrder, citizen: CitizenState | None) -> None:
    """The programme rules on the start date (`services.rules.programmes`): 422 for what the
    request breaks itself (hours, dates), else 409 for what does not fit the order's
    programme or the citizen's eligibility; Danish reasons naming the fields."""
    if citizen is None or citizen.card is None or citizen.erased:
        raise Conflict("the citizen has been erased; no placement can start")
    plan = PlacementPlan(
        cmd.placement_type,
        cmd.start_date,
        cmd.end_date,
        cmd.weekly_hours_work,
        cmd.weekly_hours_school,
    )
    refusals = placement_refusals(plan, order.programme, citizen.card)
    if not refusals:
        return
    kind = Invalid if any(r.status == 422 for r in refusals) else Conflict
    mine = [r for r in refusals if r.status == kind.status]
    raise kind.said([(r.field, r.code, r.da, r.en) for r in mine])


def decide_start_placement(
    cmd: StartPlacement,
    suggestion: SuggestionState | None,
    review: ReviewState | None,
    order: OrderState | None,
    citizen: CitizenState | None,
) -> Decision:
    found = _suggestion(suggestion, cmd.suggestion_id)
    current = review or ReviewState()
    if current.status != "hired":
        raise Conflict(f"a placement starts after the employer hired; this one is {current.status}")
    open_order = _open_order(order, found.job_order_id)
    assert open_order.order is not None
    _programme_rules(cmd, open_order.order, citizen)
    pid = placement_id_for(cmd.suggestion_id)
    assert citizen is not None  # `_programme_rules` refuses a citizen without a card
    if citizen.active_placements:
        raise Conflict.said(
            [
                (
                    "suggestion_id",
                    "already_placed",
                    "Borgeren er allerede i et forløb, der ikke er afsluttet "
                    f"({', '.join(citizen.active_placements)}); afslut det først.",
                    "The citizen is already in a placement that has not ended "
                    f"({', '.join(citizen.active_placements)}); end it first.",
                )
            ]
        )
    events: list[EventPayload] = [
        PlacementStarted(
            placement_id=pid,
            suggestion_id=cmd.suggestion_id,
            job_order_id=found.job_order_id,
            citizen_id=found.citizen_id,
            placement_type=cmd.placement_type,
            start_date=cmd.start_date,
            end_date=cmd.end_date,
            weekly_hours_work=cmd.weekly_hours_work,
            weekly_hours_school=cmd.weekly_hours_school,
        )
    ]
    if open_order.started + 1 >= open_order.order.positions:
        # The last open position is taken: the order is filled. Should the service stop
        # before this second event is appended, the states already count the order as
        # filled, and the deadline sweeper appends it (see `decide_record_filled`).
        events.append(JobOrderClosed(job_order_id=found.job_order_id, reason="filled"))
    # The citizen too: two placements started for her at once, only one gets her.
    touches = (
        review_key(cmd.suggestion_id),
        order_key(found.job_order_id),
        placement_key(pid),
        citizen_key(found.citizen_id),
    )
    return Decision(events, touches, municipality_code=open_order.order.municipality_code)


def decide_record_filled(job_order_id: str, order: OrderState | None) -> Decision:
    """The JobOrderClosed (filled) that a placement taking the last position left unwritten."""
    if order is None or not order.closure_pending:
        raise Conflict(f"job order {job_order_id!r} has no unrecorded closure")
    event = JobOrderClosed(job_order_id=job_order_id, reason="filled")
    return Decision([event], (order_key(job_order_id),))


def _active(placement: PlacementState | None, placement_id: str) -> PlacementState:
    if placement is None:
        raise NotFound(f"placement {placement_id!r} not found")
    if placement.status != "active":
        raise Conflict(f"placement {placement_id!r} has ended ({placement.outcome})")
    return placement


def decide_follow_up(
    placement_id: str,
    date: dt.date,
    status: Literal["on_track", "at_risk", "needs_action"],
    note: str | None,
    placement: PlacementState | None,
) -> Decision:
    current = _active(placement, placement_id)
    if date < current.start_date:
        raise Invalid("a follow-up cannot predate the placement's start", field="date")
    event = FollowUpRecorded(
        placement_id=placement_id,
        job_order_id=current.job_order_id,
        citizen_id=current.citizen_id,
        date=date,
        status=status,
        note=note,
    )
    return Decision(
        [event], (placement_key(placement_id),), municipality_code=current.municipality_code
    )


def decide_end_placement(
    placement_id: str,
    end_date: dt.date,
    outcome: Literal["ordinary_job", "education", "positive_drop_out", "negative_drop_out"],
    placement: PlacementState | None,
) -> Decision:
    current = _active(placement, placement_id)
    if end_date < current.start_date:
        raise Invalid("the end date lies before the placement's start", field="end_date")
    event = PlacementEnded(
        placement_id=placement_id,
        job_order_id=current.job_order_id,
        citizen_id=current.citizen_id,
        end_date=end_date,
        outcome=outcome,
    )
    return Decision(
        [event], (placement_key(placement_id),), municipality_code=current.municipality_code
    )
