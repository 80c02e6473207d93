"""The web application in a real browser (Debian's Chromium through Selenium) against the
running stack: sign-in through the stack's issuer (authorization code + PKCE), the
consultant's review, consent and presentation, the employer's decision, the placement and
its follow-up, tenancy (another municipality's consultant gets the Danish 404 page), and
axe-core (vendored, injected here) on every page visited: no serious or critical violation.

`JOBMATCH_SCREENSHOTS=1` writes screenshots of the main pages to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
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
        self.field("header form button").click()
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
