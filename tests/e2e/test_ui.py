"""The web application in a real browser (Debian's Chromium through Selenium) against the
running stack: sign-in through the stack's issuer (authorization code + PKCE), the
consultant's review, consent and presentation, the employer's decision, the placement and
its follow-up, tenancy (another municipality's consultant gets the Danish 404 page), and
axe-core (vendored, injected here) on every page visited: no serious or critical violation.

`JOBMATCH_SCREENSHOTS=1` writes screenshots of the main pages to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.demo import example_documents
from services.stack import Stack, free_port_base
from tests.e2e.browser import chromium, console_errors, resources
from tests.e2e.signin import consultant

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "services" / "ui" / "vendor" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
CITIZEN = "cit-7f3a9c2e"  # Amina, suggested for the warehouse order
ORDER = "jo-4410-aarhus-lager"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack as `jobmatch up` runs it, web application included, with the examples."""
    running = Stack(
        home=tmp_path_factory.mktemp("ui"), ports=free_port_base(), memory=True, with_ui=True
    )
    with running.running():
        aarhus = consultant(running)
        cards, orders = example_documents()
        for path, docs in (("/v1/competence-cards", cards), ("/v1/job-orders", orders)):
            for doc in docs:
                answer = aarhus.post(running.urls["events"] + path, json=doc, timeout=15)
                assert answer.status_code == 202, answer.text
        url = f"{running.urls['profiles']}/v1/worklists/0751"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if aarhus.get(url).json().get("total", 0) >= 2:
                break
            time.sleep(0.3)
        yield running


