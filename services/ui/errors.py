"""Answers of the APIs as plain Danish (or English) messages (pure).

The APIs answer refusals in English for developers ("suggestion 'sug-…' was already
accepted"); a person reads a sentence in their language, and a field's problem next to the
field. Unknown reasons get the general sentence of their status, never the English text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.ui.i18n import code, translate


@dataclass
class ApiError(Exception):
    """An API answered with an error (or could not be reached: status 503)."""

    status: int
    detail: Any = None
    service: str = ""
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.service} answered {self.status}: {self.detail}"

    def said(self, lang: str) -> dict[int, str]:
        """The sentences the API said itself, by position in the detail: a rule that speaks
        Danish first answers `reason` in Danish, `reason_en` in English, with a `code`."""
        out: dict[int, str] = {}
        if isinstance(self.detail, list):
            for at, item in enumerate(self.detail):
                if isinstance(item, dict) and item.get("code") and item.get("reason_en"):
                    out[at] = str(item["reason_en"] if lang == "en" else item.get("reason", ""))
        return out

    def problems(self) -> list[tuple[str | None, str]]:
        """(field, reason) pairs of the answer's detail."""
        detail = self.detail
        if isinstance(detail, str):
            return [(None, detail)]
        out: list[tuple[str | None, str]] = []
        if isinstance(detail, list):
            for item in detail:
                if isinstance(item, dict):
                    out.append((item.get("field"), str(item.get("reason", ""))))
        return out


@dataclass
class Explained:
    """A refusal as a person reads it: one message, and messages per form field."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str], str], str]]


def _status(lang: str, value: str) -> str:
    return code(lang, "review", value.strip())


def _approved(match: re.Match[str], lang: str) -> str:
    """ "model 'v' was already approved by administrator:admin-1 at 2026-11-30T16:15:00+00:00"
    as "Modellen er allerede godkendt af Administrator admin-1 30.11.2026 kl. 17:15."."""
    from services.ui import present

    return translate(
        lang,
        "refusal.model_approved",
        actor=present.approver(match["by"], lang),
        at=present.moment(match["at"], lang),
    )


def _rules() -> list[Rule]:
    def r(pattern: str, fn: Callable[[re.Match[str], str], str]) -> Rule:
        return re.compile(pattern), fn

    def said(pattern: str, key: str) -> Rule:
        """A refusal whose sentence takes nothing from the API's message."""
        return r(pattern, lambda m, lang: translate(lang, key))

    return [
        r(r"^model '[^']*' was already approved by (?P<by>\S+) at (?P<at>\S+)$", _approved),
        r(
            r"was already (?P<s>\w+)$",
            lambda m, lang: translate(lang, "refusal.already", status=_status(lang, m["s"])),
        ),
        r(
            r"was retracted \((?P<r>\w+)\)",
            lambda m, lang: translate(
                lang, "refusal.retracted", reason=code(lang, "retracted", m["r"])
            ),
        ),
        r(
            r"only an accepted suggestion can be presented; this one is (?P<s>\w+)",
            lambda m, lang: translate(
                lang, "refusal.present_needs_accept", status=_status(lang, m["s"])
            ),
        ),
        said(r"has no consent on record", "refusal.no_consent"),
        r(
            r"the employer decides on presented candidates; this one is (?P<s>\w+)",
            lambda m, lang: translate(
                lang, "refusal.decide_needs_presented", status=_status(lang, m["s"])
            ),
        ),
        said(r"an interview is already recorded", "refusal.interview_recorded"),
        r(
            r"a placement starts after the employer hired; this one is (?P<s>\w+)",
            lambda m, lang: translate(
                lang, "refusal.placement_needs_hired", status=_status(lang, m["s"])
            ),
        ),
        r(
            r"job order '[^']*' is (?P<s>[\w ]+)$",
            lambda m, lang: translate(
                lang, "refusal.order_not_open", status=code(lang, "status", m["s"].strip())
            ),
        ),
        said(r"job order is at version \d+", "refusal.order_version"),
        said(r"has been erased", "refusal.erased"),
        said(r"consent '[^']*' is already on record", "refusal.consent_exists"),
        said(r"placement '[^']*' has ended", "refusal.placement_ended"),
        said(r"has not passed its deadline", "refusal.not_past_deadline"),
        said(r"IGU .*2027", "invalid.igu_2027"),
        said(r"application deadline lies after the start date", "invalid.deadline_after_start"),
        said(r"reason 'other' needs a text", "invalid.other_needs_text"),
        said(r"end date lies before", "invalid.end_before_start"),
        said(r"follow-up cannot predate", "invalid.follow_up_before_start"),
        said(r"placements have started; positions cannot be fewer", "invalid.positions_fewer"),
        said(r"consent for one employer names its CVR", "invalid.consent_cvr"),
        # The APIs' field checks (pydantic's sentences and our validators'): the limit or the
        # value the person has to change, next to the field.
        said(r"^Field required$", "invalid.required"),
        _limit(r"String should have at most (?P<n>\d+) characters?", "invalid.max_chars"),
        _limit(r"String should have at least (?P<n>\d+) characters?", "invalid.min_chars"),
        _limit(r"List should have at most (?P<n>\d+) items?", "invalid.max_items"),
        _limit(r"should be greater than or equal to (?P<n>-?[\d.]+)", "invalid.at_least"),
        _limit(r"should be greater than (?P<n>-?[\d.]+)", "invalid.above"),
        _limit(r"should be less than or equal to (?P<n>-?[\d.]+)", "invalid.at_most"),
        said(r"should be a valid (integer|number)", "invalid.number"),
        said(r"should be a valid date|date must lie between", "invalid.date"),
        r(
            r"unknown driving licence category '(?P<v>[^']*)'",
            lambda m, lang: translate(lang, "invalid.licence", value=m["v"]),
        ),
        said(r"not one of the 98 Danish municipality codes", "invalid.municipality"),
        said(r"fails the CVR modulus-11 check", "invalid.cvr"),
        said(r"not a CPR number", "invalid.cpr"),
    ]


