"""Who may change what: tenancy checks on the loaded aggregates (pure, no I/O).

Route-level rules (which roles may call a command at all) are the routes' `Access`
dependencies; these functions then check the object itself, against the state the command
is decided on. An object of another tenant is refused as NotFound, exactly like a missing
one. Which municipality decides:

- the citizen's job centre owns the citizen: the card, availability, consents and erasure
  are for consultants of the card's municipality;
- the job order's municipality owns the order and the matches on it: reviewing suggestions
  (accept, reject, present), placements, follow-ups and outcomes are for consultants of
  the order's municipality, also when the citizen lives in another one. Nothing reaches
  the employer without a consent, and consents are recorded by the citizen's own job centre;
- an employer (by CVR) posts and manages its own orders and records its own decisions on
  candidates presented to them.
"""

from __future__ import annotations

from schemas.citizens import CompetenceCard
from schemas.jobs import JobOrder
from services.auth.principal import Principal
from services.events.errors import Forbidden, Hidden, NotFound
from services.events.state import CitizenState, OrderState, PlacementState, SuggestionState


def _consultant_of(principal: Principal, municipality: str | None) -> bool:
    return principal.role == "consultant" and principal.in_municipality(municipality)


def new_card(principal: Principal, card: CompetenceCard) -> None:
    if not _consultant_of(principal, card.municipality_code):
        raise Forbidden(
            f"a consultant of municipality {principal.municipality_code} may only register "
            f"and change cards of citizens in that municipality",
            "municipality_code",
        )


def _outside(what: str, answer: str) -> Hidden:
    return Hidden(answer, f"{what} is outside the caller's tenant")


def citizen(principal: Principal, state: CitizenState | None, citizen_id: str) -> None:
    """An existing citizen of the caller's municipality."""
    card = state.card if state else None
    answer = f"citizen {citizen_id!r} has no competence card"
    if card is None:
        raise NotFound(answer)
    if not _consultant_of(principal, card.municipality_code):
        raise _outside(f"citizen {citizen_id}", answer)


def new_order(principal: Principal, order: JobOrder) -> None:
    if principal.role == "employer":
        if principal.cvr != order.employer.cvr:
            raise Forbidden(
                f"an employer may only post orders of its own CVR ({principal.cvr})",
                "employer.cvr",
            )
        return
    if not _consultant_of(principal, order.municipality_code):
        raise Forbidden(
            f"a consultant of municipality {principal.municipality_code} may only post "
            f"orders in that municipality",
            "municipality_code",
        )


def order(principal: Principal, state: OrderState | None, job_order_id: str) -> None:
    """The order's own employer, or a consultant of the order's municipality."""
    posted = state.order if state else None
    answer = f"job order {job_order_id!r} not found"
    if posted is None:
        raise NotFound(answer)
    if principal.role == "employer" and principal.cvr == posted.employer.cvr:
        return
    if not _consultant_of(principal, posted.municipality_code):
        raise _outside(f"job order {job_order_id}", answer)


def employer_decision(
    principal: Principal, found: SuggestionState, order_state: OrderState | None, ident: str
) -> None:
    """The employer of the suggestion's order records its own decision; a consultant of the
    order's municipality may record it on the employer's behalf."""
    if principal.role != "employer":
        suggestion(principal, found, ident)
        return
    posted = order_state.order if order_state else None
    if posted is None or posted.employer.cvr != principal.cvr:
        raise _outside(f"suggestion {ident}", f"suggestion {ident!r} not found")


def _of_order_municipality(
    principal: Principal, kind: str, ident: str, state: SuggestionState | PlacementState | None
) -> None:
    answer = f"{kind} {ident!r} not found"
    if state is None:
        raise NotFound(answer)
    if not _consultant_of(principal, state.municipality_code):
        raise _outside(f"{kind} {ident}", answer)


def suggestion(principal: Principal, state: SuggestionState | None, suggestion_id: str) -> None:
    """A consultant of the municipality of the order the suggestion is for."""
    _of_order_municipality(principal, "suggestion", suggestion_id, state)


def placement(principal: Principal, state: PlacementState | None, placement_id: str) -> None:
    """A consultant of the municipality of the order the placement fills."""
    _of_order_municipality(principal, "placement", placement_id, state)