class Visit:
    """The browser, with axe-core run on every page it lands on."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver = driver
        self.base = base
        self.axe = AXE.read_text(encoding="utf-8")
        self.violations: dict[str, list[str]] = {}
        self.checked: list[str] = []
        self.errors: list[str] = []
        self.shots = os.environ.get("JOBMATCH_SCREENSHOTS") == "1"

    def wait(self, until: Callable[[webdriver.Chrome], Any], timeout: float = 20) -> Any:
        stale = (StaleElementReferenceException, NoSuchElementException)
        return WebDriverWait(self.driver, timeout, ignored_exceptions=stale).until(until)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_text(self, text: str, timeout: float = 20) -> None:
        self.wait(lambda d: text in d.find_element(By.TAG_NAME, "body").text, timeout)

    def check(self, name: str) -> None:
        """axe-core on the page as it is now (WCAG 2.1 A and AA rules)."""
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        self.driver.execute_script(self.axe)
        found: list[dict[str, Any]] = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
            ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, "
            "nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))))"
            ".catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes']}"
            for v in found
            if v["impact"] in ("serious", "critical")
        ]
        url = str(self.driver.current_url)
        self.checked.append(url)
        if bad:
            self.violations[url] = bad
        # Script errors (a CSP refusal among them) and failed loads; the 404 page's own
        # status is the one expected failure.
        for error in console_errors(self.driver):
            if not (name.startswith("not-found") and error.startswith(url) and "404" in error):
                self.errors.append(f"{url}: {error}")
        if self.shots:
            self.screenshot(name)

    def screenshot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(1280, min(max(height, 700), 4000))
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))
        self.driver.set_window_size(1280, 1000)

    def go(self, path: str, name: str) -> None:
        self.driver.get(self.base + path)
        self.check(name)

    def click(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def field(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def set_value(self, css: str, value: str) -> None:
        element = self.field(css)
        self.driver.execute_script("arguments[0].value = arguments[1]", element, value)

    def sign_in(self, user: str, landing: str) -> None:
        self.driver.delete_all_cookies()
        self.driver.get(self.base + "/")
        self.wait_text("Log ind")
        self.check("signin")
        self.driver.find_element(By.LINK_TEXT, "Log ind").click()
        self.wait(lambda d: "/authorize" in d.current_url)
        self.check("issuer-signin")
        self.field(f"input[name=user][value='{user}']").click()
        self.field("form button[type=submit]").click()
        self.wait(lambda d: d.current_url.startswith(self.base + landing))

    def sign_out(self) -> None:
        # Clicked through `wait`: the button of a page that is still being replaced (after a
        # language switch) is stale, and the next look finds the new page's.
        def click(d: webdriver.Chrome) -> bool:
            try:
                d.find_element(By.CSS_SELECTOR, "header form button").click()
            except WebDriverException as exc:
                if "does not belong to the document" not in str(exc) and not isinstance(
                    exc, StaleElementReferenceException
                ):
                    raise
                return False
            return True

        self.wait(click)
        self.wait_text("Du er logget ud")


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Visit]:
    with chromium() as driver:
        driver.set_script_timeout(60)
        yield Visit(driver, stack.urls["ui"])


def test_consultant_employer_and_placement_in_the_browser(browser: Visit, stack: Stack) -> None:
    b = browser
    # -- the consultant reviews, records consent and presents ------------------------------
    b.sign_in("konsulent-aarhus", "/worklist")
    b.wait_text("Arbejdsliste")
    b.check("worklist")
    assert "2 forslag matcher filteret" in b.text()
    Select(b.field("#f-programme")).select_by_value("IGU")
    b.click("form.filters button[type=submit]")  # htmx swaps the results in place
    b.wait_text("1 forslag matcher filteret")
    assert "Køkkenmedhjælper" not in b.field("#results").text
    assert "programme=IGU" in b.driver.current_url  # the filtered list has its own URL
    b.check("worklist-filtered")
    # The order's page lists its suggestions with their status, the pending ones by default.
    b.go(f"/orders/{ORDER}", "order-pending")
    b.wait_text("Jobordre: Lagermedarbejder")
    row = b.field(f"tr[data-citizen='{CITIZEN}'] td.status")
    assert (row.get_attribute("data-status"), row.text) == ("pending", "Afventer vurdering")
    b.go("/worklist?programme=IGU", "worklist-again")
    b.driver.find_element(By.PARTIAL_LINK_TEXT, "Lagermedarbejder").click()
    b.wait_text("Sandsynlighed for et godt match")
    page = b.text()
    assert "%" in page and "Model:" in page
    assert "Kan ansættes i IGU" in page  # eligibility as a sentence, not a code
    assert "igu_eligible" not in page
    assert b.driver.find_elements(By.CSS_SELECTOR, "svg.factor rect.factor-up")
    b.check("suggestion")
    b.click("#accept")
    b.wait_text("Forslaget er accepteret.")
    b.check("suggestion-accepted")
    # Only skills and Danish are shared with the employer.
    for box in b.driver.find_elements(By.CSS_SELECTOR, "input[name=shared_fields]"):
        if box.is_selected() != (box.get_attribute("value") in ("skills", "danish")):
            box.click()
    b.click("#record-consent")
    b.wait_text("Samtykket er registreret.")
    b.click("#present")
    b.wait_text("Kandidaten er præsenteret for arbejdsgiveren.")
    assert "præsenteret for arbejdsgiveren" in b.field("#review-status").text
    b.check("suggestion-presented")
    b.sign_out()

    # -- the employer sees only the consented fields and records "hired" ------------------
    b.sign_in("arbejdsgiver-12345607", "/employer/orders")
    b.wait_text("Mine jobordrer")
    b.check("employer-orders")
    b.driver.find_element(By.LINK_TEXT, "Kandidater").click()
    b.wait_text("Præsenterede kandidater")
    card = b.field("article.candidate")
    shown = [dt_.text for dt_ in card.find_elements(By.TAG_NAME, "dt")]
    assert sorted(shown) == ["Dansk", "Kompetencer"], shown
    assert "Motiveret" not in b.text()  # the consultant's notes never reach the employer
    assert "8000" not in card.text  # nor the home postal code, which was not shared
    b.check("employer-candidates")
    card.find_element(By.CSS_SELECTOR, "input[name=decision][value=hired]").click()
    card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    b.wait_text("Beslutningen er registreret.")
    assert "ansat" in b.field("article.candidate .status").text
    b.go("/employer/orders/new", "employer-new-order")
    b.sign_out()

    # -- the consultant starts the placement (IGU 29/8) and records a follow-up ------------
    b.sign_in("konsulent-aarhus", "/worklist")
    b.go(f"/suggestions/{CITIZEN}/{ORDER}", "suggestion-hired")
    b.click("#start-placement")
    b.wait_text("Start forløb")
    assert (
        Select(b.field("#f-placement_type")).first_selected_option.get_attribute("value") == "IGU"
    )
    assert b.field("#f-weekly_hours_work").get_attribute("value") == "29"
    assert b.field("#f-weekly_hours_school").get_attribute("value") == "8"
    b.check("placement-new")
    started = (dt.date.today() - dt.timedelta(days=35)).isoformat()
    # 50 hours of work and 20 of school is no IGU: the rule's Danish reason at the field.
    b.set_value("#f-weekly_hours_work", "50")
    b.set_value("#f-weekly_hours_school", "20")
    b.set_value("#f-start_date", started)
    b.click("#start")
    b.wait_text("En IGU er højst 37 timer om ugen")
    assert "50 + 20 = 70 timer" in b.text()
    b.check("placement-refused")
    b.errors = _unexpected(b.errors, ("/placements", 422))  # the refusal provoked here
    b.set_value("#f-weekly_hours_work", "29")
    b.set_value("#f-weekly_hours_school", "8")
    b.set_value("#f-start_date", started)
    b.click("#start")
    b.wait_text("Forløbet er startet.")
    b.check("citizen")
    b.driver.find_element(By.CSS_SELECTOR, "#plc-h ~ table a").click()
    b.wait_text("Opfølgninger")
    b.check("placement")
    b.set_value("#f-date", dt.date.today().isoformat())
    Select(b.field("#f-status")).select_by_value("at_risk")
    b.field("#f-note").send_keys("Mødt stabilt <script>alert(1)</script>")
    b.click("#record-follow-up")
    b.wait_text("Opfølgningen er registreret.")
    assert "Mødt stabilt <script>alert(1)</script>" in b.text()  # shown as text
    assert "I risiko" in b.text()
    b.check("placement-followed-up")
    # Hired and placed: off the order's pending list, "Ansat" among all its suggestions.
    b.go(f"/orders/{ORDER}", "order-after-placement")
    assert not b.driver.find_elements(By.CSS_SELECTOR, f"tr[data-citizen='{CITIZEN}']")
    Select(b.field("#f-status")).select_by_value("all")
    b.click("form.filters button[type=submit]")
    b.wait(lambda d: "status=all" in d.current_url)
    row = b.field(f"tr[data-citizen='{CITIZEN}'] td.status")
    assert row.get_attribute("data-status") == "hired"
    assert row.text == "Ansat (startet i forløb)"
    b.check("order-all")
    b.go("/kpis", "kpis")
    assert b.driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert "Forløb startet pr. ordning" in b.text()
    b.driver.find_element(By.LINK_TEXT, "English").click()
    b.wait_text("Key figures")
    b.check("kpis-en")
    b.driver.find_element(By.LINK_TEXT, "Dansk").click()
    b.wait_text("Nøgletal")
    b.sign_out()

    # -- another municipality's consultant cannot open the citizen -------------------------
    b.sign_in("konsulent-odense", "/worklist")
    b.driver.get(f"{b.base}/citizens/{CITIZEN}")
    b.wait_text("Siden findes ikke")
    assert CITIZEN not in b.field("main").text
    b.check("not-found")
    b.driver.get(f"{b.base}/suggestions/{CITIZEN}/{ORDER}")
    b.wait_text("Siden findes ikke")
    b.check("not-found-suggestion")
    b.sign_out()

    # -- the administrator's pages ----------------------------------------------------------
    b.sign_in("administrator", "/admin/models")
    b.check("admin-models")
    b.go("/admin/fairness", "admin-fairness")
    b.go("/admin/projections", "admin-projections")

    assert not b.violations, b.violations
    assert len(b.checked) >= 20
    # Offline: nothing was loaded from another host, and no script error (CSP included).
    assert all(url.startswith(b.base) for url in resources(b.driver)), resources(b.driver)
    assert not b.errors, b.errors


def _unexpected(errors: list[str], *refusals: tuple[str, int]) -> list[str]:
    """The console errors but the answers the test provoked on purpose: (the form's action,
    ending with, its status), e.g. ("/reject", 422) for a rejection without its text."""
    return [
        e
        for e in errors
        if not any(
            f"{path} - Failed to load resource" in e and f"status of {status}" in e
            for path, status in refusals
        )
    ]


def _awaiting(stack: Stack, citizen: str, order: str, timeout: float = 60) -> str:
    """The id of the suggestion of `citizen` for `order`, once it waits on the worklist."""
    aarhus = consultant(stack)
    url = f"{stack.urls['profiles']}/v1/worklists/0751"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in aarhus.get(url, params={"limit": 200}).json().get("items", []):
            if item["citizen_id"] == citizen and item["job_order_id"] == order:
                return str(item["suggestion_id"])
        time.sleep(0.3)
    raise AssertionError(f"no suggestion of {citizen} for {order} on the worklist")


def test_order_form_rejection_refusal_and_the_end_of_a_placement(
    browser: Visit, stack: Stack
) -> None:
    """After the first test (it placed Amina): the employer posts a job order with the ESCO
    title picked from the autocomplete (htmx), edits and withdraws it; the consultant rejects
    a suggestion (the reason "andet" without a text first: the Danish message next to the
    field), meets a refusal of the API as a Danish sentence, and ends the placement."""
    b = browser
    b.errors.clear()  # the earlier tests checked theirs
    aarhus = consultant(stack)
    # A citizen like Amina, so that the warehouse order has a suggestion awaiting review.
    cards, _ = example_documents()
    twin = {**next(c for c in cards if c["citizen_id"] == CITIZEN), "citizen_id": "cit-ui-twin1"}
    answer = aarhus.post(stack.urls["events"] + "/v1/competence-cards", json=twin, timeout=15)
    assert answer.status_code == 202, answer.text

    # -- (a) the employer posts an order with the ESCO title, edits it, withdraws it -------
    b.sign_in("arbejdsgiver-12345607", "/employer/orders")
    b.go("/employer/orders/new", "employer-order-form")
    title = b.field("#f-title")
    title.send_keys("lagermedarb")  # htmx asks /occupations and fills the datalist
    options = b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#title-options option"))
    picked = str(options[0].get_attribute("value"))
    assert "lager" in picked.lower(), picked
    title.clear()
    title.send_keys(picked)  # as choosing it from the list does
    b.field("#f-positions").clear()
    b.field("#f-positions").send_keys("3")
    b.field("#f-postal_code").send_keys("8000")
    Select(b.field("#f-programme")).select_by_value("ordinary")
    b.field("#f-skills_must").send_keys("truckcertifikat")
    b.check("employer-order-form-filled")
    b.click("#submit-order")
    b.wait_text("Jobordren er oprettet.")
    b.check("employer-order-posted")
    row = b.driver.find_element(By.XPATH, f"//tbody/tr[th[normalize-space()='{picked}']]")
    assert "Åben" in row.text and "3" in row.text
    row.find_element(By.PARTIAL_LINK_TEXT, "Redigér").click()
    b.wait(lambda d: "/edit" in d.current_url)
    b.check("employer-order-edit")
    oid = b.driver.current_url.split("/orders/")[1].split("/")[0]
    assert b.field("#f-title").get_attribute("value") == picked
    b.field("#f-positions").clear()
    b.field("#f-positions").send_keys("2")
    b.click("#submit-order")
    b.wait_text("Jobordren er opdateret.")
    order = aarhus.get(f"{stack.urls['profiles']}/v1/job-orders/{oid}").json()
    assert order["version"] == 2 and order["order"]["positions"] == 2
    # The title picked from the list is the ESCO occupation: the order carries its URI.
    assert str(order["order"]["esco_occupation_uri"]).startswith("http://data.europa.eu/esco/")
    row = b.driver.find_element(By.XPATH, f"//tbody/tr[th[normalize-space()='{picked}']]")
    row.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    b.wait_text("Jobordren er trukket tilbage.")
    row = b.driver.find_element(By.XPATH, f"//tbody/tr[th[normalize-space()='{picked}']]")
    assert "Trukket tilbage" in row.text
    assert not row.find_elements(By.CSS_SELECTOR, "form")  # nothing more to withdraw
    b.check("employer-order-withdrawn")
    b.sign_out()

    # -- (b) rejection with a reason; "andet" without a text is refused next to the field --
    b.sign_in("konsulent-aarhus", "/worklist")
    b.go("/suggestions/cit-2b8e41d0/jo-4411-aarhus-kantine", "suggestion-kitchen")
    Select(b.field("#f-reason_code")).select_by_value("other")
    b.field("#f-reason_code").find_element(By.XPATH, "./ancestor::form").submit()
    b.wait_text("Begrundelsen »andet« skal uddybes.")
    error = b.field("#f-reason_text-error")
    assert error.text == "Begrundelsen »andet« skal uddybes."
    assert b.field("#f-reason_text").get_attribute("aria-invalid") == "true"
    assert "f-reason_text-error" in str(b.field("#f-reason_text").get_attribute("aria-describedby"))
    b.check("suggestion-reject-invalid")
    Select(b.field("#f-reason_code")).select_by_value("transport")
    b.field("#f-reason_text").send_keys("Ingen bus før kl. 6")
    b.field("#f-reason_code").find_element(By.XPATH, "./ancestor::form").submit()
    b.wait_text("Forslaget er afvist.")
    b.check("citizen-after-reject")
    kitchen = aarhus.get(f"{stack.urls['profiles']}/v1/citizens/cit-2b8e41d0").json()
    (review,) = [r for r in kitchen["reviews"] if r["job_order_id"] == "jo-4411-aarhus-kantine"]
    assert review["status"] == "rejected" and review["reason_code"] == "transport"
    assert review["reason_text"] == "Ingen bus før kl. 6"

    # -- (d) a refusal of the API as a Danish sentence: accepted meanwhile by a colleague --
    sid = _awaiting(stack, "cit-ui-twin1", ORDER)
    b.go(f"/suggestions/cit-ui-twin1/{ORDER}", "suggestion-twin")
    colleague = consultant(stack)  # another consultant of Aarhus, on another screen
    answer = colleague.post(f"{stack.urls['events']}/v1/suggestions/{sid}/accept")
    assert answer.status_code == 202, answer.text
    b.click("#accept")
    b.wait_text("Forslaget er allerede accepteret af")
    notice = b.field(".notice.error").text
    assert "Virksomhedskonsulent consultant-0751" in notice and " kl. " in notice, notice
    assert "already" not in b.text() and "accepted" not in b.text()  # no English, no codes
    b.check("suggestion-refused")

    # -- (c) the placement ends with an outcome --------------------------------------------
    b.go(f"/citizens/{CITIZEN}", "citizen-placed")
    b.driver.find_element(By.CSS_SELECTOR, "#plc-h ~ table a").click()
    b.wait_text("Opfølgninger")
    b.set_value("#f-end_date", dt.date.today().isoformat())
    b.click("#end-placement")  # no outcome chosen: the message stands next to the field
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#f-outcome-error"))
    assert b.field("#f-outcome").get_attribute("aria-invalid") == "true"
    Select(b.field("#f-outcome")).select_by_value("ordinary_job")
    b.click("#end-placement")
    b.wait_text("Forløbet er afsluttet.")
    facts = b.field("main").text
    assert "Afsluttet: Ordinært job" in facts, facts
    assert not b.driver.find_elements(By.ID, "end-placement")
    b.check("placement-ended")
    b.sign_out()

    assert not b.violations, b.violations
    assert not _unexpected(b.errors, ("/reject", 422), ("/accept", 409), ("/end", 422))


def _candidate_model(stack: Stack, suffix: str = "a") -> str:
    """An unapproved version in the stack's model registry: the shipped model, copied."""
    from services.matching.model.registry import SHIPPED, Registry

    shipped = Registry(SHIPPED).newest_approved()
    assert shipped is not None
    version = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-logistic-ui{suffix}"
    folder = stack.home / "models" / version
    folder.mkdir(parents=True)
    model = json.loads((shipped.path / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**model, "version": version}))
    meta = {**shipped.metadata, "version": version, "approved": False}
    meta["metrics"]["model"]["auc"] = 0.7123
    (folder / "metadata.json").write_text(json.dumps(meta))
    return version


