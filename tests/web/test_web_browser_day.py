"""The day of each persona in a real browser, over its own server (these journeys change the program):
the administrator registers and certifies a site with its own time zone; the nurse sees only her site's
day in that zone, checks a patient, finds her under "ready to infuse" and records the infusion in local
time; the pharmacist reconciles an override; the prescriber completes the status report to reauthorize.
"""

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
def day_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = LiveServer(_app_over_copy(demo_template, tmp_path_factory.mktemp("day")))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def day(browser: Any, day_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=day_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    yield context.new_page()
    context.close()
    assert violations == []


def test_the_administrator_registers_a_site_with_its_zone_and_pharmacy_and_certifies_it(
    day: Any, artifacts: Path
) -> None:
    sign_in(day, "admin")
    day.goto("/admin")
    assert day.locator("#c-kind").count() == 0  # one participant list, no "Kind" menu
    day.get_by_label("Site key (letters, digits, _ or -)").fill("site_east")
    day.get_by_label("Site name").fill("East Infusion Unit")
    day.locator("#rs-tz").fill("Asia/Shanghai")
    day.get_by_role("button", name="Register the site").click()
    assert "Infusion site registered" in day.locator(".notice").inner_text()
    day.get_by_label("Infusion site it dispenses for").select_option("site_east")
    day.get_by_label("Pharmacy key (letters, digits, _ or -)").fill("pharm_east")
    day.get_by_label("Pharmacy name").fill("East Unit Pharmacy")
    day.get_by_role("button", name="Add the pharmacy").click()
    assert "Pharmacy registered" in day.locator(".notice").inner_text()
    row = day.locator(".sites-table tr", has_text="East Infusion Unit")
    assert row.locator("input[name=timezone]").input_value() == "Asia/Shanghai"
    assert "East Unit Pharmacy" in row.inner_text()
    day.get_by_label("Prescriber key (letters, digits, _ or -)").fill("dr_cho")
    day.get_by_label("Full name", exact=True).fill("Dr Mei Cho")
    day.get_by_role("button", name="Register the prescriber").click()
    assert "Prescriber registered" in day.locator(".notice").inner_text()
    day.locator("#c-who").select_option("site:site_east")
    day.locator("#c-program").select_option("touch")
    day.locator("#c-change").select_option("certify")
    day.locator("#c-san").fill("SAN-1-EAST")
    day.locator("#c-reason").fill("training attested on site visit")
    day.get_by_role("button", name="Apply").click()
    assert "Certification recorded" in day.locator(".notice").inner_text()
    assert "SAN-1-EAST" in day.locator(".cert-table tr", has_text="East Infusion Unit").inner_text()
    day.screenshot(path=str(artifacts / "admin-registration.png"), full_page=True)


def test_site_staff_work_in_their_sites_zone_and_find_the_dose_ready_to_infuse(day: Any) -> None:
    """site_south moves to UTC+8: its pharmacist's dashboard lists the overridden dose of this morning as
    ready, and the infusion is typed and recorded in the site's local time (12:00 UTC is 20:00 there)."""
    sign_in(day, "admin")
    day.goto("/admin")
    day.locator("#tz-site_south").fill("Asia/Shanghai")
    day.locator(".sites-table tr", has_text="South Clinic").get_by_role("button", name="Save").click()
    assert "Time zone saved" in day.locator(".notice").inner_text()
    day.context.clear_cookies()

    sign_in(day, "paul")
    assert "Your site today, 2 Mar 2026" in day.locator(".page-head").inner_text()
    today = day.locator("#panel-today")
    assert "site_north" not in today.inner_text()
    ready = today.locator(".ready-list li", has_text="Amy Chen")
    assert ready.count() == 1
    assert "17:00" in ready.inner_text()  # the override's visit at 09:00 UTC, shown in the site's zone
    ready.get_by_role("link", name="Record the infusion").click()
    day.get_by_label("Product code on the carton (NDC)").fill("64406-008-01")
    day.get_by_label("Vial expiry date").fill("2027-06-30")
    day.get_by_label("Lot number").fill("TY2026-044")
    day.get_by_label("Dose", exact=True).fill("300")
    day.get_by_label("Volume (mL)").fill("100")
    day.get_by_label("Prepared (diluted) at").fill("2026-03-02T19:30")
    day.get_by_label("Infusion started").fill("2026-03-02T20:00")
    day.get_by_label("Infusion stopped").fill("2026-03-02T21:00")
    day.get_by_label("Observation ended").fill("2026-03-02T22:00")
    day.locator("#bag-ok").wait_for()
    day.get_by_role("button", name="Record the infusion").click()
    day.wait_for_url("**/patients/pat_amy?notice=infused")
    day.goto("/")
    assert day.locator("#panel-today .ready-list li", has_text="Amy Chen").count() == 0


def test_the_pharmacist_reconciles_the_override_given_at_her_site(day: Any) -> None:
    sign_in(day, "paul")
    panel = day.locator("#panel-overrides")
    panel.get_by_placeholder("What was reviewed and done").fill("steroid history reviewed with the prescriber")
    panel.get_by_role("button", name="Reconcile").click()
    day.wait_for_url("**/?notice=override-reconciled**")
    assert "Override reconciled" in day.locator(".notice").inner_text()
    assert day.locator("#panel-overrides form").count() == 0


def test_the_prescriber_completes_the_status_report_to_reauthorize(day: Any, artifacts: Path) -> None:
    sign_in(day, "ada")
    day.goto("/patients/pat_bob")
    day.get_by_role("link", name="Reauthorize").first.click()
    day.wait_for_url("**/decisions/reauthorize?program=touch")
    form = day.locator("#decide-form")
    for question in form.locator("fieldset.question").all():
        question.get_by_text("Yes", exact=True).click()
    day.get_by_label("Patient status (free text)").fill("EDSS stable at 3.0; MRI without new lesions")
    day.get_by_role("button", name="Record the status report and reauthorize").click()
    assert "/decisions/reauthorize" in day.url  # the confirmation box is required: the browser did not send it
    day.get_by_label("I confirm this status report and reauthorize treatment for Bob").check()
    day.screenshot(path=str(artifacts / "reauthorization-form.png"), full_page=True)
    day.get_by_role("button", name="Record the status report and reauthorize").click()
    day.wait_for_url("**/patients/pat_bob?notice=reauthorize")
    assert "Reauthorization recorded" in day.locator(".notice").inner_text()
    timeline = day.locator(".timeline").inner_text()
    assert "Form completed: patient status report and reauthorization; notes: EDSS stable at 3.0" in timeline
    assert "by ada" in timeline


def test_the_prescriber_sees_the_reauthorization_form_in_chinese(day: Any) -> None:
    sign_in(day, "ada")
    day.get_by_role("button", name="简体中文").click()
    day.goto("/patients/pat_amy/decisions/discontinue?program=touch")
    text = day.locator("#decide-form").inner_text()
    assert "停止治疗的原因" in text and "PML" in text
    day.get_by_role("button", name="English").click()
