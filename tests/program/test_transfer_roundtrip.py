"""Backups that restore: export → import into an empty database reproduces every row and the audit chain.

A property test over generated programs (hypothesis): participants with any
printable names, patients born on any plausible day, certifications,
enrollments, consents, doses authorized, held, cleared and infused with
plausible doses, monitoring with any in-range measures, adverse events and
discontinuations — each step through the program's own services, on SQLite
and PostgreSQL. Whatever the services accept must come back from a backup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from personas import NO

from rxguard.access import scope
from rxguard.errors import RxguardError
from rxguard.program import (
    adverse_events,
    authorization,
    certification,
    clearance,
    enrollment,
    monitoring,
    participants,
    transfer,
)
from rxguard.program.infusion import InfusionRequest, record_infusion
from rxguard.store import audit, make_engine, transaction
from rxguard.store.testing import (
    TestDatabase,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_database,
    sqlite_database,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"), max_codepoint=0x2FFFF),
    min_size=1,
    max_size=40,
).filter(str.strip)
notes = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")) | st.sampled_from("\n\t"),
    min_size=1,
    max_size=120,
).filter(str.strip)


@st.composite
def programs(draw: st.DrawFn) -> dict[str, object]:
    """A plan for one program instance; the test carries it out through the services."""
    patients = draw(st.integers(min_value=1, max_value=3))
    return {
        "prescriber_names": draw(st.lists(names, min_size=1, max_size=2)),
        "site_names": draw(st.lists(names, min_size=1, max_size=2)),
        "patients": [
            {
                "name": draw(names),
                "born": draw(st.dates(min_value=date(1930, 1, 1), max_value=date(2007, 12, 31))),
                "sex": draw(st.sampled_from([None, "female", "male", "other", "unknown"])),
                "consented": draw(st.booleans()),
                "doses": draw(st.integers(min_value=0, max_value=3)),
                "symptom": draw(st.booleans()),
                "lot": draw(names.map(lambda s: s[:64])),
                "edss": draw(st.none() | st.floats(min_value=0, max_value=10, allow_nan=False)),
                "relapses": draw(st.none() | st.integers(min_value=0, max_value=2**31 - 1)),
                "event": draw(st.none() | notes),
                "discontinue": draw(st.none() | notes),
            }
            for _ in range(patients)
        ],
    }


def _step(database: TestDatabase, work) -> object:  # type: ignore[no-untyped-def]
    """One step in its own transaction; a step the program refuses is skipped (and leaves nothing)."""
    try:
        with transaction(database.factory) as s:
            return work(s)
    except RxguardError:
        return None


def build(database: TestDatabase, plan: dict[str, object]) -> None:
    earlier = T0 - timedelta(days=60)
    doctors = [f"dr_{i}" for i, _ in enumerate(plan["prescriber_names"])]  # type: ignore[arg-type]
    sites = [f"site_{i}" for i, _ in enumerate(plan["site_names"])]  # type: ignore[arg-type]
    with transaction(database.factory) as s:
        for key, name in zip(doctors, plan["prescriber_names"], strict=True):  # type: ignore[call-overload]
            participants.register_prescriber(s, key=key, name=name, at=earlier, actor="admin")
            certification.enroll_participant(
                s, program_id="touch", kind="prescriber", key=key, at=earlier, actor="admin"
            )
            certification.certify(s, program_id="touch", kind="prescriber", key=key, at=earlier, actor="admin",
                                  training_attested_at=earlier)  # fmt: skip
        for number, (key, name) in enumerate(zip(sites, plan["site_names"], strict=True)):  # type: ignore[call-overload]
            participants.register_site(s, key=key, name=name, at=earlier, actor="admin")
            certification.enroll_participant(s, program_id="touch", kind="site", key=key, at=earlier, actor="admin")
            certification.certify(s, program_id="touch", kind="site", key=key, at=earlier, actor="admin",
                                  training_attested_at=earlier, site_authorization_number=f"SAN-{number}")  # fmt: skip
    for index, patient in enumerate(plan["patients"]):  # type: ignore[arg-type]
        key, doctor, site = f"pat_{index}", doctors[index % len(doctors)], sites[index % len(sites)]
        _step(database, lambda s, p=patient, k=key: participants.register_patient(
            s, key=k, name=p["name"], birth_on=p["born"], sex=p["sex"], at=earlier, actor="admin"))  # fmt: skip
        _step(database, lambda s, k=key, st_=site: scope.assign_site(
            s, patient_key=k, site_key=st_, at=earlier, actor="admin"))  # fmt: skip
        _step(database, lambda s, k=key, d=doctor: enrollment.enroll_patient(
            s, program_id="touch", patient_key=k, prescriber_key=d, indication="multiple-sclerosis", at=earlier,
            actor=d))  # fmt: skip
        if patient["consented"]:
            _step(database, lambda s, k=key, d=doctor: enrollment.record_consent(
                s, program_id="touch", patient_key=k, version="1.0", language="en", patient_signed_at=earlier,
                prescriber_key=d, prescriber_signed_at=earlier, at=earlier, actor=d))  # fmt: skip
            _step(database, lambda s, k=key, d=doctor: enrollment.authorize_treatment(
                s, program_id="touch", patient_key=k, prescriber_key=d, at=earlier, actor=d))  # fmt: skip
        for dose in range(patient["doses"]):
            visit = T0 + timedelta(days=28 * dose)
            answers = {**NO, "new-or-worsening-symptoms": bool(patient["symptom"] and dose == 0)}
            row = _step(database, lambda s, k=key, st_=site, v=visit, a=answers: authorization.authorize_dose(
                s, site_key=st_, patient_key=k, at=v, answers=a, actor="nurse"))  # fmt: skip
            if row is None:
                continue
            if row.decision == "hold":  # type: ignore[attr-defined]
                _step(database, lambda s, r=row, d=doctor, v=visit: clearance.clear_hold(
                    s, authorization_id=r.id, prescriber_key=d, outcome="proceed", reason="reviewed: no PML signs",
                    at=v + timedelta(minutes=10)))  # fmt: skip
            start = visit + timedelta(minutes=30)
            request = InfusionRequest(
                authorization_id=row.id, idempotency_key=f"rt-{key}-{dose}", product="tysabri",  # type: ignore[attr-defined]
                lot=patient["lot"], dose=300, dose_unit="mg", diluent="0.9% sodium chloride", volume_ml=100,
                prepared_at=start - timedelta(hours=1), storage="refrigerated", started_at=start,
                stopped_at=start + timedelta(hours=1), observation_end_at=start + timedelta(hours=2),
            )  # fmt: skip
            _step(database, lambda s, r=request: record_infusion(s, r, at=r.stopped_at + timedelta(hours=1),
                                                                   actor="nurse"))  # fmt: skip
        when = T0 + timedelta(days=100)
        _step(database, lambda s, k=key, d=doctor, p=patient, w=when: monitoring.record(
            s, enrollment.enrollment_of(s, k, "touch", lock=True), kind="prescriber-assessment", on=w.date(), at=w,
            actor=d, measurements={"edss": p["edss"], "relapses": p["relapses"]}))  # fmt: skip
        if patient["event"]:
            _step(database, lambda s, k=key, p=patient, w=when: adverse_events.report_adverse_event(
                s, program_id="touch", patient_key=k, kind="other", serious=False, seriousness=[], onset_on=w.date(),
                outcome="unknown", description=p["event"], at=w, actor="nurse"))  # fmt: skip
        if patient["discontinue"]:
            _step(database, lambda s, k=key, p=patient, w=when: enrollment.discontinue(
                s, program_id="touch", patient_key=k, at=w + timedelta(hours=1), actor="dr", reason=p["discontinue"]))  # fmt: skip


@contextmanager
def two_databases(db: TestDatabase, tmp_path: Path) -> Iterator[tuple[TestDatabase, TestDatabase]]:
    """A fresh source and an empty target on the engine of ``db`` (new each hypothesis example)."""
    if db.name == "sqlite":
        assert db.template is not None
        source, target = sqlite_database(db.template, tmp_path), sqlite_database(db.template, tmp_path)
        try:
            yield source, target
        finally:
            source.engine.dispose()
            target.engine.dispose()
        return
    assert db.schema is not None
    source = postgres_database(db.schema, db.url, db.engine)
    yield source, postgres_database(_TARGET[0][0], _TARGET[0][1], _TARGET[0][2])


_TARGET: list[tuple[str, str, object]] = []


@pytest.fixture
def target_schema(db: TestDatabase) -> Iterator[None]:
    """PostgreSQL: a second private schema for the restore (created once per test, emptied per example)."""
    if db.name != "postgresql":
        yield
        return
    schema, url = create_postgres_schema()
    engine = make_engine(url=url)
    _TARGET.append((schema, url, engine))
    try:
        yield
    finally:
        _TARGET.clear()
        engine.dispose()
        drop_postgres_schema(schema)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(plan=programs())
def test_every_generated_program_comes_back_from_its_backup(
    db: TestDatabase, tmp_path: Path, target_schema: None, plan: dict[str, object]
) -> None:
    with two_databases(db, tmp_path) as (source, target):
        build(source, plan)
        with transaction(source.factory) as s:
            lines = list(transfer.export_ndjson(s))
            before = transfer.snapshot(s)
        with transaction(target.factory) as s:
            counts = transfer.import_ndjson(s, lines)
        with transaction(target.factory) as s:
            after = transfer.snapshot(s)
            report = audit.verify(s)
            again = list(transfer.export_ndjson(s))
    assert sum(counts.values()) == len(lines)
    assert after == before
    assert report.ok and report.entries == len(before["audit_entry"])
    assert again == lines  # the restored program exports byte for byte the same
