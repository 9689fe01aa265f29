"""The audit log against someone with database rights, on SQLite and PostgreSQL.

The three attacks that went unnoticed by the hash chain alone — empty the log (TRUNCATE and the
head deleted), drop the append-only triggers and rewrite an override then re-chain everything
after it, delete the newest entries and re-chain — are each made as a database owner could make
them, and ``audit verify`` against a checkpoint kept outside the database must name what is
wrong. An untouched log passes; the guards themselves (TRUNCATE, deleting the head, the
application role's grants) are tested too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from rxguard.program import audit_trail, participants, transfer
from rxguard.program.demo import load_demo
from rxguard.store import audit, transaction
from rxguard.store.testing import TestDatabase, postgres_database, postgres_url
from rxguard.tlog.checkpoint import Checkpoint
from rxguard.tlog.note import Signer
from rxguard.tlog.verification import LogReport

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SIGNER = Signer.generate("rxguard.test/audit")


def _load(db: TestDatabase, extra: int = 0) -> tuple[tuple[str, Checkpoint], tuple[str, Checkpoint] | None]:
    """The demo program and a checkpoint of it; with ``extra``, that many more entries and a second one."""
    with transaction(db.factory) as s:
        load_demo(s, at=AT)
    first = _checkpoint(db, "first")
    if not extra:
        return first, None
    for i in range(extra):
        with transaction(db.factory) as s:
            participants.register_prescriber(s, key=f"dr_new{i}", name=f"New {i}", at=AT + timedelta(days=1), actor="t")
    return first, _checkpoint(db, "second")


def _checkpoint(db: TestDatabase, label: str) -> tuple[str, Checkpoint]:
    with transaction(db.factory) as s:
        checkpoint, _, _ = audit_trail.make_checkpoint(s, SIGNER, AT + timedelta(days=2))
    return label, checkpoint


def _verify(db: TestDatabase, *checkpoints: tuple[str, Checkpoint]) -> LogReport:
    with transaction(db.factory) as s:
        return audit.verify_log(s, list(checkpoints))


class Owner:
    """Raw SQL as the tables' owner, with every audit trigger out of the way (dropped or disabled)."""

    def __init__(self, db: TestDatabase, connection: Connection) -> None:
        self.db, self.c = db, connection

    def sql(self, statement: str, **params: object) -> None:
        self.c.execute(text(statement), params)

    def rows(self) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in self.c.execute(text("SELECT * FROM audit_entry ORDER BY seq"))]

    def rechain_from(self, first: int) -> None:
        """Recompute every hash from entry ``first`` on and move the head: an intact-looking chain."""
        prev = audit.GENESIS
        last = 0
        for row in self.rows():
            seq = int(row["seq"])  # type: ignore[call-overload]
            at = row["at"] if isinstance(row["at"], datetime) else datetime.fromisoformat(str(row["at"]))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            if seq >= first:
                digest = audit.entry_hash(seq, at, str(row["actor"]), str(row["action"]), str(row["entity"]),
                                          str(row["entity_id"]), str(row["payload"]), prev)  # fmt: skip
                self.sql("UPDATE audit_entry SET prev_hash = :p, hash = :h WHERE seq = :s", p=prev, h=digest, s=seq)
                prev = digest
            else:
                prev = str(row["hash"])
            last = seq
        self.sql("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=last, h=prev)


@pytest.fixture
def owner(db: TestDatabase) -> Iterator[callable]:  # type: ignore[valid-type]
    def run(change: callable) -> None:  # type: ignore[valid-type]
        with db.engine.begin() as connection:
            if db.name == "postgresql":
                for table in ("audit_entry", "audit_head"):
                    connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                for trigger in ("audit_entry_no_update", "audit_entry_no_delete", "audit_head_no_delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
            change(Owner(db, connection))
            if db.name == "postgresql":
                for table in ("audit_entry", "audit_head"):
                    connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))

    yield run


def test_an_untouched_log_passes_against_its_checkpoints(db: TestDatabase) -> None:
    first, second = _load(db, extra=3)
    assert second is not None
    report = _verify(db, first, second)
    assert report.ok, report.message()
    assert f"entries 1..{second[1].size} match" in report.message()
    assert "business records have their audit entries" in report.message()


