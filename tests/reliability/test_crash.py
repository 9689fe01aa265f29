"""Crash safety: SIGKILL the server mid-stream, restart it, and account for every write.

Four clients (two nurses at each of two sites) authorize doses and record
infusions over HTTP as fast as the server answers. While they do, the server
process is killed with SIGKILL (no shutdown code runs) and started again on
the same database, several times. A client whose request died with the
server retries: an infusion with the *same* idempotency key and body, an
authorization as a new request (the API has no idempotency key for it, so an
authorization whose answer was lost stays stored and unused; the figures
count them).

After each restart, every write the server had acknowledged before the kill
must be in the database; at the end every retried infusion must have been
stored once (the retry got the id that is stored), the program's invariants
must hold (nothing half-written: each row has its events and audit entry,
one infusion per dose), the audit chain must verify, and a SQLite file must
pass ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rel_db import ENGINES, ScratchDatabases, full_run
from rel_invariants import check_program
from rel_server import Deployment, Server, deploy, start_server
from rel_world import NO, infusion_body
from sqlalchemy import func, select, text

from rxguard.store import transaction
from rxguard.store.models import Authorization, Infusion

pytestmark = pytest.mark.reliability
API = "/api/v1"


@dataclass
class Journal:
    """What the clients were told, and what they are still unsure about."""

    authorizations: dict[str, str] = field(default_factory=dict)  # id -> decision, acknowledged
    infusions: dict[str, str] = field(default_factory=dict)  # idempotency key -> infusion id, acknowledged
    lost_authorizations: int = 0  # requests whose answer died with the server
    retried_infusions: dict[str, str] = field(default_factory=dict)  # key -> id the retry was given
    failures: list[str] = field(default_factory=list)  # any answer that is not a success
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.authorizations) + len(self.infusions)


class Current:
    """The server the clients talk to; replaced on every restart."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ready = threading.Event()
        self.ready.set()
        self.done = threading.Event()

    def base(self) -> str:
        if not self.ready.wait(timeout=120):
            raise RuntimeError("the server did not come back")
        return self.server.base


