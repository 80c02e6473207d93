"""HTTP entrypoints: translate requests into commands and answers; no rules here."""

from __future__ import annotations

import uuid
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import ValidationError

from schemas.citizens import CompetenceCard
from schemas.envelope import Actor, ActorRole
from schemas.jobs import JobOrder
from services.events import commands
from services.events.handlers import Accepted, Handlers, Meta

router = APIRouter(prefix="/v1", tags=["commands"])


def get_handlers(request: Request) -> Handlers:
    handlers: Handlers = request.app.state.handlers
    return handlers


def get_meta(
    x_actor_role: Annotated[str, Header(description="consultant, employer, system, ...")] = (
        "consultant"
    ),
    x_actor_id: Annotated[str, Header(description="Who issues the command")] = "anonymous",
    x_correlation_id: Annotated[uuid.UUID | None, Header()] = None,
) -> Meta:
    try:
        actor = Actor(role=x_actor_role, id=x_actor_id)  # type: ignore[arg-type]
    except ValidationError:
        raise HTTPException(
            422,
            detail=[
                {
                    "field": "X-Actor-Role",
                    "reason": f"must be one of {', '.join(get_args(ActorRole))}",
                }
            ],
        ) from None
    return Meta(actor=actor, correlation_id=x_correlation_id)


HandlersDep = Annotated[Handlers, Depends(get_handlers)]
MetaDep = Annotated[Meta, Depends(get_meta)]


@router.post(
    "/competence-cards",
    status_code=202,
    response_model=Accepted,
    summary="Register or update a citizen's competence card (kompetencekort)",
    responses={422: {"description": "A field is invalid; each one is named"}},
)
async def submit_competence_card(
    card: CompetenceCard, handlers: HandlersDep, meta: MetaDep
) -> Accepted:
    """Answers 202 once the broker has the event (acks=all). The first card of a citizen
    emits `CompetenceCardRegistered`, later ones `CompetenceCardUpdated`."""
    return await handlers.submit_competence_card(commands.SubmitCompetenceCard(card), meta)


@router.post(
    "/job-orders",
    status_code=202,
    response_model=Accepted,
    summary="Post or update a job order (jobordre)",
    responses={422: {"description": "A field is invalid; each one is named"}},
)
async def post_job_order(order: JobOrder, handlers: HandlersDep, meta: MetaDep) -> Accepted:
    """Answers 202 once the broker has the event. The first order with an id emits
    `JobOrderPosted`, later ones `JobOrderUpdated`; an unseen CVR also `EmployerRegistered`."""
    return await handlers.post_job_order(commands.PostJobOrder(order), meta)