def _limit(pattern: str, key: str) -> Rule:
    """A field check that names a number (a length, a count, a bound)."""
    return re.compile(pattern), lambda m, lang: translate(lang, key, n=m["n"])


RULES = _rules()


def sentence(reason: str, lang: str) -> str | None:
    """A known refusal reason as a sentence; None when no rule knows it."""
    for pattern, make in RULES:
        found = pattern.search(reason)
        if found:
            return make(found, lang)
    return None


def general(status: int, lang: str) -> str:
    key = f"api.{status}"
    return translate(lang, key if status in (401, 403, 404, 409, 422, 429, 503) else "api.other")


def _form_field(api_field: str | None, aliases: dict[str, str]) -> str | None:
    """The form field an API field name ("body.requirements.danish_min_cefr") stands for."""
    if not api_field:
        return None
    parts = [p for p in api_field.split(".") if p not in ("body", "query", "path")]
    for size in range(len(parts), 0, -1):
        name = ".".join(parts[:size])
        if name in aliases:
            return aliases[name]
    return None


def explain(error: ApiError, lang: str, aliases: dict[str, str] | None = None) -> Explained:
    """The message to show for `error`, with field messages for the fields in `aliases`
    (API field name -> form field name)."""
    if error.status == 503 or error.status == 504:
        return Explained(general(503, lang))
    if error.status in (401, 403, 404, 429):
        return Explained(general(error.status, lang))
    messages: list[str] = []
    fields: dict[str, str] = {}
    said = error.said(lang)
    for at, (api_field, reason) in enumerate(error.problems()):
        text = said.get(at) or sentence(reason, lang)
        target = _form_field(api_field, aliases or {})
        if target is not None:
            fields.setdefault(target, text or translate(lang, "api.field_invalid"))
        elif text is not None and text not in messages:
            messages.append(text)
    if not messages:
        messages.append(
            translate(lang, "common.fix_errors") if fields else general(error.status, lang)
        )
    return Explained(" ".join(messages), fields)
