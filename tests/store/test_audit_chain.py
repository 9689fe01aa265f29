"""The audit chain names the first entry that was edited, inserted or deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from rxguard.store import audit, transaction
from rxguard.store.models import AuditEntry
from rxguard.store.testing import TestDatabase

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _write(db: TestDatabase, count: int) -> None:
    for index in range(count):
        with transaction(db.factory) as s:
            audit.record(
                s,
                at=T0 + timedelta(minutes=index),
                actor="dr_ada",
                action="test.step",
                entity="thing",
                entity_id=f"t{index}",
                payload={"n": index, "text": "甲"},
            )


def _tamper(db: TestDatabase, sql: str, **params: object) -> None:
    """Change the log as someone with database rights would: past the append-only trigger."""
    with db.engine.begin() as connection:
        if db.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
            connection.execute(text(sql), params)
            connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
            connection.execute(text(sql), params)


def _verify(db: TestDatabase) -> audit.ChainReport:
    with transaction(db.factory) as s:
        return audit.verify(s)


def test_an_untouched_chain_verifies(db: TestDatabase) -> None:
    _write(db, 4)
    report = _verify(db)
    assert report.ok and report.entries == 4


def test_it_names_an_edited_entry(db: TestDatabase) -> None:
    _write(db, 5)
    _tamper(db, "UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3")
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 3
    assert "edited" in report.problem


def test_it_names_a_deleted_entry(db: TestDatabase) -> None:
    _write(db, 5)
    _tamper(db, "DELETE FROM audit_entry WHERE seq = 2")
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 2
    assert "deleted" in report.problem


def test_it_names_a_deleted_last_entry(db: TestDatabase) -> None:
    _write(db, 3)
    _tamper(db, "DELETE FROM audit_entry WHERE seq = 3")
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 3


def test_it_names_an_inserted_entry(db: TestDatabase) -> None:
    _write(db, 4)
    with transaction(db.factory) as s:
        second = s.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        forged = audit.entry_hash(3, second.at, "mallory", "test.forged", "thing", "x", "{}", second.hash)
    # Shift entries 3.. up by one and slip a well-formed entry in at seq 3.
    _tamper(db, "UPDATE audit_entry SET seq = seq + 100 WHERE seq >= 3")
    _tamper(db, "UPDATE audit_entry SET seq = seq - 99 WHERE seq >= 100")
    _tamper(
        db,
        "INSERT INTO audit_entry (seq, at, actor, action, entity, entity_id, payload, prev_hash, hash) "
        "VALUES (3, :at, 'mallory', 'test.forged', 'thing', 'x', '{}', :prev, :hash)",
        at=second.at.replace(tzinfo=None) if db.name == "sqlite" else second.at,
        prev=second.hash,
        hash=forged,
    )
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 4  # the forged entry fits; the next one no longer does


def test_it_names_an_entry_appended_behind_the_chains_back(db: TestDatabase) -> None:
    _write(db, 2)
    with transaction(db.factory) as s:
        last = s.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        forged = audit.entry_hash(3, last.at, "mallory", "test.forged", "thing", "x", "{}", last.hash)
        s.add(
            AuditEntry(
                seq=3,
                at=last.at,
                actor="mallory",
                action="test.forged",
                entity="thing",
                entity_id="x",
                payload="{}",
                prev_hash=last.hash,
                hash=forged,
            )
        )
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 3


def test_the_log_refuses_updates_and_deletes(db: TestDatabase) -> None:
    _write(db, 1)
    with pytest.raises(DBAPIError), db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET actor = 'x'"))
    with pytest.raises(DBAPIError), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry"))


def test_a_rolled_back_transaction_leaves_no_entry(db: TestDatabase) -> None:
    with pytest.raises(RuntimeError), transaction(db.factory) as s:
        audit.record(s, at=T0, actor="a", action="x", entity="e", entity_id="1")
        raise RuntimeError("boom")
    assert _verify(db).entries == 0
