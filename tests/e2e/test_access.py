"""Sign-in on the running stack: the incidents that opened the access issue are refused,
and the matching worker's pages follow the same rules as the other services.

Found by trying the system with no credentials: an employer accepted, presented and
recorded "hired" on another employer's order; a "citizen" consented for another citizen
and asked for a third's erasure; a consultant of Aarhus read Odense's worklist; a client
posted as `system`; `X-Actor-Id: <script>…` was stored and served back; a body-less form
POST from another site was recorded as a consultant; a 50 MB body was parsed in full.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from services.auth.principal import SCOPES
from services.demo import example_documents
from services.matching.bootstrap import bootstrap
from services.matching.settings import MatchingSettings
from services.stack import Stack
from tests.e2e.browser import chromium, console_errors, resources
from tests.e2e.signin import AARHUS, User, administrator, consultant, employer, signed_in

ODENSE = "0461"
SCREENSHOTS = Path(tempfile.gettempdir()) / "jobmatch-screenshots"
LOGISTIK = "12345607"  # the employer of jo-4410-aarhus-lager
OTHER_CVR = "39121018"
ORDER = "jo-4410-aarhus-lager"
CITIZEN = "cit-7f3a9c2e"


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[dict[str, str]]:
    """The examples loaded by an Aarhus consultant; the lager order's first suggestion."""
    aarhus = consultant(stack)
    cards, orders = example_documents()
    for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
        for doc in docs:
            assert aarhus.post(stack.urls["events"] + path, json=doc).status_code == 202
    url = f"{stack.urls['profiles']}/v1/job-orders/{ORDER}/suggestions"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = aarhus.get(url).json()
        if body.get("suggestions"):
            break
        time.sleep(0.2)
    suggestion = body["suggestions"][0]
    yield {"suggestion_id": suggestion["suggestion_id"], "citizen_id": suggestion["citizen_id"]}


def _events(stack: Stack, path: str) -> str:
    return stack.urls["events"] + path


def test_an_employer_cannot_review_or_decide_on_another_employers_order(
    stack: Stack, world: dict[str, str]
) -> None:
    sid = world["suggestion_id"]
    other = employer(stack, OTHER_CVR)
    own = employer(stack, LOGISTIK)
    for verb in ("accept", "present"):
        # Reviewing is the consultant's job, even on the employer's own order.
        assert own.post(_events(stack, f"/v1/suggestions/{sid}/{verb}")).status_code == 403
        assert other.post(_events(stack, f"/v1/suggestions/{sid}/{verb}")).status_code == 403
    hired = other.post(
        _events(stack, f"/v1/suggestions/{sid}/employer-decision"), json={"decision": "hired"}
    )
    assert hired.status_code == 404  # not its order: as if it did not exist
    # Its own order: allowed to decide, but only once the candidate was presented.
    early = own.post(
        _events(stack, f"/v1/suggestions/{sid}/employer-decision"), json={"decision": "hired"}
    )
    assert early.status_code == 409


def test_nobody_acts_as_a_citizen(stack: Stack, world: dict[str, str]) -> None:
    citizen = signed_in(
        stack, "consultant", "borger-1", municipality=AARHUS, extra={"role": "citizen"}
    )
    consent = citizen.post(
        _events(stack, f"/v1/citizens/{world['citizen_id']}/consents"), json={"scope": "all"}
    )
    assert consent.status_code == 401
    assert "no jobmatch role" in consent.json()["detail"][0]["reason"]
    erasure = citizen.post(_events(stack, "/v1/citizens/cit-2b8e41d0/erasure"), json={})
    assert erasure.status_code == 401
    # Nor does a consultant of another municipality.
    odense = consultant(stack, ODENSE)
    erasure = odense.post(_events(stack, "/v1/citizens/cit-2b8e41d0/erasure"), json={})
    assert erasure.status_code == 404
    assert (
        consultant(stack).get(f"{stack.urls['profiles']}/v1/citizens/cit-2b8e41d0").status_code
        == 200
    )


def test_a_consultant_reads_only_their_own_municipality(
    stack: Stack, world: dict[str, str]
) -> None:
    profiles = stack.urls["profiles"]
    aarhus, odense = consultant(stack), consultant(stack, ODENSE)
    assert aarhus.get(f"{profiles}/v1/worklists/{AARHUS}").status_code == 200
    assert aarhus.get(f"{profiles}/v1/worklists/{ODENSE}").status_code == 404
    assert odense.get(f"{profiles}/v1/worklists/{ODENSE}").status_code == 200
    for path in (f"/v1/worklists/{AARHUS}", f"/v1/citizens/{CITIZEN}", f"/v1/job-orders/{ORDER}"):
        assert odense.get(profiles + path).status_code == 404, path


