"""Programme eligibility of many citizens at once: `eligibility.check(...).eligible` on columns.

The gates and their limits are those of `services.rules.eligibility` (one set of constants);
this module only encodes a card's programme status as small integers (`encode_status`) and
evaluates the gates for whole columns of them (`eligible`), for the matching index.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from schemas.citizens import ProgrammeStatus
from services.rules import eligibility as rules

Bool = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.integer]

# Codes of the residence basis and target group; anything else gets the next free code.
RESIDENCE: dict[str | None, int] = {
    None: 0,
    "refugee": 1,
    "family_reunified": 2,
    "eu": 3,
    "work": 4,
    "danish": 5,
}
OTHER_RESIDENCE = 6
TARGET_GROUP: dict[str | None, int] = {
    "integration": 1,
    "cash_benefit": 2,
    "unemployment_benefit": 3,
    "youth": 4,
}
OTHER_TARGET = 5
UNKNOWN_BIRTH = 0
UNKNOWN_ARRIVAL = -1
_IGU_RESIDENCE = (RESIDENCE["refugee"], RESIDENCE["family_reunified"])
_JOBPAKKE_TARGETS = (TARGET_GROUP["integration"], TARGET_GROUP["cash_benefit"])
TARGETED = ("IGU", "IO-stilling", "jobpakke")


def encode_status(status: ProgrammeStatus) -> tuple[int, int, int, int]:
    """(birth year, residence code, target group code, arrival day ordinal) of a card."""
    return (
        status.birth_year or UNKNOWN_BIRTH,
        RESIDENCE.get(status.residence_basis, OTHER_RESIDENCE),
        TARGET_GROUP.get(status.target_group, OTHER_TARGET),
        status.arrival_date.toordinal() if status.arrival_date else UNKNOWN_ARRIVAL,
    )


def eligible(
    programme: str,
    start: dt.date | None,
    today: dt.date,
    birth: Ints,
    residence: Ints,
    target: Ints,
    arrival: Ints,
) -> Bool:
    """Per citizen (columns as `encode_status` gives them): eligible for `programme` starting
    `start` (an order without a start date is judged on `today`)."""
    n = len(birth)
    when = start or today
    birth64 = birth.astype(np.int64)
    known_birth = birth64 != UNKNOWN_BIRTH
    age = when.year - birth64
    arrival64 = arrival.astype(np.int64)
    known_arrival = arrival64 != UNKNOWN_ARRIVAL
    since = (when.toordinal() - arrival64) / 365.25
    if programme == "IGU":
        ok = known_birth & (age >= rules.IGU_MIN_AGE) & (age <= rules.IGU_MAX_AGE)
        ok &= np.isin(residence, _IGU_RESIDENCE)
        ok &= known_arrival & ~(since > rules.IGU_MAX_YEARS_SINCE_ARRIVAL)
        if start is not None and start > rules.IGU_LAST_START:
            ok[:] = False
        return ok
    if programme == "IO-stilling":
        newly = known_arrival & (since <= rules.IO_NEWLY_ARRIVED_YEARS)
        young = known_birth & (age < rules.IO_YOUTH_AGE)
        return newly | young
    if programme == "jobpakke":
        return np.isin(target, _JOBPAKKE_TARGETS)
    return np.ones(n, dtype=np.bool_)
