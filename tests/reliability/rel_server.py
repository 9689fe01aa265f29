"""Real ``rxguard serve`` processes on loopback, and the program they serve.

A server is the installed ``rxguard`` command in its own process (uvicorn, an
ephemeral port on 127.0.0.1), so SIGKILL is a real crash and its memory is
its own. Its JSON log goes to a file the tests scan afterwards. The program
behind it is built directly through the services (with the real clock, since
the server dates every write "now"), with one user and API token per role.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rel_world import add_patient, build_program

from rxguard.access import create_token, create_user
from rxguard.access.scope import assign_site
from rxguard.cds_hooks.testing import SigningEhr, free_port
from rxguard.store import transaction
from rxguard.store.testing import TestDatabase

RXGUARD = Path(sys.executable).with_name("rxguard")
USERS = {
    "nurse_n": ("nurse", {"site_key": "site_north"}),
    "nurse_s": ("nurse", {"site_key": "site_south"}),
    "ada": ("prescriber", {"prescriber_key": "dr_ada"}),
    "admin": ("admin", {}),
    "audrey": ("auditor", {}),
}


@dataclass
class Deployment:
    """A program in a database, the people who may use it, and an EHR trusted for CDS Hooks."""

    database: TestDatabase
    folder: Path
    tokens: dict[str, str]
    patients: list[str]
    ehr: SigningEhr = field(default_factory=lambda: SigningEhr(iss="https://ehr.reliability.test"))

    def issuers_file(self) -> Path:
        path = self.folder / "issuers.json"
        path.write_bytes(orjson.dumps([self.ehr.issuer_entry(jurisdiction="US")]))
        return path

    def env(self, database_url: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "RXGUARD_DATABASE_URL": database_url or self.database.url,
            "RXGUARD_CDS_ISSUERS_FILE": str(self.issuers_file()),
            **extra,
        }

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def deploy(database: TestDatabase, folder: Path, patients: int) -> Deployment:
    """dr_ada, two certified sites, ``patients`` authorized patients cared for at both sites, five users."""
    now = datetime.now(UTC)
    build_program(database, now - timedelta(days=30))
    keys = [f"pat_{n:04d}" for n in range(patients)]
    with transaction(database.factory) as s:
        for key in keys:
            add_patient(s, key, now - timedelta(days=2))
            for site in ("site_north", "site_south"):
                assign_site(s, patient_key=key, site_key=site, at=now - timedelta(days=2), actor="admin")
    tokens = {}
    with transaction(database.factory) as s:
        for name, (role, links) in USERS.items():
            create_user(s, name=name, role=role, at=now - timedelta(days=30), actor="admin", **links)
            tokens[name] = create_token(s, user_name=name, at=now - timedelta(days=30), actor="admin")[0]
    return Deployment(database, folder, tokens, keys)


@dataclass
class Server:
    """One ``rxguard serve`` process."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests die with the process."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_kib(self) -> int:
        """Resident memory of the server and its worker processes (from /proc, in KiB)."""
        return sum(_rss_kib(pid) for pid in _process_tree(self.process.pid))


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += _process_tree(int(child))
    return pids


def _rss_kib(pid: int) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)


def start_server(env: dict[str, str], log: Path, *, timeout: float = 90, workers: int = 1) -> Server:
    """Start ``rxguard serve`` with these RXGUARD_* settings and wait until /healthz answers."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RXGUARD_")}
    clean.update(env, PYTHONUNBUFFERED="1")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(RXGUARD), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=clean, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rxguard serve exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"rxguard serve did not answer within {timeout} s; see {log}")


@contextmanager
def serving(deployment: Deployment, log: Path, *closing: Any) -> Iterator[Server]:
    """A server for ``deployment`` while the block runs; then it is stopped and ``closing`` closed."""
    server = start_server(deployment.env(), log)
    try:
        yield server
    finally:
        server.stop()
        for thing in closing:
            thing.close()


def is_problem(response: httpx.Response) -> bool:
    """An RFC 9457 problem with rxguard's fields and no traceback."""
    if response.headers.get("content-type") != "application/problem+json":
        return False
    try:
        body: Any = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and body.get("status") == response.status_code
        and str(body.get("type", "")).startswith("urn:rxguard:problem:")
        and "Traceback" not in response.text
    )
