"""Danish language level: the card may give a CEFR level, a Danskuddannelse module, or both."""

from __future__ import annotations

from schemas.citizens import DanishLevel
from schemas.common import CEFR_LEVELS, cefr_rank

# The level a completed module corresponds to (DU1 ends at A2, DU2 at B1, DU3 at B2).
_MODULE_CEFR: dict[str, tuple[str, ...]] = {
    "DU1": ("A1", "A1", "A1", "A2", "A2", "A2"),
    "DU2": ("A1", "A1", "A2", "A2", "B1", "B1"),
    "DU3": ("A2", "A2", "B1", "B1", "B2", "B2"),
}


def effective_cefr(level: DanishLevel) -> str | None:
    """The stated CEFR level, or else the one implied by the course module."""
    if level.cefr:
        return level.cefr
    if level.course and level.module:
        return _MODULE_CEFR[level.course][level.module - 1]
    return None


def rank(level: DanishLevel) -> int:
    return cefr_rank(effective_cefr(level))


__all__ = ["CEFR_LEVELS", "effective_cefr", "rank"]
