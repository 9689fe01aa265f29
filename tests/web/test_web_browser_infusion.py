"""The infusion form in a real browser, over its own server: the label dose is filled in from the pack;
a 5-minute infusion of a 1-hour product, an expired vial and a carton code that is not the product's are
refused before and when the record is sent; a wasted bag is logged; the good bag is then recorded."""

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
def bed_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = LiveServer(_app_over_copy(demo_template, tmp_path_factory.mktemp("bed")))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def bed(browser: Any, bed_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=bed_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    yield context.new_page()
    context.close()
    assert violations == []


def _fill_good_bag(page: Any) -> None:
    page.get_by_label("Product code on the carton (NDC)").fill("64406-008-01")
    page.get_by_label("Vial expiry date").fill("2027-06-30")
    page.get_by_label("Lot number").fill("TY2026-050")
    page.get_by_label("Prepared (diluted) at").fill("2026-03-02T11:00")
    page.get_by_label("Infusion started").fill("2026-03-02T11:30")
    page.get_by_label("Infusion stopped").fill("2026-03-02T12:30")


def test_the_infusion_form_refuses_a_short_infusion_an_expired_vial_and_a_wrong_code(bed: Any, artifacts: Path) -> None:
    sign_in(bed, "paul")
    bed.locator("#panel-today .ready-list li", has_text="Amy Chen").get_by_role(
        "link", name="Record the infusion"
    ).click()
    # the label dose of the only product, from the pack
    assert bed.get_by_label("Dose", exact=True).input_value() == "300"
    assert bed.get_by_label("Unit").input_value() == "mg"
    assert bed.get_by_label("Volume (mL)").input_value() == "100"
    assert "64406-008-01" in bed.locator("#product_code-help").inner_text()

    _fill_good_bag(bed)
    # the server's clock is 12:00 UTC (20:00 would be UTC+8; this site runs in UTC): 11:30-11:35 is 5 minutes
    bed.get_by_label("Infusion started").fill("2026-03-02T11:30")
    bed.get_by_label("Infusion stopped").fill("2026-03-02T11:35")
    refused = bed.locator("#bag-refused")
    refused.wait_for()
    assert "Infusion ran for less than about 1 hour" in refused.inner_text()
    bed.get_by_role("button", name="Record the infusion").click()
    refusal = bed.locator("#refusal")
    assert "Infusion ran for less than about 1 hour" in refusal.inner_text()
    assert refusal.locator(".cite-title").count() > 0
    bed.screenshot(path=str(artifacts / "infusion-refused-5-minutes.png"), full_page=True)

    bed.get_by_label("Infusion started").fill("2026-03-02T10:30")
    bed.get_by_label("Infusion stopped").fill("2026-03-02T11:35")
    bed.get_by_label("Prepared (diluted) at").fill("2026-03-02T10:00")
    bed.get_by_label("Vial expiry date").fill("2026-03-01")
    bed.locator("#bag-refused", has_text="The vial has expired").wait_for()
    bed.get_by_label("Vial expiry date").fill("2027-06-30")
    bed.get_by_label("Product code on the carton (NDC)").fill("12345-678-90")
    bed.locator("#bag-refused", has_text="is not a code of TYSABRI").wait_for()
    bed.get_by_role("button", name="Record the infusion").click()
    assert "is not a code of TYSABRI" in bed.locator("#refusal").inner_text()

    # the wrong vial goes in the bag log; the authorization stays open for a fresh bag
    bed.locator("#bags summary").click()
    bed.get_by_text("Refused (not infused").click()
    bed.get_by_label("Lot of the bag").fill("XX-1")
    bed.get_by_label("Code on its carton").fill("12345-678-90")
    bed.get_by_label("Why (required)").fill("carton is not TYSABRI")
    bed.get_by_role("button", name="Log the bag").click()
    assert "Bag logged" in bed.locator(".notice").inner_text()
    assert "XX-1" in bed.locator("#bag-list").inner_text()

    bed.get_by_label("Product code on the carton (NDC)").fill("6440600801")
    bed.get_by_label("Vial expiry date").fill("2027-06-30")
    bed.get_by_label("Lot number").fill("TY2026-050")
    bed.get_by_label("Prepared (diluted) at").fill("2026-03-02T10:00")
    bed.get_by_label("Infusion started").fill("2026-03-02T10:30")
    bed.get_by_label("Infusion stopped").fill("2026-03-02T11:35")
    bed.locator("#bag-ok").wait_for()
    bed.get_by_role("button", name="Record the infusion").click()
    bed.wait_for_url("**/patients/pat_amy?notice=infused")
