"""Two server instances on one database: a create sent under one Idempotency-Key is made once.

Two real ``rxguard serve`` processes share the database (each with its own
connection pool). Many clients send the same ``POST /authorizations`` with the
same key at the same moment, half to each instance: exactly one decision is
stored, and every client gets that decision (201, the same id). The same key
with a different body is 409, and stores nothing. On PostgreSQL the losers'
inserts wait on the unique index for the winner's transaction; on SQLite the
writers queue.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from rel_db import ENGINES, ScratchDatabases
from rel_server import deploy, start_server
from rel_world import NO
from sqlalchemy import func, select

from rxguard.store import transaction
from rxguard.store.models import Authorization, Patient
from rxguard.store.request_models import IdempotentRequest

pytestmark = pytest.mark.reliability
CLIENTS = 12


def _decisions(database: Any, patient: str) -> int:
    with transaction(database.factory) as s:
        return int(s.execute(
            select(func.count()).select_from(Authorization).join(Patient, Patient.id == Authorization.patient_id)
            .where(Patient.key == patient)
        ).scalar_one())  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_one_key_sent_at_once_to_two_instances_makes_one_decision(
    scratch: ScratchDatabases, tmp_path: Path, engine: str
) -> None:
    database = scratch.create(engine)
    deployment = deploy(database, tmp_path, patients=3)
    servers = [start_server(deployment.env(), tmp_path / f"server-{n}.log") for n in range(2)]
    try:
        rounds = []
        for patient in deployment.patients:
            headers = {**deployment.auth("nurse_n"), "Idempotency-Key": f"visit-{patient}"}
            body = {"patient": patient, "answers": NO, "site": "site_north"}
            barrier = threading.Barrier(CLIENTS)
            answers: list[httpx.Response | BaseException] = [None] * CLIENTS  # type: ignore[list-item]

            def send(n: int, headers: dict[str, str] = headers, body: dict[str, Any] = body,
                     barrier: threading.Barrier = barrier, answers: list[Any] = answers) -> None:  # fmt: skip
                with httpx.Client(base_url=servers[n % 2].base, timeout=60) as client:
                    barrier.wait()
                    try:
                        answers[n] = client.post("/api/v1/authorizations", json=body, headers=headers)
                    except BaseException as exc:  # recorded and asserted below
                        answers[n] = exc

            threads = [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rounds.append((patient, answers))
        for patient, answers in rounds:
            assert all(isinstance(a, httpx.Response) for a in answers), answers
            statuses = [a.status_code for a in answers]  # type: ignore[union-attr]
            assert statuses == [201] * CLIENTS, [a.text for a in answers]  # type: ignore[union-attr]
            ids = {a.json()["id"] for a in answers}  # type: ignore[union-attr]
            assert len(ids) == 1, ids
            replayed = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)  # type: ignore[union-attr]
            assert replayed == CLIENTS - 1
            assert _decisions(database, patient) == 1
        other = httpx.post(
            f"{servers[1].base}/api/v1/authorizations", timeout=60,
            json={"patient": deployment.patients[0], "answers": {**NO, "steroid-use": True}, "site": "site_north"},
            headers={**deployment.auth("nurse_n"), "Idempotency-Key": f"visit-{deployment.patients[0]}"},
        )  # fmt: skip
        assert other.status_code == 409, other.text
        assert _decisions(database, deployment.patients[0]) == 1
        with transaction(database.factory) as s:
            assert s.execute(select(func.count()).select_from(IdempotentRequest)).scalar_one() == len(rounds)
    finally:
        for server in servers:
            server.stop()
