"""Error answers are negotiated: a browser gets a page in its language, an API client problem+json.

The same failing requests (an unknown address, an API path without a token, a
method a path does not take) are sent with the Accept headers real clients
send; whether the answer is a page or a problem document follows only from
Accept, and the status is the same either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rxguard.api.negotiation import prefers_html

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CLIENTS = {
    "browser": (BROWSER, True),
    "html only": ("text/html", True),
    "curl": ("*/*", False),
    "none": (None, False),
    "json": ("application/json", False),
    "problem+json": ("application/problem+json", False),
    "html but json first": ("application/json, text/html;q=0.9", False),
    "html and json alike": ("text/html, application/json", False),
    "html refused": ("text/html;q=0, */*", False),
    "fetch from a script": ("application/json, text/plain, */*", False),
}
FAILURES = [("get", "/no-such-page", 404), ("get", "/api/v1/patients", 401), ("delete", "/healthz", 405)]


@pytest.mark.parametrize("who", CLIENTS)
@pytest.mark.parametrize(("method", "path", "status"), FAILURES)
def test_the_answer_is_a_page_exactly_when_the_client_asks_for_one(
    client: TestClient, who: str, method: str, path: str, status: int
) -> None:
    accept, wants_page = CLIENTS[who]
    headers = {"accept": accept} if accept is not None else {}
    response = client.request(method, path, headers=headers)
    assert response.status_code == status
    media = response.headers["content-type"]
    if wants_page:
        assert media.startswith("text/html")
        assert "<h1>" in response.text and '<a class="button" href="/">' in response.text
        assert '"type"' not in response.text
    else:
        assert media == "application/problem+json"
        assert response.json()["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_browser_reads_the_error_page_in_its_language(client: TestClient) -> None:
    english = client.get("/no-such-page", headers={"accept": BROWSER, "accept-language": "en-GB"})
    chinese = client.get("/no-such-page", headers={"accept": BROWSER, "accept-language": "zh-CN,zh;q=0.9"})
    assert "<h1>Not found</h1>" in english.text and "There is no page at this address" in english.text
    assert "<h1>未找到</h1>" in chinese.text and "此地址没有页面" in chinese.text
    assert "There is no page" not in chinese.text and "/docs" not in english.text + chinese.text


def test_the_error_page_still_shows_when_the_database_is_down(client: TestClient, web_app: Any) -> None:
    web_app.state.engine.dispose()
    saved = web_app.state.sessions
    web_app.state.sessions = None  # any use of the database now fails
    client.cookies.set("rxguard_session", "x" * 43)  # a session cookie makes the page look the user up
    try:
        response = client.get("/no-such-page", headers={"accept": BROWSER})
    finally:
        web_app.state.sessions = saved
    assert response.status_code == 404 and "<h1>Not found</h1>" in response.text


@pytest.mark.parametrize("who", CLIENTS)
def test_negotiation_matches_the_table(who: str) -> None:
    accept, wants_page = CLIENTS[who]
    assert prefers_html(accept) is wants_page


@pytest.mark.parametrize("accept", [BROWSER, "text/html", "text/*"])
def test_ranking_json_above_html_always_gives_json(accept: str) -> None:
    """Metamorphic: adding a JSON type ranked above every other range turns any page answer into JSON."""
    assert prefers_html(accept)
    for json_type in ("application/json", "application/problem+json"):
        assert not prefers_html(f"{json_type};q=1, " + ", ".join(f"{p.split(';')[0]};q=0.5" for p in accept.split(",")))


@pytest.mark.browser
def test_a_browser_opening_an_unknown_address_sees_a_page(page: Any) -> None:
    response = page.goto("/no-such-page")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.get_by_role("link", name="Back to the dashboard").is_visible()
