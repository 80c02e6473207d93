"""The web application's pure pieces: catalogue, presentation, refusals, charts, sessions,
settings, and the embedded issuer's PKCE flow."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import ValidationError

from schemas.placements import SuggestionRejected
from services.auth.issuer import DEMO_USERS, create_issuer_app, loopback_redirect, s256
from services.rules.eligibility import check
from services.ui import charts, kpis, present
from services.ui.errors import ApiError, explain, sentence
from services.ui.i18n import DA, EN, code, translate
from services.ui.routes.common import pkce_pair
from services.ui.session import Flow, Sealer, Session, local_path
from services.ui.settings import UiSettings

TEMPLATES = Path(__file__).resolve().parents[3] / "services" / "ui" / "templates"
ROUTES = Path(__file__).resolve().parents[3] / "services" / "ui"


def test_both_languages_have_every_key() -> None:
    assert set(DA) == set(EN)
    for key in DA:
        assert set(re.findall(r"{(\w+)}", DA[key])) == set(re.findall(r"{(\w+)}", EN[key])), key


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path in [*TEMPLATES.rglob("*.html"), *ROUTES.rglob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text()))
        used |= set(re.findall(r"""translate\(\s*\w+,\s*["']([a-z0-9_.]+)["']""", path.read_text()))
    assert used, "no keys found: the pattern is wrong"
    missing = sorted(k for k in used if k not in DA and not k.endswith("."))
    assert not missing, missing


def test_every_eligibility_reason_and_rejection_code_is_a_sentence() -> None:
    reasons = re.findall(
        r'"([a-z0-9_]+)"', (ROUTES.parent / "rules" / "eligibility.py").read_text()
    )
    codes = [r for r in reasons if r.startswith(("igu_", "io_", "jobpakke_", "open_"))]
    assert len(codes) >= 10
    for reason in codes:
        for lang in ("da", "en"):
            text = present.eligibility(reason, lang)
            assert text != reason and "_" not in text and text.endswith("."), (reason, text)
    rejection = SuggestionRejected.model_fields["reason_code"].annotation
    for value in rejection.__args__:  # type: ignore[union-attr]
        assert code("da", "reject", value) != translate("da", "common.unknown")


def test_an_unknown_code_never_shows_raw() -> None:
    assert present.eligibility("brand_new_rule", "da") == DA["eligibility.unknown"]
    assert code("da", "programme", None) == DA["common.unknown"]


def test_eligibility_of_a_real_card_reads_as_danish() -> None:
    from schemas.citizens import CompetenceCard
    from services.demo import example_documents

    cards, _ = example_documents()
    result = check(CompetenceCard.model_validate(cards[0]), "IO-stilling", None)
    assert all("_" not in present.eligibility(r, "da") for r in result.reasons)


def test_dates_scores_and_numbers_in_danish_and_english() -> None:
    assert present.date("2027-01-04", "da") == "4.1.2027"
    assert present.date("2027-01-04", "en") == "4 Jan 2027"
    assert present.moment("2026-11-30T15:16:00+00:00", "da") == "30.11.2026 kl. 16:16"
    assert present.moment("2026-07-01T10:00:00+00:00", "da") == "1.7.2026 kl. 12:00"  # CEST
    assert present.percent(0.3899, "da") == "39 %"
    assert present.percent(0.3899, "en") == "39%"
    assert present.number(1234567, "da") == "1\u00a0234\u00a0567"
    assert present.number(0.629, "da", 2) == "0,63"
    assert present.hours(29.0, "da") == "29"
    assert present.month("2026-05", "da") == "maj 2026"


def test_missing_requirements_read_as_sentences() -> None:
    assert present.missing("danish_min:B1", "da") == "Dansk på mindst niveau B1"
    assert present.missing("certificate:truckcertifikat", "da") == "Certifikat: truckcertifikat"
    assert present.missing("commute:45>30km", "da") == "Pendling 45 km; borgeren kan højst 30 km"
    assert present.missing("whatever", "da").startswith("Andet krav")


def test_the_actor_of_an_event() -> None:
    who = {"role": "consultant", "id": "konsulent-aarhus", "municipality_code": "0751"}
    assert present.actor(who, "da") == "Virksomhedskonsulent konsulent-aarhus (0751)"
    assert present.actor({"role": "system", "id": "matching"}, "da") == "Matching (automatisk)"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("suggestion 'sug-1' was already accepted", "Forslaget er allerede accepteret."),
        (
            "suggestion 'sug-1' was retracted (order_closed)",
            "Forslaget er trukket tilbage: jobordren er lukket.",
        ),
        ("citizen 'cit-1' has no consent on record for employer 12345607", "samtykke"),
        ("job order 'jo-1' is filled", "Jobordren er ikke længere åben (Besat)."),
        ("a placement starts after the employer hired; this one is presented", "ansat"),
    ],
)
def test_refusals_of_the_api_read_as_danish(reason: str, expected: str) -> None:
    text = sentence(reason, "da")
    assert text is not None and expected in text


