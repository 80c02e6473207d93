"""Why a command is refused; the routes map each to its HTTP status."""

from __future__ import annotations


class CommandError(Exception):
    status = 400

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.problems: list[tuple[str | None, str]] = [(field, reason)]
        # Per problem, what a rule with a Danish reason adds: its code and its English text.
        self.extras: list[dict[str, str]] = [{}]

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> CommandError:
        """One error naming several fields."""
        err = cls(problems[0][1], problems[0][0])
        err.problems = list(problems)
        err.extras = [{} for _ in problems]
        return err

    @classmethod
    def said(cls, problems: list[tuple[str, str, str, str]]) -> CommandError:
        """One error of rules that speak Danish first: (field, code, Danish, English) each;
        `reason` is the Danish text, `reason_en` the English, `code` stable for clients."""
        err = cls(problems[0][2], problems[0][0])
        err.problems = [(f, da) for f, _, da, _ in problems]
        err.extras = [{"code": code, "reason_en": en} for _, code, _, en in problems]
        return err

    def detail(self) -> list[dict[str, str | None]]:
        return [
            {"field": f, "reason": r, **extra}
            for (f, r), extra in zip(self.problems, self.extras, strict=True)
        ]


class Forbidden(CommandError):
    """The caller's role or tenant may not do this (an existing object of another tenant
    answers NotFound instead, so that its existence is not revealed)."""

    status = 403


class NotFound(CommandError):
    status = 404


class Hidden(NotFound):
    """The object exists but belongs to another tenant: answered exactly as a missing one;
    `why` is for the log only."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(reason)
        self.why = why


class Conflict(CommandError):
    """The command does not fit the aggregate's current state (or lost a race)."""

    status = 409


class Gone(CommandError):
    """The citizen's personal data was erased: nothing more may be recorded about them (a
    new data key would undo the erasure)."""

    status = 410


ERASED_REASON = (
    "Borgerens personoplysninger er slettet (GDPR art. 17); der kan ikke registreres mere "
    "om borgeren."
)


class Invalid(CommandError):
    """The input is well-formed but breaks a rule (unknown ESCO URI, IGU after 2027, ...)."""

    status = 422


class PreconditionRequired(CommandError):
    status = 428


class Unavailable(CommandError):
    """The service cannot decide right now (its states are catching up with the log)."""

    status = 503
    retry_after_s = 2
