"""HTTP entrypoints: translate requests into commands, commands into handler calls.

No rules here: they live in `commands.py`. Each route names the aggregates it reads and
passes the pure `decide_*` function to `Handlers.execute`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from schemas.citizens import CompetenceCard, SharedField
from schemas.common import Cvr, ResourceId, SaneDate
from schemas.identifiers import FreeText, identifiers_in
from schemas.jobs import JobOrder
from services.auth.access import Access
from services.auth.principal import Principal
from services.common.audit import audit_citizens
from services.events import access
from services.events import commands as c
from services.events.context import CommandContext
from services.events.errors import Invalid
from services.events.handlers import Accepted, Meta

router = APIRouter(prefix="/v1", tags=["commands"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "The record the command refers to does not exist"},
    409: {"description": "The command does not fit the current state; `reason` says why"},
    422: {"description": "A field is invalid; each one is named with the reason"},
    401: {"description": "No valid access token (see `WWW-Authenticate`)"},
    403: {"description": "The caller's role, municipality or CVR may not do this"},
}


# The dependencies are coroutines: a plain function would be run in a worker thread, which
# cost a command ~0.3 ms of CPU in handing over (py-spy, bench/auth.md).
async def get_context(request: Request) -> CommandContext:
    ctx: CommandContext = request.app.state.context
    return ctx


async def correlation(
    x_correlation_id: Annotated[
        uuid.UUID | None, Header(description="Ties commands together")
    ] = None,
) -> uuid.UUID | None:
    return x_correlation_id


Correlation = Annotated[uuid.UUID | None, Depends(correlation)]


def _meta(principal: Principal, correlation_id: uuid.UUID | None) -> Meta:
    """The actor comes from the verified token alone (X-Actor-* headers are ignored)."""
    return Meta(actor=principal.actor(), correlation_id=correlation_id)


async def expected_version(
    if_match: Annotated[
        str | None, Header(description='The version the change is based on, e.g. "3"')
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise HTTPException(
            422, detail=[{"field": "If-Match", "reason": 'must be a version number such as "3"'}]
        )
    return int(text)


Ctx = Annotated[CommandContext, Depends(get_context)]
# Who may call each command (deny by default); the object itself is checked in the route.
Consultant = Annotated[Principal, Depends(Access("consultant"))]
ConsultantOrEmployer = Annotated[Principal, Depends(Access("consultant", "employer"))]
IfMatch = Annotated[int | None, Depends(expected_version)]
CitizenId = Annotated[str, Path(min_length=3, max_length=64)]
SuggestionId = Annotated[str, Path(min_length=3, max_length=64)]
PlacementId = Annotated[str, Path(min_length=3, max_length=64)]
OrderId = Annotated[str, Path(min_length=3, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _same_id(path_id: str, body_id: str, name: str) -> None:
    if path_id != body_id:
        raise Invalid(f"{name} in the body ({body_id}) differs from the URL ({path_id})", name)


# -- competence cards --------------------------------------------------------------------------


def _minimised(doc: BaseModel) -> None:
    """422 for a card or order whose free text holds a CPR number, a phone number or an
    e-mail address (citizens are known by pseudonymous ids; the log keeps what it is given)."""
    found = identifiers_in(doc.model_dump(mode="json"))
    if found:
        raise RequestValidationError(
            [
                {"loc": ("body", *path), "msg": reason, "type": "direct_identifier"}
                for path, reason in found
            ]
        )


@router.post(
    "/competence-cards",
    status_code=202,
    response_model=Accepted,
    summary="Register a citizen's competence card (kompetencekort)",
    responses=ERRORS,
)
async def register_competence_card(
    card: CompetenceCard, request: Request, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    """Answers 202 once the broker has `CompetenceCardRegistered` (acks=all), with the
    ESCO links of the card's titles and skills and its programme eligibility. A citizen who
    already has a card gets 409: change a card with `PUT` and `If-Match`. Consultants
    register cards of their own municipality only (403)."""
    audit_citizens(request, [card.citizen_id])
    access.new_card(who, card)
    _minimised(card)
    cmd = c.SubmitCompetenceCard(card, ctx.card_links(card))
    return await ctx.register_card(cmd, _meta(who, cid))


@router.put(
    "/competence-cards/{citizen_id}",
    status_code=202,
    response_model=Accepted,
    summary="Update a competence card (If-Match: the version it is based on)",
    responses={**ERRORS, 428: {"description": "If-Match is missing"}},
)
async def update_competence_card(
    citizen_id: CitizenId,
    card: CompetenceCard,
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
    version: IfMatch,
) -> Accepted:
    """Emits `CompetenceCardUpdated` with the next version. A stale `If-Match` gets 409."""
    _same_id(citizen_id, card.citizen_id, "citizen_id")
    access.new_card(who, card)
    _minimised(card)
    cmd = c.SubmitCompetenceCard(card, ctx.card_links(card), expected_version=version)
    return await ctx.on_citizen(
        citizen_id,
        who,
        lambda citizen: c.decide_update_card(cmd, citizen, ctx.today()),
        _meta(who, cid),
        card.municipality_code,
    )


class AvailabilityBody(_Body):
    available: bool
    available_from: SaneDate | None = None
    hours_per_week: float | None = Field(default=None, gt=0, le=60)
    reason: FreeText | None = Field(default=None, max_length=500)


@router.post(
    "/citizens/{citizen_id}/availability",
    status_code=202,
    response_model=Accepted,
    summary="Record that a citizen became available or unavailable",
    responses=ERRORS,
)
async def change_availability(
    citizen_id: CitizenId, body: AvailabilityBody, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    cmd = c.ChangeAvailability(citizen_id, **body.model_dump())
    return await ctx.on_citizen(
        citizen_id, who, lambda citizen: c.decide_change_availability(cmd, citizen), _meta(who, cid)
    )


class ConsentBody(_Body):
    consent_id: str | None = Field(default=None, min_length=1, max_length=64)
    scope: Literal["employer", "all"]
    employer_cvr: Cvr | None = None
    shared_fields: list[SharedField] | None = Field(
        default=None,
        description="Card fields the employer may see; default: the professional profile",
        examples=[["skills", "experience", "danish", "driving_licences"]],
    )


@router.post(
    "/citizens/{citizen_id}/consents",
    status_code=202,
    response_model=Accepted,
    summary="Record the citizen's consent to be presented (to one employer or to all)",
    responses=ERRORS,
)
async def give_consent(
    citizen_id: CitizenId, body: ConsentBody, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    """A consultant of the citizen's municipality records the consent the citizen gave."""
    consent_id = body.consent_id or f"cns-{uuid.uuid4().hex[:12]}"
    cmd = c.GiveConsent(citizen_id, consent_id, body.scope, body.employer_cvr, body.shared_fields)
    return await ctx.on_citizen(
        citizen_id, who, lambda citizen: c.decide_give_consent(cmd, citizen), _meta(who, cid)
    )