def test_a_system_account_cannot_post(stack: Stack) -> None:
    system = signed_in(stack, "system", "downstream-x", scopes=SCOPES)
    cards, _ = example_documents()
    card = {**cards[0], "citizen_id": "cit-sysposted"}
    response = system.post(_events(stack, "/v1/competence-cards"), json=card)
    assert response.status_code == 403
    kpis = system.get(f"{stack.urls['profiles']}/v1/kpis/{AARHUS}")
    assert kpis.status_code == 200  # what it is granted: reading


def test_the_actor_comes_from_the_token_and_text_is_served_as_data(
    stack: Stack, world: dict[str, str]
) -> None:
    aarhus = consultant(stack)
    script = "<script>alert(1)</script>"
    answer = aarhus.post(
        _events(stack, f"/v1/citizens/{CITIZEN}/availability"),
        json={"available": True, "reason": script},
        headers={"X-Actor-Role": "system", "X-Actor-Id": script},
    )
    assert answer.status_code == 202, answer.text
    timeline_url = f"{stack.urls['profiles']}/v1/citizens/{CITIZEN}/timeline"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        timeline = aarhus.get(timeline_url, params={"min_position": answer.json()["read_token"]})
        if timeline.status_code == 200:
            break
        time.sleep(0.2)
    entries = timeline.json()["entries"]
    assert script not in json.dumps([e["actor"] for e in entries])
    mine = [e for e in entries if e["event_id"] == answer.json()["event_id"]]
    assert mine[0]["actor"] == {
        "role": "consultant",
        "id": f"consultant-{AARHUS}",
        "municipality_code": AARHUS,
    }
    assert timeline.headers["content-type"].startswith("application/json")
    assert timeline.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in timeline.headers["content-security-policy"]
    assert timeline.headers["cache-control"] == "no-store"


