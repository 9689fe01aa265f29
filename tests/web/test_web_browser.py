"""The web application in a real browser: the flows a nurse, a prescriber and an administrator follow.

Chromium drives a real uvicorn server over the demo program (fixed clock:
2026-03-02 12:00 UTC). Full-page screenshots of the dashboard, the
pre-infusion decision and a Chinese monograph are saved to ``test-artifacts/``
for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web_demo import PASSWORD, watch_csp

pytestmark = pytest.mark.browser


def sign_in(page: Any, name: str, password: str = PASSWORD) -> None:
    page.goto("/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?signed_out=1")


def test_sign_in_and_sign_out(page: Any) -> None:
    page.goto("/patients")
    assert "/sign-in" in page.url
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "do not match" in page.locator("#sign-in-error").inner_text()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/patients")
    assert page.locator(".who-name").inner_text() == "Dr Ada Lovelace"
    sign_out(page)
    assert "You have signed out" in page.content()
    page.goto("/")
    assert "/sign-in" in page.url


def test_a_foreign_sites_patient_is_not_reachable(page: Any) -> None:
    sign_in(page, "paul")
    assert page.goto("/patients/pat_gus").status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    page.goto("/patients")
    assert page.get_by_role("link", name="Gus Wang").count() == 0
    assert page.get_by_role("link", name="Amy Chen").count() == 1


def test_enroll_with_consent_then_authorize_hold_clear_and_infuse(browser: Any, live_url: str, artifacts: Path) -> None:
    """The whole loop: enrollment and consent, a "yes" on the checklist, the prescriber's clearance, the infusion."""
    prescriber = browser.new_context(base_url=live_url, viewport={"width": 1180, "height": 900})
    nurse = browser.new_context(base_url=live_url, viewport={"width": 1180, "height": 900})
    violations = [watch_csp(prescriber), watch_csp(nurse)]
    doc, kim = prescriber.new_page(), nurse.new_page()

    sign_in(doc, "ada")
    doc.goto("/enroll")
    doc.get_by_label("Patient key").fill("pat_zoe")
    doc.get_by_label("Full name (as on the consent)").fill("Zoe Marchetti")
    doc.get_by_label("Date of birth").fill("1993-08-14")
    doc.get_by_label("Program and indication").select_option("touch|multiple-sclerosis")
    doc.get_by_label("Infusion site").select_option("site_north")
    doc.get_by_role("button", name="Enroll and continue to consent").click()
    doc.wait_for_url("**/patients/pat_zoe/consent?program=touch")
    doc.get_by_role("link", name="简体中文").click()  # the patient reads the Chinese version
    assert "TOUCH 患者登记及风险知情确认书" in doc.locator(".consent-doc h2").inner_text()
    doc.get_by_label("Patient signature — type the patient's full name").fill("Zoe Marchetti")
    doc.get_by_label("The patient has read this document").check()
    doc.get_by_label("I, the prescriber, explained these risks").check()
    doc.get_by_role("button", name="Sign and record consent").click()
    doc.wait_for_url("**/consents/**")
    assert "Consent signed and recorded" in doc.locator(".notice").inner_text()
    assert "Zoe Marchetti" in doc.locator(".signatures").inner_text()
    doc.get_by_role("link", name="Back to the patient").click()
    doc.get_by_role("link", name="Authorize treatment").click()
    doc.get_by_label("I confirm that I authorize treatment for Zoe Marchetti in this program.").check()
    doc.get_by_role("button", name="Authorize treatment").click()
    assert "Treatment authorized" in doc.locator(".notice").inner_text()

    sign_in(kim, "nina")
    kim.goto("/patients/pat_zoe")
    kim.get_by_role("link", name="Before a dose").first.click()
    questions = kim.locator("fieldset.question")
    for i in range(questions.count()):
        questions.nth(i).get_by_text("No", exact=True).click()
    kim.locator("fieldset.question", has_text="steroid").get_by_text("Yes", exact=True).click()
    kim.get_by_role("button", name="Check and record the decision").click()
    kim.wait_for_url("**/authorizations/**")
    assert "HOLD" in kim.locator("#verdict").inner_text()
    assert "steroid medicines" in kim.locator(".reasons").inner_text()
    assert kim.locator(".reasons .cite-title").count() > 0
    kim.screenshot(path=str(artifacts / "pre-infusion-decision-hold.png"), full_page=True)
    decision_url = kim.url

    doc.goto("/queue")
    card = doc.locator("article.hold-card", has_text="Zoe Marchetti")
    card.get_by_text("Proceed").click()
    card.get_by_placeholder("Reason (required)").fill("prednisone course ended 5 weeks ago; no PML signs")
    card.get_by_role("button", name="Record clearance").click()
    assert "Your clearance was recorded" in doc.locator(".notice").inner_text()

    kim.goto(decision_url)
    assert "YOU MAY INFUSE" in kim.locator("#verdict").inner_text()
    kim.get_by_label("Product code on the carton (NDC)").fill("64406-008-01")
    kim.get_by_label("Vial expiry date").fill("2027-06-30")
    kim.get_by_label("Lot number").fill("TY2026-031")
    kim.get_by_label("Dose", exact=True).fill("300")
    kim.get_by_label("Volume (mL)").fill("100")
    kim.get_by_label("Prepared (diluted) at").fill("2026-02-27T09:00")
    # The server's clock stands at 12:00, the moment of the checklist: the infusion starts then, never before.
    kim.get_by_label("Infusion started").fill("2026-03-02T12:00")
    kim.get_by_label("Infusion stopped").fill("2026-03-02T13:00")
    kim.get_by_label("Observation ended").fill("2026-03-02T14:00")
    kim.locator("#bag-refused").wait_for()  # the live check, before anything is sent
    kim.get_by_role("button", name="Record the infusion").click()
    refusal = kim.locator("#refusal")
    assert "refused" in refusal.inner_text() and "Diluted solution older than the label allows" in refusal.inner_text()
    assert refusal.locator(".cite-title").count() > 0
    kim.screenshot(path=str(artifacts / "pre-infusion-decision-refused-bag.png"), full_page=True)
    kim.get_by_label("Prepared (diluted) at").fill("2026-03-02T11:00")
    kim.locator("#bag-ok").wait_for()
    kim.get_by_role("button", name="Record the infusion").click()
    kim.wait_for_url("**/patients/pat_zoe?notice=infused")
    assert "Infusion recorded" in kim.locator(".notice").inner_text()
    assert kim.locator(".timeline .tl-kind", has_text="Infusion").count() == 1
    prescriber.close()
    nurse.close()
    assert violations == [[], []], f"the Content-Security-Policy blocked something: {violations}"


