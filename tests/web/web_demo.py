"""The demo program with sign-ins, for the web tests: a template database, helpers to sign in and post forms."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from rxguard.access.demo_users import create_demo_users
from rxguard.program.demo import load_demo
from rxguard.store import make_engine, session_factory, transaction

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def build_demo_template(migrated: Path, folder: Path) -> Path:
    """A migrated SQLite file with the demo program loaded at NOW and a sign-in per role."""
    path = folder / "web-demo.db"
    shutil.copy(migrated, path)
    engine = make_engine(url=f"sqlite:///{path}")
    factory = session_factory(engine)
    with transaction(factory) as session:
        load_demo(session, at=NOW)
    with transaction(factory) as session:
        create_demo_users(session, password=PASSWORD, at=NOW, actor="test")
    engine.dispose()
    return path


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns a CSRF token valid for the new session."""
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "name": name, "password": password, "next": "/"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text[:500]
    return csrf_of(client.get("/").text)


def watch_csp(context: Any) -> list[str]:
    """Every Content-Security-Policy violation in the context's pages (the policy must cost nothing)."""
    violations: list[str] = []
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )

    def on_console(message: Any) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            violations.append(text)

    context.on("console", on_console)
    return violations
