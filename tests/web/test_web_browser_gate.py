"""Before she sends the checklist, the nurse sees what the dose gate will say; after the prescriber's
clearance the dose is on her dashboard to record. In a real browser, over its own server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_browser import sign_in
from web_demo import watch_csp

from conftest import LiveServer, _app_over_copy

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gate_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = LiveServer(_app_over_copy(demo_template, tmp_path_factory.mktemp("gate")))
    url = server.start()
    yield url
    server.stop()


def test_the_nurse_is_warned_before_the_dose_fails_and_finds_it_cleared_on_her_dashboard(
    browser: Any, gate_url: str, artifacts: Path
) -> None:
    contexts, violations = [], []
    for _ in range(2):
        context = browser.new_context(base_url=gate_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(15_000)
        violations.append(watch_csp(context))
        contexts.append(context)
    nina, ada = (c.new_page() for c in contexts)
    sign_in(nina, "nina")
    nina.goto("/patients/pat_gus/dose")
    gate = nina.locator("#gate")
    assert gate.get_attribute("data-gate") == "hold"
    assert "will be held for the prescriber" in gate.inner_text()
    assert "Previous visit cleared" in gate.inner_text()  # the held visit two days ago, named before she answers
    assert "Previous visit cleared" in nina.locator("#submit-warning").inner_text()
    nina.screenshot(path=str(artifacts / "dose-gate-warning.png"), full_page=True)

    for question in nina.locator("fieldset.question").all():
        question.get_by_text("No", exact=True).click()
    nina.get_by_role("button", name=nina.locator("#checklist button[type=submit]").inner_text()).click()
    nina.locator("#verdict").wait_for()
    assert "HOLD" in nina.locator("#verdict").inner_text().upper()  # what the warning said
    decision_url = nina.url
    nina.goto("/patients/pat_gus/dose")
    assert nina.locator("#gate").get_attribute("data-gate") == "hold-pending"

    sign_in(ada, "ada")
    ada.goto(decision_url)
    clearance = ada.locator("#clearance")
    clearance.get_by_text("Proceed", exact=True).click()
    clearance.get_by_label("Reason (required)").fill("infection treated and resolved; previous visit reviewed")
    clearance.get_by_role("button", name="Record clearance").click()
    ada.wait_for_url("**notice=cleared")

    nina.goto("/")
    ready = nina.locator("#panel-today .ready-list li", has_text="Gus Wang")
    assert ready.count() == 1
    assert "CLEARED — READY TO INFUSE" in nina.locator("#panel-today").inner_text().upper()
    ready.get_by_role("link", name="Record the infusion").click()
    nina.locator("#infusion").wait_for()
    for context in contexts:
        context.close()
    assert violations == [[], []]