@router.delete(
    "/citizens/{citizen_id}/consents/{consent_id}",
    status_code=202,
    response_model=Accepted,
    summary="Record that the citizen withdrew a consent",
    responses=ERRORS,
)
async def withdraw_consent(
    citizen_id: CitizenId,
    consent_id: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
) -> Accepted:
    cmd = c.WithdrawConsent(citizen_id, consent_id)
    return await ctx.on_citizen(
        citizen_id, who, lambda citizen: c.decide_withdraw_consent(cmd, citizen), _meta(who, cid)
    )


class ErasureBody(_Body):
    reason: FreeText | None = Field(default=None, max_length=500)


@router.post(
    "/citizens/{citizen_id}/erasure",
    status_code=202,
    response_model=Accepted,
    summary="Request erasure of the citizen's personal data",
    responses=ERRORS,
)
async def request_erasure(
    citizen_id: CitizenId,
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
    body: ErasureBody | None = None,
) -> Accepted:
    """Recorded by a consultant of the citizen's municipality when the citizen asks."""
    reason = body.reason if body else None
    return await ctx.on_citizen(
        citizen_id,
        who,
        lambda citizen: c.decide_request_erasure(citizen_id, reason, citizen),
        _meta(who, cid),
    )


# -- job orders --------------------------------------------------------------------------------


