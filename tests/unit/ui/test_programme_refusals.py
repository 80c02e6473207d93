"""A programme rule's refusal reads as the API said it: Danish by default, English a click
away, next to the form field it names."""

from __future__ import annotations

from services.ui.errors import ApiError, explain

REFUSAL = [
    {
        "field": "placement_type",
        "reason": "Et forløb som IGU passer ikke til en jobordre under løntilskud.",
        "code": "programme_type_mismatch",
        "reason_en": "A placement as IGU does not fit a job order under wage subsidy.",
    }
]


def test_a_rule_that_speaks_danish_is_shown_as_it_said_it() -> None:
    error = ApiError(409, REFUSAL, "events")
    da = explain(error, "da", {"placement_type": "placement_type"})
    assert da.fields == {"placement_type": REFUSAL[0]["reason"]}
    en = explain(error, "en", {"placement_type": "placement_type"})
    assert en.fields == {"placement_type": REFUSAL[0]["reason_en"]}
    # Without a form field for it, the sentence is the message.
    assert explain(error, "da").message == REFUSAL[0]["reason"]


def test_an_english_reason_without_a_code_is_still_never_shown() -> None:
    error = ApiError(409, [{"field": None, "reason": "something new went wrong"}], "events")
    assert "something" not in explain(error, "en").message
