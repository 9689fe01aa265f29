"""The main pages at a desktop width and a 390 px phone width: nothing wider than the screen, the header menu
behind a toggle on the phone, tables as cards, screenshots of both widths in test-artifacts/, and an axe-core
scan of every page with no serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_scan import axe_violations
from test_web_browser import sign_in
from web_demo import watch_csp

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1280, "phone": 390}
#: persona -> the pages a day of theirs goes through (read only: nothing is changed)
PAGES = {
    "nina": ["/", "/patients", "/patients/pat_hana", "/patients/pat_gus/dose", "holds", "/drugs"],
    "ada": ["/queue", "/enroll", "/patients/pat_amy"],
    "admin": ["/admin"],
}


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def width(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _context(browser: Any, live_url: str, px: int) -> Any:
    context = browser.new_context(base_url=live_url, viewport={"width": px, "height": 844 if px < 600 else 900},
                                  locale="en-GB")  # fmt: skip
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def shots(artifacts: Path) -> Path:
    folder = artifacts / "layout"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("persona", list(PAGES))
def test_the_main_pages_fit_the_screen_and_pass_an_accessibility_scan(
    browser: Any, live_url: str, width: str, persona: str, shots: Path
) -> None:
    px = WIDTHS[width]
    context = _context(browser, live_url, px)
    violations = watch_csp(context)
    page: Iterator[Any] | Any = context.new_page()
    sign_in(page, persona)
    problems: list[str] = []
    for path in PAGES[persona]:
        if path == "holds":  # a held decision page, reached the way the nurse reaches it
            page.goto("/")
            path = page.locator("#panel-holds a[href^='/authorizations/']").first.get_attribute("href")
        page.goto(path)
        name = path.strip("/").replace("/", "_") or "dashboard"
        if name.startswith("authorizations_"):
            name = "decision"
        page.screenshot(path=str(shots / f"{persona}-{name}-{px}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            problems.append(f"{path}: {overflow}px wider than the {px}px screen")
        problems += [f"{path}: {v}" for v in axe_violations(page)]
    context.close()
    assert problems == []
    assert violations == []


def test_the_phone_header_is_one_line_with_a_menu_toggle(browser: Any, live_url: str, shots: Path) -> None:
    context = _context(browser, live_url, 390)
    page = context.new_page()
    sign_in(page, "nina")
    page.goto("/patients")
    toggle = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    assert toggle.is_visible() and not nav.is_visible()
    assert page.locator("header.top").bounding_box()["height"] < 80  # not a third of the screen
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    page.screenshot(path=str(shots / "nina-menu-open-390.png"))
    page.keyboard.press("Escape")
    assert not nav.is_visible()
    toggle.click()
    nav.get_by_role("link", name="Dashboard").click()
    page.wait_for_url("**/")
    # a table is a stack of cards: each cell says which column it is
    page.goto("/patients")
    first = page.locator("main table tbody tr").first
    assert first.evaluate("r => getComputedStyle(r).display") == "block"
    born = first.locator("td[data-label]").first
    assert born.evaluate("td => getComputedStyle(td, '::before').content") == '"Date of birth"'

    context.close()


def test_the_desktop_header_shows_the_menu_without_a_toggle(browser: Any, live_url: str) -> None:
    context = _context(browser, live_url, 1280)
    page = context.new_page()
    sign_in(page, "nina")
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert not page.get_by_role("button", name="Menu").is_visible()
    context.close()


def test_the_favicon_is_served(browser: Any, live_url: str) -> None:
    context = _context(browser, live_url, 1280)
    answer = context.request.get("/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    context.close()


def test_the_accessibility_scan_finds_what_it_must(browser: Any, live_url: str) -> None:
    """The scan is real: an image without a text alternative, put on a page, is a critical violation."""
    context = _context(browser, live_url, 1280)
    page = context.new_page()
    page.goto("/sign-in")
    assert axe_violations(page) == []
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img')).src = '/favicon.ico'")
    found = axe_violations(page)
    assert any(line.startswith("image-alt (critical)") for line in found), found
    context.close()


def test_the_trend_charts_show_on_the_patient_page_at_both_widths(browser: Any, live_url: str, shots: Path) -> None:
    for px in WIDTHS.values():
        context = _context(browser, live_url, px)
        page = context.new_page()
        sign_in(page, "ada")
        page.goto("/patients/pat_amy")
        chart = page.locator("#trend-edss svg[role=img]")
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] <= px
        assert page.get_by_role("img", name="EDSS score").count() == 1
        page.locator("#trends").screenshot(path=str(shots / f"ada-trends-{px}.png"))
        context.close()