def test_a_form_posted_from_another_site_is_refused(stack: Stack) -> None:
    """No cookie sign-in exists: a cross-site form carries no bearer token."""
    response = httpx.post(
        _events(stack, f"/v1/citizens/{CITIZEN}/erasure"),
        content=b"",
        headers={
            "Origin": "https://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "session=stolen",
        },
    )
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        _events(stack, "/v1/competence-cards"),
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_a_50_mb_body_is_refused_before_it_is_sent(stack: Stack) -> None:
    """The answer comes after the headers alone: the server reads none of the body."""
    url = urlsplit(stack.urls["events"])
    token = consultant(stack).token
    head = (
        f"POST /v1/competence-cards HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(head + b'{"citizen_id": "')
        reply = ""
        # Headers and body may come in separate segments; the server closes after them.
        while chunk := sock.recv(65536):
            reply += chunk.decode(errors="replace")
            if "\r\n\r\n" in reply and "}" in reply.split("\r\n\r\n", 1)[1]:
                break
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "1048576" in reply


def test_the_docs_work_without_a_network_and_without_a_token(stack: Stack) -> None:
    for service in ("events", "profiles"):
        base = stack.urls[service]
        page = httpx.get(f"{base}/docs")
        assert page.status_code == 200
        assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js"):
            assert httpx.get(f"{base}/docs/static/{asset}").status_code == 200, asset
        spec = httpx.get(f"{base}/openapi.json").json()
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# -- the matching worker's pages, from its route table -----------------------------------------

CALLERS = (
    "none",
    "consultant",
    "consultant_other",
    "employer",
    "administrator",
    "system",
    "system_ungranted",
)
PAGES: dict[str, dict[str, int]] = {
    "/health": dict.fromkeys(CALLERS, 200),
    "/ready": dict.fromkeys(CALLERS, 200),
    "/v1/state": {**dict.fromkeys(CALLERS, 403), "none": 401, "administrator": 200},
    "/v1/metrics": {
        **dict.fromkeys(CALLERS, 403),
        "none": 401,
        "administrator": 200,
        "system": 200,
    },
    "/v1/citizens/{citizen_id}/orders": {
        **dict.fromkeys(CALLERS, 403),
        "none": 401,
        "consultant": 200,
        "consultant_other": 404,
    },
    "/v1/models": {**dict.fromkeys(CALLERS, 403), "none": 401, "administrator": 200},
}
# Pages that change something (POST), on a version that is not registered: the rule is
# checked before the version is looked up, so only the administrator learns it is missing.
POSTS: dict[str, dict[str, int]] = {
    "/v1/models/{version}/approve": {
        **dict.fromkeys(CALLERS, 403),
        "none": 401,
        "administrator": 404,
    },
}
METHODS = ("get", "post", "put", "patch", "delete")


def _matching_routes() -> dict[str, Any]:
    """The pages the worker registers, read from its route table (nothing is started)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = MatchingSettings(
            kafka_bootstrap_servers="127.0.0.1:1",
            auth_issuer="http://issuer.invalid",
            auth_jwks_url="http://issuer.invalid/jwks",
            matching_data_dir=Path(tmp) / "data",
            matching_model_dir=Path(tmp) / "models",
        )
        views = dict(bootstrap(settings).app.web.views)
        return views


def test_every_matching_page_has_an_access_rule_and_a_row() -> None:
    """Every method a page implements is guarded (or declared open), and has a row."""
    from faust.web import View

    routes = set()
    for path, view in _matching_routes().items():
        for method in METHODS:
            handler = getattr(type(view), method)
            if handler is getattr(View, method):
                continue  # not implemented: 405
            routes.add((method, path))
            rule = getattr(handler, "access", "missing")
            assert rule != "missing", f"{method} {path} is neither guarded nor declared open"
            assert (rule is None) == (path in ("/health", "/ready")), path
    rows = {("get", p) for p in PAGES} | {("post", p) for p in POSTS}
    assert routes == rows


def test_matching_pages_by_caller(stack: Stack, world: dict[str, str]) -> None:
    users: dict[str, User | None] = {
        "none": None,
        "consultant": consultant(stack),
        "consultant_other": consultant(stack, ODENSE),
        "employer": employer(stack, LOGISTIK),
        "administrator": administrator(stack),
        "system": signed_in(stack, "system", "downstream-x", scopes=SCOPES),
        "system_ungranted": signed_in(stack, "system", "downstream-y"),
    }
    base = stack.urls["matching"]
    for page, statuses in PAGES.items():
        url = base + page.format(citizen_id=world["citizen_id"])
        got = {}
        for caller, user in users.items():
            response = user.get(url) if user else httpx.get(url, timeout=5)
            got[caller] = response.status_code
            assert response.headers["x-content-type-options"] == "nosniff", page
            assert "aiohttp" not in response.headers.get("server", ""), page
        assert got == statuses, page
    for page, statuses in POSTS.items():
        url = base + page.format(version="20990101T000000-nowhere")
        got = {}
        for caller, user in users.items():
            response = user.post(url) if user else httpx.post(url, timeout=5)
            got[caller] = response.status_code
            assert response.headers["x-content-type-options"] == "nosniff", page
        assert got == statuses, page
    for bad in ("expired", "audience"):
        claims: dict[str, Any] = {"minutes": -5} if bad == "expired" else {"audiences": ["x"]}
        user = signed_in(stack, "administrator", **claims)
        response = user.get(f"{base}/v1/state")
        assert response.status_code == 401, bad
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_refusals_are_in_the_services_logs(stack: Stack, world: dict[str, str]) -> None:
    consultant(stack, ODENSE).get(f"{stack.urls['profiles']}/v1/worklists/{AARHUS}")
    employer(stack, OTHER_CVR).get(f"{stack.urls['matching']}/v1/state")
    time.sleep(0.5)
    logs = stack.home / "logs"
    lines = [
        json.loads(line)
        for name in ("profiles.log", "matching.log")
        for line in (logs / name).read_text().splitlines()
        if '"request refused"' in line
    ]
    assert {(r["status"], r["route"], r["actor"]) for r in lines} >= {
        (404, "GET /v1/worklists/{municipality_code}", f"consultant:consultant-{ODENSE}@{ODENSE}"),
        (403, "GET /v1/state", f"employer:employer-{OTHER_CVR}@{OTHER_CVR}"),
    }


def test_the_docs_in_a_browser_offline_sign_in_and_try_a_call(stack: Stack, tmp_path: Path) -> None:
    """Swagger UI opens with no token and no network, takes a token under Authorize and
    sends it with a call it tries."""
    base = stack.urls["events"]
    token = consultant(stack).token
    SCREENSHOTS.mkdir(exist_ok=True)
    with chromium() as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(f"{base}/docs")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        assert "jobmatch events" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
        driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
        field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".auth-container input"))
        field.send_keys(token)
        driver.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
        driver.find_element(By.CSS_SELECTOR, "button.btn-done").click()
        block = driver.find_element(
            By.ID, "operations-taxonomy-occupations_v1_taxonomy_occupations_get"
        )
        block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
        query = block.find_element(By.CSS_SELECTOR, "tr[data-param-name='q'] input")
        query.send_keys("lagermedarbejder")
        block.find_element(By.CSS_SELECTOR, "button.execute").click()
        status = wait.until(
            lambda d: block.find_element(
                By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
            )
        )
        wait.until(lambda d: status.text.strip() != "")
        driver.save_screenshot(str(SCREENSHOTS / "docs-try-a-call.png"))
        assert status.text.strip().startswith("200"), status.text
        body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response").text
        assert "lagermedarbejder" in body.lower()
        curl = block.find_element(By.CSS_SELECTOR, ".curl-command").text
        assert "Authorization: Bearer " in curl
        loaded = resources(driver)
        assert loaded and all(url.startswith(base) for url in loaded), loaded
        assert not [e for e in console_errors(driver) if "Content Security Policy" in e]