@router.post(
    "/job-orders",
    status_code=202,
    response_model=Accepted,
    summary="Post a job order (jobordre)",
    responses=ERRORS,
)
async def post_job_order(
    order: JobOrder, ctx: Ctx, who: ConsultantOrEmployer, cid: Correlation
) -> Accepted:
    """Emits `JobOrderPosted` (and `EmployerRegistered` for an unseen CVR). An IGU order
    that starts after 31 December 2027 is refused (422): the scheme ends then. Employers
    post orders of their own CVR, consultants orders in their own municipality (403)."""
    access.new_order(who, order)
    _minimised(order)
    return await ctx.post_order(c.PostJobOrder(order, ctx.order_links(order)), _meta(who, cid))


@router.put(
    "/job-orders/{job_order_id}",
    status_code=202,
    response_model=Accepted,
    summary="Update an open job order (If-Match: the version it is based on)",
    responses={**ERRORS, 428: {"description": "If-Match is missing"}},
)
async def update_job_order(
    job_order_id: OrderId,
    order: JobOrder,
    ctx: Ctx,
    who: ConsultantOrEmployer,
    cid: Correlation,
    version: IfMatch,
) -> Accepted:
    _same_id(job_order_id, order.job_order_id, "job_order_id")
    access.new_order(who, order)
    _minimised(order)
    cmd = c.PostJobOrder(order, ctx.order_links(order), expected_version=version)
    return await ctx.on_order(
        job_order_id,
        who,
        lambda current: c.decide_update_order(cmd, current),
        _meta(who, cid),
        order.municipality_code,
    )


class CloseBody(_Body):
    reason: Literal["withdrawn", "expired"] = "withdrawn"


@router.post(
    "/job-orders/{job_order_id}/close",
    status_code=202,
    response_model=Accepted,
    summary="Close a job order as withdrawn (or expired, once its deadline has passed)",
    responses=ERRORS,
)
async def close_job_order(
    job_order_id: OrderId,
    body: CloseBody,
    ctx: Ctx,
    who: ConsultantOrEmployer,
    cid: Correlation,
) -> Accepted:
    """Orders close as filled by themselves when all positions have started placements,
    and as expired when the application deadline has passed."""
    return await ctx.close_order(job_order_id, body.reason, _meta(who, cid), who)


# -- review and placement ----------------------------------------------------------------------