def test_an_unknown_refusal_gets_the_general_sentence_never_the_english() -> None:
    error = ApiError(409, [{"field": None, "reason": "something new went wrong"}], "events")
    explained = explain(error, "da")
    assert explained.message == DA["api.409"]
    assert "something" not in explained.message


def test_field_errors_go_next_to_their_field() -> None:
    error = ApiError(
        422,
        [
            {"field": "body.start_date", "reason": "IGU runs only until 31 December 2027"},
            {"field": "body.worksite.postal_code", "reason": "not a postal code"},
        ],
        "events",
    )
    explained = explain(error, "da", {"start_date": "start_date", "worksite": "postal_code"})
    assert explained.fields["start_date"] == DA["invalid.igu_2027"]
    assert explained.fields["postal_code"] == DA["api.field_invalid"]
    assert explained.message == DA["common.fix_errors"]


def test_the_apis_field_checks_read_as_danish_next_to_their_field() -> None:
    """The reasons the events API sends for a nonsense job order (its own pydantic errors,
    as `services.common.errors` passes them on) each get a sentence that says what to
    change, in Danish and in English, never the general "not valid"."""
    from schemas.jobs import JobOrder

    nonsense = {
        "job_order_id": "jo-1",
        "employer": {"cvr": "12345678", "name": "x"},
        "title": "",
        "programme": "ordinary",
        "positions": 0,
        "hours_per_week": 37,
        "worksite": {"postal_code": "8000"},
        "municipality_code": "9999",
        "description": "x" * 9000,
        "requirements": {
            "driving_licences": ["ZZ"],
            "skills": [{"label": f"s{i}", "must": True} for i in range(300)],
        },
    }
    with pytest.raises(ValidationError) as raised:
        JobOrder.model_validate(nonsense)
    detail = [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
        for e in raised.value.errors()
    ]
    assert len(detail) >= 6, detail
    error = ApiError(422, detail, "events")
    for lang, catalogue in (("da", DA), ("en", EN)):
        aliases = {str(d["field"]): str(d["field"]) for d in detail}
        explained = explain(error, lang, aliases)
        assert set(explained.fields) == set(aliases)
        for name, text in explained.fields.items():
            assert text != catalogue["api.field_invalid"], (name, text)
    da = explain(error, "da", {str(d["field"]): str(d["field"]) for d in detail}).fields
    assert da["description"] == "Højst 8000 tegn."
    assert da["requirements.skills"] == "Højst 100 punkter."
    assert da["requirements.driving_licences.0"].startswith("Ukendt kørekortkategori: ZZ.")
    assert da["employer.cvr"].startswith("CVR-nummeret er ikke gyldigt")
    assert da["municipality_code"].startswith("Ukendt kommunekode")


