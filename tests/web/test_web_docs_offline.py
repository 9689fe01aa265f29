"""The API documentation works on a network without the internet: every file it loads is rxguard's own.

Swagger UI (``/docs``) and ReDoc (``/redoc``) load the vendored copies from
``/static/vendor`` (checksums in ``test_vendored_assets.py``). In a real
browser, with every request to another host refused, both pages render the
API's operations, and the Content-Security-Policy (which names no other
site) blocks nothing they need. The one thing it blocks is on purpose: ReDoc
2.5.4 always draws the "API docs by Redocly" badge with an image from its
maker's site; the policy refuses it, ReDoc hides the broken image, and the
test checks that this badge is the only request that tried to leave.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from web_demo import watch_csp

from rxguard.web.templating import STATIC

VENDORED = re.compile(r'(?:src|href)="(/static/[^"?]+)')
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_documentation_pages_load_only_files_served_here(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "://" not in html, "the page names another site"
    assert "<script>" not in html and "<style" not in html, "no inline script or style"
    loaded = VENDORED.findall(html)
    assert loaded
    for url in loaded:
        assert (STATIC / url.removeprefix("/static/")).is_file(), url
        assert client.get(url).status_code == 200
    csp = response.headers["content-security-policy"]
    assert "http" not in csp and "script-src" not in csp, "scripts only from this site"
    assert "frame-ancestors 'none'" in csp


def _offline_context(browser: Any, live_url: str) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    here = urlsplit(live_url).netloc
    elsewhere: list[str] = []

    def refuse_other_sites(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == here:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", refuse_other_sites)
    return context, elsewhere, watch_csp(context)


@pytest.mark.browser
def test_swagger_ui_renders_the_operations_offline(browser: Any, live_url: str) -> None:
    context, elsewhere, violations = _offline_context(browser, live_url)
    page = context.new_page()
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10
    assert page.locator(".opblock-summary-path", has_text="/api/v1/patients").count() > 0
    context.close()
    assert elsewhere == [] and violations == []


@pytest.mark.browser
def test_redoc_renders_the_operations_offline(browser: Any, live_url: str) -> None:
    context, elsewhere, violations = _offline_context(browser, live_url)
    page = context.new_page()
    page.goto("/redoc")
    page.locator(".api-content h1").first.wait_for()
    assert "rxguard" in page.locator(".api-content h1").first.inner_text()
    assert page.locator(".menu-content li").count() > 10
    context.close()
    assert set(elsewhere) <= {REDOC_BADGE}
    assert all(REDOC_BADGE in v for v in violations), violations