@router.post(
    "/suggestions/{suggestion_id}/accept",
    status_code=202,
    response_model=Accepted,
    summary="The consultant accepts a suggested match",
    responses=ERRORS,
)
async def accept_suggestion(
    suggestion_id: SuggestionId, request: Request, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    audit_citizens(request, await ctx.citizens_of(suggestion_id=suggestion_id))
    return await ctx.on_suggestion(
        suggestion_id,
        who,
        lambda sug, review: c.decide_accept(suggestion_id, sug, review),
        _meta(who, cid),
    )


class RejectBody(_Body):
    reason_code: c.RejectionCode
    reason_text: FreeText | None = Field(default=None, max_length=1000)


@router.post(
    "/suggestions/{suggestion_id}/reject",
    status_code=202,
    response_model=Accepted,
    summary="The consultant rejects a suggested match, with a reason code",
    responses=ERRORS,
)
async def reject_suggestion(
    suggestion_id: SuggestionId,
    body: RejectBody,
    request: Request,
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
) -> Accepted:
    audit_citizens(request, await ctx.citizens_of(suggestion_id=suggestion_id))
    return await ctx.on_suggestion(
        suggestion_id,
        who,
        lambda sug, review: c.decide_reject(
            suggestion_id, body.reason_code, body.reason_text, sug, review
        ),
        _meta(who, cid),
    )


@router.post(
    "/suggestions/{suggestion_id}/present",
    status_code=202,
    response_model=Accepted,
    summary="Present the candidate to the employer",
    responses=ERRORS,
)
async def present_candidate(
    suggestion_id: SuggestionId, request: Request, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    """Only an accepted suggestion, with the citizen's consent on record for this employer
    (or all), to an open job order; otherwise 409 with the reason."""
    audit_citizens(request, await ctx.citizens_of(suggestion_id=suggestion_id))
    return await ctx.present(suggestion_id, who, _meta(who, cid))


class EmployerDecisionBody(_Body):
    decision: Literal["interview", "hired", "declined"]
    reason: FreeText | None = Field(default=None, max_length=1000)


@router.post(
    "/suggestions/{suggestion_id}/employer-decision",
    status_code=202,
    response_model=Accepted,
    summary="Record the employer's decision on a presented candidate",
    responses=ERRORS,
)
async def record_employer_decision(
    suggestion_id: SuggestionId,
    body: EmployerDecisionBody,
    request: Request,
    ctx: Ctx,
    who: ConsultantOrEmployer,
    cid: Correlation,
) -> Accepted:
    """The employer of the order records its own decision, or a consultant of the order's
    municipality records it on the employer's behalf."""
    audit_citizens(request, await ctx.citizens_of(suggestion_id=suggestion_id))
    return await ctx.record_employer_decision(
        suggestion_id, body.decision, body.reason, who, _meta(who, cid)
    )


class StartPlacementBody(_Body):
    suggestion_id: ResourceId
    placement_type: Literal["virksomhedspraktik", "IGU", "IO-stilling", "løntilskud", "ordinary"]
    start_date: SaneDate
    end_date: SaneDate | None = None
    weekly_hours_work: float = Field(ge=0, le=60)
    weekly_hours_school: float = Field(default=0, ge=0, le=60)


@router.post(
    "/placements",
    status_code=202,
    response_model=Accepted,
    summary="Start a placement for a hired candidate (IGU: e.g. 29 h work + 8 h school)",
    responses=ERRORS,
)
async def start_placement(
    body: StartPlacementBody, request: Request, ctx: Ctx, who: Consultant, cid: Correlation
) -> Accepted:
    """Emits `PlacementStarted`; when it takes the order's last open position, also
    `JobOrderClosed` (filled).

    Programme rules on the start date (`services/rules/programmes.py`): the type must fit
    the order's programme (an IGU order takes IGU, a løntilskud order løntilskud, ...; an
    ordinary job fits every order) and the citizen must be eligible for it then (IGU: 18-50,
    refugee or family-reunified, at most 20 years since arrival, start by 31 December 2027;
    IO-stilling: newly arrived or under 25): 409. Hours: an IGU is at most 37 hours of work
    and school a week together and holds school (usually 29 + 8), an IO-stilling spends 20 %
    of the hours on training, no placement exceeds 48 hours: 422. Each refusal names the
    field, with `reason` in Danish, `reason_en` in English and a stable `code`."""
    audit_citizens(request, await ctx.citizens_of(suggestion_id=body.suggestion_id))
    return await ctx.start_placement(c.StartPlacement(**body.model_dump()), who, _meta(who, cid))


class FollowUpBody(_Body):
    date: SaneDate
    status: Literal["on_track", "at_risk", "needs_action"]
    note: FreeText | None = Field(default=None, max_length=4000)


@router.post(
    "/placements/{placement_id}/follow-ups",
    status_code=202,
    response_model=Accepted,
    summary="Record a follow-up of an active placement",
    responses=ERRORS,
)
async def record_follow_up(
    placement_id: PlacementId,
    body: FollowUpBody,
    request: Request,
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
) -> Accepted:
    audit_citizens(request, await ctx.citizens_of(placement_id=placement_id))
    return await ctx.on_placement(
        placement_id,
        who,
        lambda p: c.decide_follow_up(placement_id, body.date, body.status, body.note, p),
        _meta(who, cid),
    )


class EndPlacementBody(_Body):
    end_date: SaneDate
    outcome: Literal["ordinary_job", "education", "positive_drop_out", "negative_drop_out"]


@router.post(
    "/placements/{placement_id}/end",
    status_code=202,
    response_model=Accepted,
    summary="End a placement with its outcome",
    responses=ERRORS,
)
async def end_placement(
    placement_id: PlacementId,
    body: EndPlacementBody,
    request: Request,
    ctx: Ctx,
    who: Consultant,
    cid: Correlation,
) -> Accepted:
    audit_citizens(request, await ctx.citizens_of(placement_id=placement_id))
    return await ctx.on_placement(
        placement_id,
        who,
        lambda p: c.decide_end_placement(placement_id, body.end_date, body.outcome, p),
        _meta(who, cid),
    )