def _post(client: httpx.Client, current: Current, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(current.base() + API + path, json=body, headers={"Authorization": f"Bearer {token}"})


def _after_lost_answer(current: Current, attempt: int) -> None:
    """Wait for the server to be back before retrying; give up rather than spin forever."""
    if attempt > 50 or (current.done.is_set() and current.server.process.poll() is not None):
        raise RuntimeError("the server stayed away")
    current.ready.wait(timeout=120)
    time.sleep(0.02)


def _authorize(client: httpx.Client, current: Current, journal: Journal, token: str, patient: str) -> dict[str, Any]:
    for attempt in itertools.count():
        try:
            response = _post(client, current, "/authorizations", token, {"patient": patient, "answers": NO})
        except httpx.TransportError:
            with journal.lock:
                journal.lost_authorizations += 1
            _after_lost_answer(current, attempt)
            continue
        if response.status_code != 201:
            raise AssertionError(f"authorization of {patient}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        with journal.lock:
            journal.authorizations[body["id"]] = body["decision"]
        return body
    raise AssertionError("unreachable")


def _infuse(client: httpx.Client, current: Current, journal: Journal, token: str, decision: dict[str, Any]) -> None:
    key = f"crash-{uuid.uuid4()}"
    body = infusion_body(datetime.fromisoformat(decision["visit_at"]), key)
    retried = False
    for attempt in itertools.count():
        try:
            response = _post(client, current, f"/authorizations/{decision['id']}/infusions", token, body)
        except httpx.TransportError:
            retried = True
            _after_lost_answer(current, attempt)
            continue
        if response.status_code != 201:
            raise AssertionError(f"infusion {key}: {response.status_code} {response.text[:300]}")
        with journal.lock:
            journal.infusions[key] = response.json()["id"]
            if retried:
                journal.retried_infusions[key] = response.json()["id"]
        return


def _client(current: Current, journal: Journal, token: str, patients: queue.Queue[str]) -> None:
    with httpx.Client(timeout=httpx.Timeout(30)) as client:
        while not current.done.is_set():
            try:
                patient = patients.get_nowait()
            except queue.Empty:
                return
            try:
                decision = _authorize(client, current, journal, token, patient)
                if decision["decision"] == "authorized":
                    _infuse(client, current, journal, token, decision)
            except Exception as exc:  # reported by the test, not swallowed
                with journal.lock:
                    journal.failures.append(f"{type(exc).__name__}: {exc}")
                return


def _present(deployment: Deployment, journal: Journal) -> tuple[int, int]:
    """(acknowledged writes, of which found in the database)."""
    with journal.lock:
        authorizations, infusions = dict(journal.authorizations), dict(journal.infusions)
    with transaction(deployment.database.factory) as s:
        found_auth = set(s.execute(select(Authorization.id).where(Authorization.id.in_(authorizations))).scalars())
        found_inf = {
            (key, iid)
            for key, iid in s.execute(
                select(Infusion.idempotency_key, Infusion.id).where(Infusion.idempotency_key.in_(infusions))
            )
        }
    expected_inf = set(infusions.items())
    return len(authorizations) + len(infusions), len(found_auth) + len(found_inf & expected_inf)


def _crash_cycles(deployment: Deployment, current: Current, journal: Journal, crashes: int,
                  figures: Any, engine: str) -> None:  # fmt: skip
    rng = random.Random(f"crash-{engine}")
    for crash in range(1, crashes + 1):
        target = journal.acknowledged() + rng.randint(30, 60)
        deadline = time.monotonic() + 60
        while journal.acknowledged() < target and time.monotonic() < deadline and not journal.failures:
            time.sleep(0.005)
        current.ready.clear()
        current.server.kill()
        acknowledged, _ = _present(deployment, journal)
        current.server = start_server(deployment.env(), current.server.log)
        _, found = _present(deployment, journal)  # every write acknowledged before the kill
        figures.record(f"crash.{engine}.kill{crash}", acknowledged_before_kill=acknowledged, found_after_restart=found)
        assert found == acknowledged, f"crash {crash}: {acknowledged} writes acknowledged, {found} found"
        current.ready.set()


@pytest.mark.parametrize("engine", ENGINES)
def test_acknowledged_writes_survive_sigkill_and_retries_make_no_duplicates(
    engine: str, scratch: ScratchDatabases, tmp_path: Path, figures: Any
) -> None:
    crashes = 5 if full_run() else 2
    deployment = deploy(scratch.create(engine), tmp_path, patients=40 * (crashes + 1))
    patients: queue.Queue[str] = queue.Queue()
    for key in deployment.patients:
        patients.put(key)
    current = Current(start_server(deployment.env(), tmp_path / "server.log"))
    journal = Journal()
    clients = [
        threading.Thread(target=_client, args=(current, journal, deployment.tokens[user], patients))
        for user in ("nurse_n", "nurse_s", "nurse_n", "nurse_s")
    ]
    try:
        for thread in clients:
            thread.start()
        _crash_cycles(deployment, current, journal, crashes, figures, engine)
        time.sleep(0.5)  # the clients go on a little on the last server, then finish their patient
        current.done.set()
        for thread in clients:
            thread.join(timeout=120)
    finally:
        current.done.set()
        current.ready.set()
        current.server.stop()
    assert not journal.failures, journal.failures[:5]
    _check_database(deployment, journal, engine, figures)


def _check_database(deployment: Deployment, journal: Journal, engine: str, figures: Any) -> None:
    acknowledged, found = _present(deployment, journal)
    with transaction(deployment.database.factory) as s:
        problems = check_program(s)
        stored = dict(s.execute(select(Infusion.idempotency_key, Infusion.id)).all())
        authorizations = s.execute(select(func.count(Authorization.id))).scalar_one()
        if engine == "sqlite":
            problems += [r for r in s.execute(text("PRAGMA integrity_check")).scalars() if r != "ok"]
    duplicates = [k for k, iid in journal.retried_infusions.items() if stored.get(k) != iid]
    figures.record(
        f"crash.{engine}", acknowledged_writes=acknowledged, found=found,
        retried_infusions=len(journal.retried_infusions), duplicate_or_missing_retries=len(duplicates),
        lost_authorization_answers=journal.lost_authorizations,
        unacknowledged_authorizations_stored=authorizations - len(journal.authorizations),
    )  # fmt: skip
    assert found == acknowledged
    assert not duplicates
    assert len(stored) == len(journal.infusions), "an infusion is stored that no client was told about"
    assert not problems, "\n".join(problems)