def test_models_api_lists_and_approves_recording_the_administrator(stack: Stack) -> None:
    from tests.e2e.signin import administrator

    version = _candidate_model(stack)
    admin = administrator(stack)
    url = f"{stack.urls['matching']}/v1/models"
    listed = admin.get(url).json()
    entry = next(m for m in listed["models"] if m["version"] == version)
    assert entry["approved"] is False and entry["source"] == "registry"
    assert entry["metrics"]["model"]["auc"] == 0.7123
    shipped = [m for m in listed["models"] if m["source"] == "shipped"]
    assert shipped and shipped[0]["in_use"] and shipped[0]["approved"]
    # Only administrators (the access matrix in test_access.py covers every role).
    assert consultant(stack).post(f"{url}/{version}/approve").status_code == 403
    done = admin.post(f"{url}/{version}/approve")
    assert done.status_code == 200, done.text
    assert done.json()["approved_by"] == "administrator:administrator"
    again = admin.post(f"{url}/{version}/approve")
    assert again.status_code == 409
    assert "already approved by administrator:administrator at" in again.text
    meta = json.loads((stack.home / "models" / version / "metadata.json").read_text())
    assert meta["approved"] is True and meta["approved_by"] == "administrator:administrator"
    assert admin.post(f"{url}/20990101T000000-none/approve").status_code == 404