def test_attack_1_the_log_emptied_is_named_as_every_entry_missing(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    (label, checkpoint), _ = _load(db)
    if db.name == "postgresql":
        owner(lambda o: (o.sql("TRUNCATE audit_entry"), o.sql("DELETE FROM audit_head")))
    else:
        owner(lambda o: (o.sql("DELETE FROM audit_entry"), o.sql("DELETE FROM audit_head")))
    report = _verify(db, (label, checkpoint))
    assert not report.ok
    assert f"entries 1..{checkpoint.size} are missing" in report.message()
    assert "infusion row(s) have no audit entry" in report.message()  # even without a checkpoint
    with transaction(db.factory) as s:
        assert not audit.verify_log(s).ok


def test_attack_2_an_override_rewritten_and_re_chained_is_caught(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    first, second = _load(db, extra=2)
    assert second is not None

    def rewrite(o: Owner) -> None:
        row = next(r for r in o.rows() if str(r["action"]).startswith("override."))
        seq = int(row["seq"])  # type: ignore[call-overload]
        o.sql("UPDATE audit_entry SET actor = 'dr_ada', payload = :p WHERE seq = :s",
              p=str(row["payload"]).replace("prescriber unreachable", "as planned"), s=seq)  # fmt: skip
        o.rechain_from(seq)

    owner(rewrite)
    with transaction(db.factory) as s:
        assert audit.verify(s).ok  # the chain alone is fooled
    report = _verify(db, first, second)
    assert not report.ok
    assert f"entries 1..{first[1].size} do not match the {first[1].describe()} (first)" in report.message()


def test_an_edit_after_the_older_checkpoint_is_narrowed_to_the_entries_since(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    first, second = _load(db, extra=3)
    assert second is not None
    edited = first[1].size + 2
    owner(lambda o: (o.sql("UPDATE audit_entry SET actor = 'x' WHERE seq = :s", s=edited), o.rechain_from(edited)))
    message = _verify(db, first, second).message()
    assert f"entries {first[1].size + 1}..{second[1].size} do not match" in message
    assert f"entries 1..{first[1].size} match an earlier checkpoint" in message


def test_attack_3_the_tail_deleted_and_re_chained_is_named_as_missing(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    (label, checkpoint), _ = _load(db)
    keep = checkpoint.size - 14
    owner(lambda o: (o.sql("DELETE FROM audit_entry WHERE seq > :k", k=keep), o.rechain_from(keep + 1)))
    with transaction(db.factory) as s:
        assert audit.verify(s).ok  # the chain alone is fooled
    report = _verify(db, (label, checkpoint))
    assert not report.ok
    assert f"entries {keep + 1}..{checkpoint.size} are missing" in report.message()


def test_a_reorder_is_caught(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    (label, checkpoint), _ = _load(db)

    def swap(o: Owner) -> None:
        rows = {int(r["seq"]): r for r in o.rows()}  # type: ignore[call-overload]
        a, b = rows[10], rows[11]
        for seq, other in ((10, b), (11, a)):
            o.sql("UPDATE audit_entry SET actor = :ac, action = :an, payload = :p WHERE seq = :s",
                  ac=other["actor"], an=other["action"], p=other["payload"], s=seq)  # fmt: skip
        o.rechain_from(10)

    owner(swap)
    assert f"entries 1..{checkpoint.size} do not match" in _verify(db, (label, checkpoint)).message()


def test_a_business_row_without_its_entry_is_reported(db: TestDatabase, owner: callable) -> None:  # type: ignore[valid-type]
    _load(db)
    with db.engine.connect() as connection:
        infusion = connection.execute(text("SELECT id FROM infusion ORDER BY id LIMIT 1")).scalar_one()
    owner(lambda o: o.sql("UPDATE audit_entry SET entity_id = 'elsewhere' WHERE entity = 'infusion' AND entity_id = :i",
                          i=infusion))  # fmt: skip
    with transaction(db.factory) as s:
        report = audit.verify_log(s)
    assert f"1 infusion row(s) have no audit entry: {infusion}" in report.message()


def test_the_guards_refuse_truncate_and_deleting_the_head(db: TestDatabase) -> None:
    _load(db)
    statements = ["DELETE FROM audit_head", "DELETE FROM audit_entry"]
    if db.name == "postgresql":
        statements += ["TRUNCATE audit_entry", "TRUNCATE audit_head", "TRUNCATE audit_entry, audit_head"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(statement))
    assert _verify(db).ok


def test_proofs_from_the_database_verify_offline_and_fail_when_changed(db: TestDatabase, tmp_path: Path) -> None:
    _load(db, extra=2)
    with transaction(db.factory) as s:
        old, old_note, _ = audit_trail.make_checkpoint(s, SIGNER, AT)
        participants.register_prescriber(s, key="dr_late", name="Late", at=AT, actor="t")
    with transaction(db.factory) as s:
        new, new_note, _ = audit_trail.make_checkpoint(s, SIGNER, AT)
        entries = list(audit.read_entries(s))
        authorization = s.execute(text('SELECT id FROM "authorization" ORDER BY id LIMIT 1')).scalar_one()
    proof = audit_trail.prove_inclusion(entries, authorization, new_note, new)
    assert "is in the log's checkpoint" in audit_trail.check_proof(proof, SIGNER.verifier())
    assert authorization in proof["entry"]
    forged = {**proof, "entry": proof["entry"].replace(authorization, "someone-else")}
    with pytest.raises(audit_trail.AuditChainError, match="does not hold"):
        audit_trail.check_proof(forged, SIGNER.verifier())
    consistency = audit_trail.prove_consistency(entries, (old_note, old), (new_note, new))
    assert "the log only grew" in audit_trail.check_proof(consistency, SIGNER.verifier())
    with pytest.raises(audit_trail.AuditChainError):
        audit_trail.check_proof(consistency, Signer.generate("rxguard.test/audit").verifier())


def test_an_export_alone_verifies_and_an_edited_export_fails(db: TestDatabase, tmp_path: Path) -> None:
    (label, checkpoint), _ = _load(db)
    with transaction(db.factory) as s:
        lines = list(transfer.export_ndjson(s))
    export = tmp_path / "program.ndjson"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert audit_trail.verify_export(export, [(label, checkpoint)]).ok
    audit_lines = [i for i, line in enumerate(lines) if '"resourceType":"AuditEvent"' in line]
    del lines[audit_lines[-3]]  # an entry quietly left out of the export
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = audit_trail.verify_export(export, [(label, checkpoint)])
    assert not report.ok and "missing" in report.message()


@pytest.fixture
def pg(postgres_schema: tuple[str, str, Engine]) -> TestDatabase:
    """Roles and grants are PostgreSQL's (a SQLite file is guarded by its file permissions)."""
    return postgres_database(*postgres_schema)


@pytest.fixture
def app_role(pg: TestDatabase) -> Iterator[str]:
    db = pg
    role = f"rxg_app_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    yield role
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP OWNED BY {role}"))
        connection.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def test_postgresql_the_application_role_cannot_truncate_alter_or_drop_the_audit_tables(
    pg: TestDatabase, app_role: str
) -> None:
    db = pg
    from rxguard.store.roles import grant_app_role

    with db.engine.begin() as connection:
        grant_app_role(connection, app_role)
    _load(db)
    refused = [
        "TRUNCATE audit_entry", "TRUNCATE audit_head", "DELETE FROM audit_entry", "UPDATE audit_entry SET actor = 'x'",
        "ALTER TABLE audit_entry DISABLE TRIGGER USER", "DROP TABLE audit_entry CASCADE", "DROP TABLE audit_head",
        "DROP TRIGGER audit_entry_append_only ON audit_entry", "ALTER TABLE audit_entry DROP COLUMN payload",
    ]  # fmt: skip
    for statement in refused:
        with pytest.raises(DBAPIError), db.engine.begin() as connection:
            connection.execute(text(f"SET LOCAL ROLE {app_role}"))
            connection.execute(text(statement))
    with db.engine.begin() as connection:  # what the application does: read, append, move the head
        connection.execute(text(f"SET LOCAL ROLE {app_role}"))
        assert connection.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() > 0
        connection.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
        connection.execute(text("UPDATE patient SET name = name"))
    assert _verify(db).ok


def test_postgresql_the_owner_role_is_refused_as_the_application_role(pg: TestDatabase) -> None:
    from rxguard.errors import InputError
    from rxguard.store.roles import grant_app_role

    db = pg
    with db.engine.begin() as connection:
        me = connection.execute(text("SELECT current_user")).scalar_one()
        with pytest.raises(InputError, match="owns the audit tables"):
            grant_app_role(connection, me)
        with pytest.raises(InputError, match="does not exist"):
            grant_app_role(connection, "no_such_role_here")


def test_postgresql_migration_0009_grants_the_role_named_by_the_setting(
    pg: TestDatabase, app_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rxguard.store.testing import create_postgres_schema, drop_postgres_schema

    monkeypatch.setenv("RXGUARD_DB_APP_ROLE", app_role)
    schema, _ = create_postgres_schema()
    try:
        with pg.engine.connect() as connection:

            def may(table: str, privilege: str) -> bool:
                return bool(connection.execute(text("SELECT has_table_privilege(:r, :t, :p)"),
                                               {"r": app_role, "t": f'"{schema}".{table}', "p": privilege}).scalar_one())  # fmt: skip

            assert may("audit_entry", "INSERT") and may("audit_entry", "SELECT")
            assert not any(may("audit_entry", p) for p in ("UPDATE", "DELETE", "TRUNCATE"))
            assert may("audit_head", "UPDATE") and not may("audit_head", "TRUNCATE")
            assert may("infusion", "INSERT") and not may("infusion", "TRUNCATE")
    finally:
        drop_postgres_schema(schema)
