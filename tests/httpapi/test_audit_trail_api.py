"""The server signs and publishes audit checkpoints; reading a patient's record and exporting are audited."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cds_scenarios import NOW
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text

from rxguard.access import create_token, create_user
from rxguard.api.app import create_app
from rxguard.api.checkpoints import publish_once
from rxguard.api.settings import ServerSettings
from rxguard.errors import AuditChainError
from rxguard.program.demo import load_demo
from rxguard.store import audit, transaction
from rxguard.store.models import AuditEntry
from rxguard.store.testing import TestDatabase
from rxguard.tlog.checkpoint import read_checkpoint
from rxguard.tlog.note import Signer


def _key(tmp_path: Path) -> tuple[Path, Signer]:
    signer = Signer.generate("rxguard.test/audit")
    path = tmp_path / "audit.key"
    path.write_text(signer.text() + "\n")
    return path, signer


def test_the_server_publishes_a_checkpoint_at_start_and_refuses_a_rewritten_log(
    database: TestDatabase, tmp_path: Path
) -> None:
    with transaction(database.factory) as s:
        load_demo(s, at=NOW)
    key, signer = _key(tmp_path)
    published = tmp_path / "witness"
    settings = ServerSettings(database_url=database.url, audit_key_file=key, audit_checkpoint_dir=published)
    with TestClient(create_app(settings, clock=lambda: NOW)):
        deadline = time.monotonic() + 20
        while not (published / "checkpoint").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    with transaction(database.factory) as s:
        entries = audit.verify(s).entries
    checkpoint = read_checkpoint(published / "checkpoint", signer.verifier())
    assert checkpoint.size == entries and (published / "history" / str(entries)).exists()
    with database.engine.begin() as connection:  # an owner rewrites an old entry (the chain is not re-made:
        connection.execute(text("DROP TRIGGER audit_entry_no_update"))  # the tree differs either way)
        connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))
    with transaction(database.factory) as s:
        audit.record(s, at=NOW, actor="t", action="test.more", entity="thing", entity_id="x")
    with pytest.raises(AuditChainError, match="refused to publish"):
        publish_once(database.factory, signer, published, NOW)
    assert read_checkpoint(published / "checkpoint", signer.verifier()) == checkpoint  # nothing replaced


def test_production_refuses_to_start_without_the_audit_signing_key(tmp_path: Path) -> None:
    common = {"environment": "production", "database_url": "postgresql+psycopg://db/rx", "public_url": "https://rx.example",
              "cds_issuers_file": tmp_path}  # fmt: skip
    with pytest.raises(ValidationError, match="RXGUARD_AUDIT_KEY_FILE is not set; create the audit log's signing key"):
        ServerSettings(**common, audit_checkpoint_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cannot be read"):
        ServerSettings(**common, audit_key_file=tmp_path / "absent.key", audit_checkpoint_dir=tmp_path)  # type: ignore[arg-type]
    key, _ = _key(tmp_path)
    with pytest.raises(ValidationError, match="RXGUARD_AUDIT_CHECKPOINT_DIR is not set"):
        ServerSettings(**common, audit_key_file=key)  # type: ignore[arg-type]
    assert ServerSettings(**common, audit_key_file=key, audit_checkpoint_dir=tmp_path).audit_key_file == key  # type: ignore[arg-type]


def test_reading_a_patient_record_and_exporting_leave_audit_entries(database: TestDatabase, tmp_path: Path) -> None:
    with transaction(database.factory) as s:
        load_demo(s, at=NOW)
        create_user(s, name="aud", role="auditor", at=NOW, actor="test")
        token, _ = create_token(s, user_name="aud", at=NOW, actor="test")
    settings = ServerSettings(database_url=database.url)
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/patients/pat_amy", headers=headers).status_code == 200
        assert client.get("/api/v1/patients/pat_amy/monitoring", headers=headers).status_code == 200
        assert client.get("/api/v1/exports/program", headers=headers).status_code == 200
    with transaction(database.factory) as s:
        rows = s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.payload).order_by(AuditEntry.seq)).all()
        assert audit.verify_log(s).ok
    reads = [r for r in rows if r.action == "patient.read"]
    assert [(r.actor, r.payload) for r in reads] == [
        ("aud", '{"role":"auditor","what":"file"}'),
        ("aud", '{"role":"auditor","what":"monitoring"}'),
    ]
    assert rows[-1].action == "program.exported" and '"sha256":' in rows[-1].payload