def test_an_administrator_approves_a_model_in_the_browser(browser: Visit, stack: Stack) -> None:
    b = browser
    b.errors.clear()  # the earlier tests checked theirs
    version = _candidate_model(stack)
    b.sign_in("administrator", "/admin/models")
    b.wait_text("Modelversioner")
    for shipped in b.driver.find_elements(By.CSS_SELECTOR, "#versions tbody tr"):
        if "leveret med systemet" in shipped.find_element(By.TAG_NAME, "th").text:
            assert "Godkendt (leveret med systemet)" in shipped.text, shipped.text
            assert "Ukendt" not in shipped.text, shipped.text
    row = b.field(f"#versions tr[data-version='{version}']")
    assert "Ikke godkendt" in row.text and "0,712" in row.text
    b.check("admin-models-versions")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    b.wait_text("Modellen er godkendt.")
    row = b.field(f"#versions tr[data-version='{version}']")
    assert "Godkendt af Administrator" in row.text and " kl. " in row.text, row.text
    assert not row.find_elements(By.CSS_SELECTOR, "button.approve")
    b.check("admin-models-approved")
    meta = json.loads((stack.home / "models" / version / "metadata.json").read_text())
    assert meta["approved_by"].startswith("administrator:")
    # Approved meanwhile by another administrator: the refusal as a Danish sentence.
    other = _candidate_model(stack, "b")
    b.go("/admin/models", "admin-models-two")
    from tests.e2e.signin import administrator

    url = f"{stack.urls['matching']}/v1/models/{other}/approve"
    assert administrator(stack).post(url).status_code == 200
    b.field(f"#versions tr[data-version='{other}'] button.approve").click()
    b.wait_text("Modellen er allerede godkendt af Administrator administrator")
    assert " kl. " in b.field("#approve-error").text
    b.check("admin-models-refused")
    b.sign_out()
    assert not b.violations, b.violations
    assert not _unexpected(b.errors, ("/approve", 409))


