"""Value types shared by the payload models."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")

# The 98 municipalities (kommunekoder) since 2007; the contract refuses anything else.
MUNICIPALITY_CODES = frozenset(
    (
        "0101",
        "0147",
        "0151",
        "0153",
        "0155",
        "0157",
        "0159",
        "0161",
        "0163",
        "0165",
        "0167",
        "0169",
        "0173",
        "0175",
        "0183",
        "0185",
        "0187",
        "0190",
        "0201",
        "0210",
        "0217",
        "0219",
        "0223",
        "0230",
        "0240",
        "0250",
        "0253",
        "0259",
        "0260",
        "0265",
        "0269",
        "0270",
        "0306",
        "0316",
        "0320",
        "0326",
        "0329",
        "0330",
        "0336",
        "0340",
        "0350",
        "0360",
        "0370",
        "0376",
        "0390",
        "0400",
        "0410",
        "0420",
        "0430",
        "0440",
        "0450",
        "0461",
        "0479",
        "0480",
        "0482",
        "0492",
        "0510",
        "0530",
        "0540",
        "0550",
        "0561",
        "0563",
        "0573",
        "0575",
        "0580",
        "0607",
        "0615",
        "0621",
        "0630",
        "0657",
        "0661",
        "0665",
        "0671",
        "0706",
        "0707",
        "0710",
        "0727",
        "0730",
        "0740",
        "0741",
        "0746",
        "0751",
        "0756",
        "0760",
        "0766",
        "0773",
        "0779",
        "0787",
        "0791",
        "0810",
        "0813",
        "0820",
        "0825",
        "0840",
        "0846",
        "0849",
        "0851",
        "0860",
    )
)

# Danish driving licence categories (kørekortkategorier).
DRIVING_LICENCES = frozenset(
    ["AM", "A1", "A2", "A", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE"]
)
Cefr = Literal["A1", "A2", "B1", "B2", "C1", "C2"]
PostalCode = Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["8000"])]


def _municipality(value: str) -> str:
    if value not in MUNICIPALITY_CODES:
        raise ValueError("not one of the 98 Danish municipality codes")
    return value


def _cvr(value: str) -> str:
    # CVR numbers carry a modulus-11 check digit (weights 2,7,6,5,4,3,2,1).
    if sum(int(d) * w for d, w in zip(value, (2, 7, 6, 5, 4, 3, 2, 1), strict=True)) % 11:
        raise ValueError("fails the CVR modulus-11 check")
    return value


def _licence(value: str) -> str:
    code = value.strip().upper()
    if code not in DRIVING_LICENCES:
        raise ValueError(f"unknown driving licence category {value!r}")
    return code


MunicipalityCode = Annotated[
    str, Field(pattern=r"^[0-9]{4}$", examples=["0751"]), AfterValidator(_municipality)
]
Cvr = Annotated[str, Field(pattern=r"^[0-9]{8}$", examples=["12345607"]), AfterValidator(_cvr)]
DrivingLicence = Annotated[str, AfterValidator(_licence)]
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


EARLIEST_DATE = dt.date(1950, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)


def _sane_date(value: dt.date) -> dt.date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"date must lie between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


SaneDate = Annotated[dt.date, AfterValidator(_sane_date)]


class ConceptLink(BaseModel):
    """A piece of free text and the ESCO concept it was linked to, with the confidence.

    `source` is "given" when the document carried the URI, "linked" when the service found
    it, "unlinked" when nothing was confident enough (uri is then None).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    text: str
    uri: str | None = None
    label: str | None = None
    confidence: float = Field(ge=0, le=1)
    source: Literal["given", "linked", "unlinked"]


def cefr_rank(level: str | None) -> int:
    """0 for no level, 1 for A1 … 6 for C2."""
    return CEFR_LEVELS.index(level) + 1 if level in CEFR_LEVELS else 0
