"""Population screen: the full overdue list for 100,000 and 1,000,000 enrolled patients.

The population (``bench/population_data.py``) is generated from a seed
straight into a scratch PostgreSQL database (COPY; created for the run and
dropped afterwards, never the ``test`` database) and a scratch SQLite file.
For each size and engine:

- the program's own query (``population_due``) is timed in a fresh process
  (first call, then the median of the warm calls) with its peak RSS;
- the naive baseline (load everything, loop in Python with the engine) is
  timed where it finishes within its limit, and must produce the same list
  (same digest) as the query;
- the generated schedule rows are checked against the program's own
  ``refresh_schedule`` on a random sample first.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.population_data import (
    Counters,
    chunks,
    copy_postgres,
    expansion,
    history_rows,
    insert_sqlite,
    participants,
    scratch_ddl,
)
from bench.population_data import check_sample as check_schedule_sample
from rxguard.store.db import make_engine, session_factory
from rxguard.store.migrate import upgrade
from rxguard.store.testing import postgres_problem, postgres_url

HERE = Path(__file__).resolve().parent
SCRATCH = HERE / ".cache" / "population"
SEED = 20260105
TARGET_SECONDS_1M_POSTGRES = 10.0


def _subprocess(mode: str, url: str, arg: str, timeout: float) -> dict[str, Any]:
    """Run one screen in a fresh interpreter (inherits this process's one-core affinity)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.population_query", mode, url, arg],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=HERE.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"population bench: {mode} screen failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def postgres_database() -> Iterator[str]:
    """A scratch database for this run on the test server; always dropped afterwards."""
    base = make_url(postgres_url())
    name = f"rxguard_bench_population_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url=url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[str]:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / f"population-{os.getpid()}.db"
    for leftover in SCRATCH.glob(f"{path.name}*"):
        leftover.unlink()
    url = f"sqlite:///{path}"
    try:
        engine = make_engine(url=url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        for leftover in SCRATCH.glob(f"{path.name}*"):
            leftover.unlink()


class Loader:
    """Bulk rows and set-based SQL into one scratch database, each call its own transaction."""

    def __init__(self, dialect: str, load: Callable[[dict[str, Any]], None], execute: Callable[[str], None]) -> None:
        self.dialect, self.load, self.execute = dialect, load, execute


@contextmanager
def postgres_loader(url: str) -> Iterator[Loader]:
    """COPY through one connection; foreign-key triggers off while loading (the data is consistent by construction)."""
    engine = create_engine(url)
    raw = engine.raw_connection()
    conn = raw.driver_connection

    def execute(sql: str) -> None:
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.commit()

    try:
        for setting in ("session_replication_role = replica", "synchronous_commit = off", "TIME ZONE 'UTC'"):
            execute(f"SET {setting}")
        yield Loader("postgresql", lambda rows: (copy_postgres(conn, rows), conn.commit()), execute)
        execute("SET session_replication_role = origin")
        conn.autocommit = True
        execute("VACUUM ANALYZE")
    finally:
        raw.close()
        engine.dispose()


@contextmanager
def sqlite_loader(url: str) -> Iterator[Loader]:
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    connection.execute("PRAGMA foreign_keys = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -1000000")  # 1 GB while loading; the screen runs with defaults

    def load(rows: dict[str, Any]) -> None:
        connection.execute("BEGIN")
        insert_sqlite(connection, rows)
        connection.execute("COMMIT")

    def execute(sql: str) -> None:
        connection.execute("BEGIN")
        connection.execute(sql)
        connection.execute("COMMIT")

    try:
        yield Loader("sqlite", load, execute)
        connection.execute("ANALYZE")
    finally:
        connection.close()


def _check_sample(url: str, size: int) -> None:
    factory = session_factory(make_engine(url=url))
    with factory() as session:
        problems = check_schedule_sample(session, size, SEED)
        session.rollback()
    if problems:
        raise SystemExit(
            "population bench: generated schedule differs from the program's:\n  " + "\n  ".join(problems[:20])
        )


def measure(engine: str, url: str, size: int, quick: bool, naive_limit: float) -> dict[str, Any]:
    """Query timing, naive baseline and agreement for one database at one size."""
    _check_sample(url, size)
    query = _subprocess("sql", url, "2" if quick or size > 100_000 else "4", timeout=900)
    first, warm = query["seconds"][0], statistics.median(query["seconds"][1:])
    figures: dict[str, Any] = {
        f"{engine}_{size}_overdue_list_s": round(warm, 3),
        f"{engine}_{size}_overdue_list_first_call_s": round(first, 3),
        f"{engine}_{size}_rows_due_or_overdue": query["rows"],
        f"{engine}_{size}_rows_overdue": query["overdue"],
        f"{engine}_{size}_peak_rss_mb": query["peak_mb"],
        f"{engine}_{size}_driver_fetch_only_s": round(query["driver_fetch_s"], 3),
    }
    if "db_execution_s" in query:
        figures[f"{engine}_{size}_db_execution_s"] = round(query["db_execution_s"], 3)
    if naive_limit <= 0:
        figures[f"{engine}_{size}_naive_s"] = "not run (cannot finish within the time budget; see the 100,000 rate)"
    else:
        naive = _subprocess("naive", url, str(naive_limit), timeout=naive_limit * 3 + 300)
        if naive["finished"]:
            figures[f"{engine}_{size}_naive_s"] = round(naive["seconds"], 1)
            figures[f"{engine}_{size}_naive_load_s"] = round(naive["load_seconds"], 1)
            figures[f"{engine}_{size}_naive_peak_rss_mb"] = naive["peak_mb"]
            figures[f"{engine}_{size}_speedup_vs_naive"] = round(naive["seconds"] / warm, 1)
            if naive["digest"] != query["digest"] or naive["rows"] != query["rows"]:
                raise SystemExit(
                    f"population bench: {engine} {size}: the naive list ({naive['rows']} rows) differs from the "
                    f"program query's ({query['rows']} rows)"
                )
            figures[f"{engine}_{size}_naive_agrees"] = True
        else:
            figures[f"{engine}_{size}_naive_s"] = (
                f"not finished in {naive_limit:.0f} s ({naive['patients_done']} patients done)"
            )
    return figures


def populate(engine: str, url: str, sizes: tuple[int, ...], quick: bool) -> dict[str, Any]:
    """Grow one database through ``sizes`` (chunks are seeded), measuring at each size."""
    figures: dict[str, Any] = {}
    parts = participants()
    count = Counters()
    loaded = 0
    loader = postgres_loader if engine == "postgresql" else sqlite_loader
    for size in sizes:
        started = time.perf_counter()
        with loader(url) as db:
            if loaded == 0:
                for ddl in scratch_ddl():
                    db.execute(ddl)
                db.load(parts.rows)
                db.load(history_rows(SEED))
            for rows in chunks(loaded, size, SEED, parts, count):
                db.load(rows)
            rows_done = time.perf_counter()
            for statement in expansion(db.dialect, loaded, size):
                db.execute(statement)
            expanded = time.perf_counter()
        figures[f"{engine}_{size}_load_rows_s"] = round(rows_done - started, 1)
        figures[f"{engine}_{size}_expand_histories_s"] = round(expanded - rows_done, 1)
        loaded = size
        figures[f"{engine}_{size}_generate_and_load_s"] = round(time.perf_counter() - started, 1)
        naive_limit = 180.0 if size <= 100_000 else 0.0  # at 1,000,000 it cannot finish in the budget
        figures |= measure(engine, url, size, quick, naive_limit)
    return figures


def sizes_for(engine: str, quick: bool) -> tuple[int, ...]:
    """Quick: 20,000. Default: 100,000 and 1,000,000 on PostgreSQL (the target); SQLite's 1,000,000
    (about 8 more minutes of loading on 2 cores) only with RXGUARD_BENCH_SQLITE_1M=1."""
    if quick:
        return (20_000,)
    if engine == "sqlite" and os.environ.get("RXGUARD_BENCH_SQLITE_1M") != "1":
        return (100_000,)
    return (100_000, 1_000_000)


def run(quick: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {"seed": SEED}
    problem = postgres_problem()
    if problem:
        figures["postgresql"] = f"skipped: PostgreSQL unreachable ({problem})"
    else:
        with postgres_database() as url:
            figures |= populate("postgresql", url, sizes_for("postgresql", quick), quick)
    with sqlite_database() as url:
        figures |= populate("sqlite", url, sizes_for("sqlite", quick), quick)
    key = "postgresql_1000000_overdue_list_s"
    if key in figures:
        total = figures[key]
        figures["target_1m_postgres_s"] = TARGET_SECONDS_1M_POSTGRES
        figures["met_target_1m_postgres"] = total <= TARGET_SECONDS_1M_POSTGRES
        if total > TARGET_SECONDS_1M_POSTGRES:
            figures["target_1m_postgres_missed_by_s"] = round(total - TARGET_SECONDS_1M_POSTGRES, 2)
        db = figures.get("postgresql_1000000_db_execution_s", 0.0)
        fetch = figures.get("postgresql_1000000_driver_fetch_only_s", 0.0)
        figures["postgresql_1000000_time_split"] = (
            f"database executes {db:.1f} s (join + sort of {figures['postgresql_1000000_rows_due_or_overdue']} rows); "
            f"driver transfer and decoding {max(fetch - db, 0):.1f} s; "
            f"rows into DueRow tuples in Python {max(total - fetch, 0):.1f} s"
        )
    return figures


if __name__ == "__main__":
    for name, value in run(quick="--quick" in sys.argv).items():
        print(f"{name}: {value}")
