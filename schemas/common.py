"""Value types shared by the payload models."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
Cefr = Literal["A1", "A2", "B1", "B2", "C1", "C2"]
PostalCode = Annotated[str, Field(pattern=r"^\d{4}$", examples=["8000"])]
Cvr = Annotated[str, Field(pattern=r"^\d{8}$", examples=["12345607"])]
EscoOccupationUri = Annotated[
    str, Field(pattern=r"^http://data\.europa\.eu/esco/occupation/[0-9a-f-]{36}$")
]
EscoSkillUri = Annotated[str, Field(pattern=r"^http://data\.europa\.eu/esco/skill/[0-9a-f-]{36}$")]

# A CPR number is DDMMYY-SSSS (the dash optional); ids shaped like one are refused so that
# a real personal identity number never enters the log.
_CPR_SHAPE = re.compile(r"(?<!\d)[0-3]\d[01]\d\d{2}-?\d{4}(?!\d)")


def _not_cpr(value: str) -> str:
    if _CPR_SHAPE.search(value):
        raise ValueError("must be a pseudonymous id, not a CPR number")
    return value


PseudonymousId = Annotated[
    str,
    Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"),
    AfterValidator(_not_cpr),
]
ResourceId = Annotated[
    str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]


def cefr_rank(level: str | None) -> int:
    """0 for no level, 1 for A1 … 6 for C2."""
    return CEFR_LEVELS.index(level) + 1 if level in CEFR_LEVELS else 0
