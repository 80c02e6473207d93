"""ESCO occupation search for autocomplete (read-only; served beside the commands because
this service holds the taxonomy in memory)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from services.auth.access import Access
from services.reference.esco import search_occupations

# Reference data, no personal data: every signed-in role may search it.
router = APIRouter(
    prefix="/v1/taxonomy",
    tags=["taxonomy"],
    dependencies=[Depends(Access("consultant", "employer", "administrator", "system"))],
)


@router.get(
    "/occupations",
    summary="ESCO occupations for a free-text title (Danish or English), best first",
    description="This service uses the ESCO classification of the European Commission.",
)
async def occupations(
    q: Annotated[str, Query(min_length=1, max_length=200, examples=["lagermedarbejder"])],
    lang: Annotated[Literal["da", "en"], Query(description="Label language")] = "da",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    return {"query": q, "lang": lang, "results": search_occupations(q, lang, limit)}