def test_a_form_without_its_csrf_token_is_refused(stack: Stack) -> None:
    import httpx

    ui = stack.urls["ui"]
    answer = httpx.post(f"{ui}/auth/signout", data={"csrf_token": "x"}, timeout=10)
    assert answer.status_code == 303 and answer.headers["location"] == "/"  # not signed in
    page = httpx.get(f"{ui}/", timeout=10)
    headers = page.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert "Denne tjeneste bruger ESCO-klassifikationen" in page.text


def test_an_address_typed_by_hand_gets_a_danish_page(browser: Visit) -> None:
    b = browser
    b.errors.clear()  # the earlier tests checked theirs
    b.violations.clear()
    b.sign_in("konsulent-aarhus", "/worklist")
    b.go("/worklist?postal=<script>alert(1)</script>", "bad-request")
    assert "Adressen kan ikke bruges" in b.text()
    assert "string_too_long" not in b.driver.page_source  # not the framework's JSON
    b.go("/worklist?min_score=abc", "worklist-bad-score")
    assert b.field("#f-min_score").get_attribute("aria-invalid") == "true"
    assert "Tallet skal være mellem 0 og 100" in b.text()
    b.sign_out()
    assert not b.violations, b.violations
    assert [e for e in b.errors if "status of 400" not in e] == []
