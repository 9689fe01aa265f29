"""Engine and session factory, built from one :class:`Settings`.

SQLite is tuned to behave like the database the program needs: foreign keys
on, a busy timeout, WAL for files, and every transaction opened with
``BEGIN IMMEDIATE`` so two writers queue instead of one failing half-way
through a lock upgrade. PostgreSQL needs nothing special; the services take
row locks (``SELECT … FOR UPDATE``) where an invariant depends on them.

Every engine is built with ``hide_parameters``: a database error's text (and
any traceback or log line made from it) shows the SQL but never the bound
values, which are patients' names, birth dates and record contents.
"""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from rxguard.store.settings import Settings, get_settings


def _tune_sqlite(engine: Engine, is_file: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        if is_file:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(settings: Settings | None = None, url: str | None = None) -> Engine:
    """An engine for ``url`` (or the settings' URL); creates a SQLite file's folder."""
    settings = settings or get_settings()
    url = url or settings.database_url
    if url.startswith("sqlite"):
        path = Settings(database_url=url).sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=settings.sql_echo, hide_parameters=True)
        _tune_sqlite(engine, is_file=path is not None)
        return engine
    engine = create_engine(
        url, echo=settings.sql_echo, connect_args=_connect_args(url), hide_parameters=True,
        pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
    )  # fmt: skip
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _refuse_dead_connection)
    return engine


def _refuse_dead_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool check-out: hand out no connection the server has closed (restart, outage, idle kill).

    An idle connection in the pool has nothing to read; a readable socket means
    the server closed it (end of file, usually after a FATAL message). Checking
    that costs one ``poll`` instead of the round trip of a ``SELECT 1`` ping on
    every check-out; the pool then opens a fresh connection, or answers the
    request 503 when the database is down. A connection that dies during a query
    is caught by SQLAlchemy's disconnect handling, which also discards the rest
    of the pool.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


#: Seconds to wait for a PostgreSQL connection. libpq waits forever by default, so a database host
#: that stops answering would hold every request (and its worker thread) until the request timeout;
#: with a limit the request is answered 503 and the thread is free. ``?connect_timeout=N`` in the
#: URL or ``PGCONNECT_TIMEOUT`` overrides it.
CONNECT_TIMEOUT_SECONDS = 5


def _connect_args(url: str) -> dict[str, Any]:
    if "connect_timeout=" in url or os.environ.get("PGCONNECT_TIMEOUT") or not url.startswith("postgresql"):
        return {}
    return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error.

    Every command runs inside exactly one of these, so bad input never leaves a
    half-written program behind.
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