def test_the_pre_infusion_decision_stops_a_lapsed_patient_with_its_reasons(page: Any, artifacts: Path) -> None:
    sign_in(page, "nina")
    page.goto("/patients/pat_bob/dose")
    assert page.locator(".alert-stop").first.is_visible()
    # before the checklist is sent, the page already says the dose will be stopped, and why
    assert page.locator("#gate").get_attribute("data-gate") == "do-not-infuse"
    assert "Reauthorization not lapsed" in page.locator("#gate").inner_text()
    assert "Reauthorization not lapsed" in page.locator("#submit-warning").inner_text()
    for question in page.locator("fieldset.question").all():
        question.get_by_text("No", exact=True).click()
    page.get_by_role("button", name="Check and record the decision").click()
    page.wait_for_url("**/authorizations/**")
    verdict = page.locator("#verdict").inner_text()
    assert "STOP" in verdict and "DO NOT INFUSE" in verdict
    assert "Reauthorization not lapsed" in page.locator(".reasons").inner_text()
    assert page.locator("#infusion").count() == 0
    page.screenshot(path=str(artifacts / "pre-infusion-decision.png"), full_page=True)


def test_reporting_suspected_pml_suspends_the_patient(page: Any) -> None:
    sign_in(page, "nina")
    page.goto("/patients/pat_hana/adverse-events/new")
    page.get_by_label("Event", exact=True).select_option("pml-suspected")
    page.get_by_label("This event is serious").check()
    page.get_by_label("What happened").fill("New left-sided clumsiness and blurred vision for 5 days")
    page.get_by_role("button", name="Report the event").click()
    page.wait_for_url("**/patients/pat_hana?notice=suspended")
    assert "SUSPENDED" in page.locator(".notice").inner_text()
    assert "Treatment suspended" in page.locator(".enrollment .alert-stop").inner_text()
    assert page.locator(".enrollment .status-large").inner_text().strip() == "suspended"


def test_the_dashboard_charts_render_with_data(page: Any, artifacts: Path) -> None:
    sign_in(page, "admin")
    for chart in ("infusions", "decisions", "strata", "overdue"):
        svg = page.locator(f"#chart-{chart} svg")
        assert svg.is_visible()
        heights = [
            float(h)
            for h in svg.locator("rect.bar").evaluate_all(
                "bars => bars.map(b => b.getAttribute('height') || b.getAttribute('width'))"
            )
        ]
        assert any(h > 0 for h in heights), chart
        assert svg.get_attribute("role") == "img"
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)


def test_the_language_switch_to_chinese(page: Any, artifacts: Path) -> None:
    sign_in(page, "nina")
    page.get_by_role("button", name="简体中文").click()
    assert page.get_by_role("heading", name="工作台", exact=True).is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    page.get_by_role("link", name="药品信息").click()
    page.locator("a[href='/drugs/natalizumab']").first.click()
    assert page.locator("#conflicts").is_visible()
    assert "资料分歧" in page.locator("#conflicts h2").inner_text()
    page.screenshot(path=str(artifacts / "monograph-zh.png"), full_page=True)
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", level=1).first.is_visible()
