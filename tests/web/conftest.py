"""Fixtures for the web application: the real app over a copy of the demo database, and a browser.

Server tests use FastAPI's TestClient with a fixed clock. Browser tests run
Chromium (Debian's package, never a downloaded build) through Playwright
against a real uvicorn server on 127.0.0.1 with an ephemeral port, one server
for the whole session. Without Chromium the browser tests are skipped on a
developer machine and fail loudly under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_demo import NOW, build_demo_template, watch_csp

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.store.testing import in_ci, sqlite_template_path  # noqa: F401

CHROMIUM = Path(os.environ.get("RXGUARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def demo_template(sqlite_template_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    return build_demo_template(sqlite_template_path, tmp_path_factory.mktemp("web-demo"))


def _app_over_copy(template: Path, folder: Path, **settings: Any) -> FastAPI:
    path = folder / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    config = ServerSettings(database_url=f"sqlite:///{path}", log_level="WARNING", **settings)
    return create_app(config, clock=lambda: NOW)


@pytest.fixture
def web_app(demo_template: Path, tmp_path: Path) -> FastAPI:
    return _app_over_copy(demo_template, tmp_path)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_client(demo_template: Path, tmp_path: Path) -> Any:
    """A client over its own database copy with extra settings (e.g. production cookies)."""
    opened: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        client = TestClient(_app_over_copy(demo_template, tmp_path, **settings), raise_server_exceptions=False)
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


# --------------------------------------------------------------------------- browser


class LiveServer:
    """uvicorn in a thread, on 127.0.0.1 and a port the OS picks."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = _app_over_copy(demo_template, tmp_path_factory.mktemp("live"))
    server = LiveServer(app)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        message = f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')"
        if in_ci():
            pytest.fail(f"{message}; under CI=true the browser tests are mandatory", pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci():
            pytest.fail("the playwright package is missing; install the dev dependencies", pytrace=False)
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) at tablet size, with the server's URL as base."""
    context = browser.new_context(base_url=live_url, viewport={"width": 1180, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    violations = watch_csp(context)
    yield context.new_page()
    context.close()
    assert violations == [], f"the Content-Security-Policy blocked something the page needs: {violations}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
