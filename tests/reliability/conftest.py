"""Reliability and security tests: real servers, real databases, measured figures.

Every test here is marked ``reliability`` (the soak also ``slow``; ``make test``
leaves ``slow`` out, ``make reliability`` runs everything). PostgreSQL comes
from ``RXGUARD_TEST_POSTGRES_URL`` like the rest of the suite: unreachable on a
developer machine skips the PostgreSQL half, under ``CI=true`` it fails.

Tests hand their figures (writes acknowledged and found, seconds to 503 and to
recovery, interleavings, generated inputs, memory growth) to the ``figures``
fixture; they are printed at the end of the run and written to
``var/reliability/figures.json`` (or ``RXGUARD_RELIABILITY_REPORT``), which is
where ``docs/reliability.md`` takes its numbers from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from rxguard.store.testing import (  # noqa: F401  (fixtures)
    db,
    in_ci,
    postgres_problem,
    postgres_schema,
    postgres_url,
    sqlite_template_path,
)

REPORT = Path(os.environ.get("RXGUARD_RELIABILITY_REPORT", "var/reliability/figures.json"))
_FIGURES: dict[str, Any] = {}


class Figures:
    """Named measurements of this run, merged into one JSON report."""

    def record(self, name: str, **values: Any) -> None:
        _FIGURES.setdefault(name, {}).update(values)

    def add(self, name: str, key: str, amount: int | float) -> None:
        entry = _FIGURES.setdefault(name, {})
        entry[key] = entry.get(key, 0) + amount


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _FIGURES:
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if REPORT.is_file():
        try:
            previous = orjson.loads(REPORT.read_bytes()).get("figures", {})
        except orjson.JSONDecodeError:
            previous = {}
    merged = {**previous, **_FIGURES}
    data = {"written_at": datetime.now(UTC).isoformat(timespec="seconds"), "figures": merged}
    REPORT.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name in sorted(_FIGURES):
        values = ", ".join(f"{k}={v}" for k, v in sorted(_FIGURES[name].items()))
        terminalreporter.write_line(f"{name}: {values}")
    terminalreporter.write_line(f"(written to {REPORT})")


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """The PostgreSQL server URL; skip (developer machine) or fail (CI) when it does not answer."""
    problem = postgres_problem()
    if problem:
        message = f"PostgreSQL at {postgres_url()} is unreachable ({problem})"
        if in_ci():
            pytest.fail(f"{message}; under CI=true the PostgreSQL run is mandatory", pytrace=False)
        pytest.skip(f"{message}; set RXGUARD_TEST_POSTGRES_URL or start the server")
    return postgres_url()


@pytest.fixture
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Make fresh, migrated databases on either engine; each is dropped after the test."""
    from rel_db import ScratchDatabases

    databases = ScratchDatabases(tmp_path, lambda: request.getfixturevalue("postgres_base"))
    try:
        yield databases
    finally:
        databases.close()
