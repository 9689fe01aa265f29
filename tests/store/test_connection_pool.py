"""The PostgreSQL pool never hands out a connection the server has closed, without a ping per check-out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from rxguard.store.db import make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin: Engine, pid: int) -> None:
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    for _ in range(100):  # the backend exits (and closes its socket) shortly after the signal
        with admin.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
            if not count.scalar_one():
                return
    raise AssertionError(f"backend {pid} did not exit")


@pytest.mark.parametrize("engine_kind", ["rxguard", "plain"])
def test_a_connection_the_server_closed_is_replaced_on_checkout(postgres_schema: Any, engine_kind: str) -> None:
    _schema, url, admin = postgres_schema
    engine = make_engine(url=url) if engine_kind == "rxguard" else create_engine(url)
    try:
        pooled = _backend_pid(engine)  # now idle in the pool
        assert _backend_pid(engine) == pooled, "the pool should reuse its idle connection"
        _terminate(admin, pooled)
        if engine_kind == "plain":  # the control: a pool without the check hands out the dead connection
            with pytest.raises(OperationalError):
                _backend_pid(engine)
            return
        assert _backend_pid(engine) != pooled
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_no_ping_per_checkout(postgres_schema: Any) -> None:
    engine = make_engine(url=postgres_schema[1])
    statements: list[str] = []
    try:
        _backend_pid(engine)
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        for _ in range(3):
            _backend_pid(engine)
    finally:
        engine.dispose()
    assert engine.pool._pre_ping is False
    assert statements == ["SELECT pg_backend_pid()"] * 3