def test_charts_escape_labels_and_scale_to_a_round_maximum() -> None:
    svg = charts.bar_chart("c", "<b>titel</b>", ["a<", "b"], [charts.Series("s&", [3, 7])])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "s&amp;" in svg
    assert 'role="img"' in svg and "style=" not in svg
    assert charts.ticks(7) == [0, 2, 4, 6, 8]
    assert charts.ticks(1) == [0, 1] and charts.ticks(0) == [0, 1]
    assert charts.ticks(10) == [0, 5, 10] and charts.ticks(120) == [0, 50, 100, 150]
    assert charts.ticks(4000)[-1] == 4000
    tick_texts = re.findall(r'class="tick"[^>]*>([^<]*)<', svg)
    assert tick_texts == ["0", "2", "4", "6", "8"]  # counts: whole numbers only
    big = charts.bar_chart("c", "t", ["a"], [charts.Series("s", [4000])], "da")
    assert "4.000" in big and "4,000" in charts.bar_chart(
        "c", "t", ["a"], [charts.Series("s", [4000])], "en"
    )
    heights = [float(h) for h in re.findall(r'class="bar series-0"[^>]*height="([0-9.]+)"', svg)]
    assert heights[1] > heights[0]


def test_a_factor_bar_points_the_way_it_pulls() -> None:
    up = charts.factor_bar(0.5, 0.5, "op")
    down = charts.factor_bar(-0.25, 0.5, "ned")
    assert "factor-up" in up and "factor-down" in down
    x_up = float(re.search(r'x="([0-9.]+)" y="2"', up).group(1))  # type: ignore[union-attr]
    x_down = float(re.search(r'x="([0-9.]+)" y="2"', down).group(1))  # type: ignore[union-attr]
    assert x_up == 100 and x_down < 100


def test_kpi_tables_hold_the_numbers_the_charts_draw() -> None:
    months = [
        {
            "month": "2026-11",
            "job_orders": {"created": 2, "with_suggestions": 2, "with_presented_candidates": 1,
                           "hired_within_3_months": 1, "share_with_suggestions": 1.0,
                           "share_with_presented_candidates": 0.5,
                           "share_hired_within_3_months": 0.5, "hire_window_closed": False},
            "placements": {"started": 1, "by_order_programme": {"IGU": 1}},
            "outcomes": {"education": 1},
            "time_to_placement_days": {"placements": 1, "median": 12, "mean": 12.0},
        }
    ]  # fmt: skip
    orders, placements, outcomes, days = kpis.charts_of(months, "da")
    assert orders.table.rows[0][1][0] == "2" and "50 %" in orders.table.rows[0][1][2]
    assert placements.table.columns[-1] == "IGU (integrationsgrunduddannelse)"
    assert dict(outcomes.table.rows)["Uddannelse"] == ["1"]
    assert days.table.rows[0][1] == ["1", "12", "12,0"]
    assert not orders.empty and not outcomes.empty


def _session(expires_in: float = 600) -> Session:
    return Session("tok", "sub", "consultant", "Navn", "0751", None, time.time() + expires_in, "c")


def test_a_sealed_session_opens_only_with_its_key_and_until_it_expires() -> None:
    sealer = Sealer(Fernet.generate_key().decode())
    raw = sealer.seal_session(_session())
    assert "tok" not in raw  # encrypted, not just signed
    assert sealer.open_session(raw, 3600) is not None
    assert Sealer(Fernet.generate_key().decode()).open_session(raw, 3600) is None
    assert sealer.open_session(raw[:-4] + "AAAA", 3600) is None
    assert sealer.open_session(sealer.seal_session(_session(-1)), 3600) is None
    flow = Flow("state", "verifier", "nonce", "/worklist")
    assert sealer.open_flow(sealer.seal_flow(flow)) == flow


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/worklist?x=1", "/worklist?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        ("", "/"),
    ],
)
def test_redirects_stay_on_the_site(target: str, expected: str) -> None:
    assert local_path(target) == expected


def _settings(**extra: str) -> UiSettings:
    env = {
        "auth_issuer": "http://127.0.0.1:1",
        "auth_jwks_url": "http://127.0.0.1:1/jwks",
        "ui_events_url": "http://127.0.0.1:2",
        "ui_profiles_url": "http://127.0.0.1:3",
        "ui_matching_url": "http://127.0.0.1:4",
        "ui_oidc_issuer": "http://127.0.0.1:1",
        "ui_session_key": Fernet.generate_key().decode(),
        **extra,
    }
    return UiSettings(**env)  # type: ignore[arg-type]


def test_settings_fail_fast_and_cookies_are_secure_outside_localhost() -> None:
    assert _settings().cookie_secure is False
    assert _settings(ui_public_url="https://jobmatch.aarhus.dk").cookie_secure is True
    with pytest.raises(ValidationError):
        _settings(ui_session_key="too-short")
    with pytest.raises(ValidationError):
        _settings(ui_events_url="not a url")
    with pytest.raises(ValidationError):
        _settings(ui_public_url="https://jobmatch.aarhus.dk", ui_cookie_secure="false")


def test_pkce_pair_matches_the_issuers_check() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128 and s256(verifier) == challenge
    digest = base64.urlsafe_b64decode(challenge + "=")
    assert len(digest) == 32


def test_only_loopback_redirects_are_allowed() -> None:
    assert loopback_redirect("http://127.0.0.1:8707/auth/callback")
    assert loopback_redirect("http://localhost:1/cb")
    assert not loopback_redirect("https://evil.example/cb")
    assert not loopback_redirect("http://127.0.0.1.evil.example/cb")
    assert not loopback_redirect("javascript:alert(1)")


def test_the_issuer_exchanges_a_code_once_and_only_with_its_verifier(tmp_path: Path) -> None:
    app = create_issuer_app(tmp_path, "http://127.0.0.1:9")
    client = TestClient(app)
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:8707/auth/callback"
    params = {
        "response_type": "code",
        "client_id": "jobmatch-ui",
        "redirect_uri": redirect,
        "state": "st<&>",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = client.get("/authorize", params=params)
    assert page.status_code == 200 and 'lang="da"' in page.text
    assert "st&lt;&amp;&gt;" in page.text  # the state is escaped into the form
    assert all(u.subject in page.text for u in DEMO_USERS)
    bad = client.get("/authorize", params={**params, "redirect_uri": "https://evil.example/"})
    assert bad.status_code == 400
    chosen = client.post(
        "/authorize", data={**params, "user": "konsulent-aarhus"}, follow_redirects=False
    )
    assert chosen.status_code == 303
    location = chosen.headers["location"]
    assert location.startswith(redirect + "?code=")
    code_value = re.search(r"code=([^&]+)", location).group(1)  # type: ignore[union-attr]
    form = {
        "grant_type": "authorization_code",
        "code": code_value,
        "redirect_uri": redirect,
        "client_id": "jobmatch-ui",
    }
    wrong = client.post("/token", data={**form, "code_verifier": pkce_pair()[0]})
    assert wrong.status_code == 400  # and the code is spent
    again = client.post("/token", data={**form, "code_verifier": verifier})
    assert again.status_code == 400
    chosen = client.post(
        "/authorize", data={**params, "user": "konsulent-aarhus"}, follow_redirects=False
    )
    code_value = re.search(r"code=([^&]+)", chosen.headers["location"]).group(1)  # type: ignore[union-attr]
    token = client.post("/token", data={**form, "code": code_value, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    import jwt

    claims = jwt.decode(token.json()["access_token"], options={"verify_signature": False})
    assert claims["role"] == "consultant" and claims["municipality"] == "0751"
    assert "jobmatch-ui" in claims["aud"] and "jobmatch-events" in claims["aud"]
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]
