"""Database outage under load: 503 within a bounded time, CDS Hooks never hangs, recovery with no restart.

A real ``rxguard serve`` talks to PostgreSQL through :class:`rel_proxy.TcpProxy`
(the shared server itself is never touched) while an open-loop load sends CDS
Hooks order-sign calls, assessments, patient reads and dose authorizations
with infusions. The proxy then fails in one of two ways:

* **stopped** — every connection is reset and new ones are refused, which is
  what PostgreSQL going down looks like to a client;
* **unreachable** — connections are reset and new ones hang unanswered, like a
  host that stops answering (bounded only by the connect timeout).

While it is down every answer must be a 503 problem+json (or a success for a
request that finished before the cut): no 500, no 504, no connection reset,
and nothing slower than the bound. After the proxy is restored the same
server process must serve every kind of request again by itself. The
program's invariants are checked at the end: a write cut off by the outage
left nothing half-done.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rel_db import ScratchDatabases
from rel_invariants import check_program
from rel_load import Load, Result, Traffic
from rel_proxy import TcpProxy
from rel_server import deploy, start_server
from sqlalchemy.engine import make_url

from rxguard.store import transaction
from rxguard.store.db import CONNECT_TIMEOUT_SECONDS

pytestmark = pytest.mark.reliability
MIX = {"cds": 2, "assess": 1, "read": 1, "write": 1}


@dataclass(frozen=True)
class Mode:
    rate: float  # requests per second
    outage: float  # seconds the database stays away
    bound: float  # longest acceptable answer while it is away (seconds)


MODES = {
    # Refused connections fail at once: everything is answered in well under a second.
    "stopped": Mode(rate=25, outage=3.0, bound=2.0),
    # Each new connection waits for the connect timeout; queued requests may wait for two of them.
    "unreachable": Mode(rate=6, outage=6.0, bound=2 * CONNECT_TIMEOUT_SECONDS + 3),
}
WARM, AFTER = 2.0, 4.0


def _timeline(proxy: TcpProxy, mode: str, outage: float) -> tuple[float, float]:
    time.sleep(WARM)
    cut = time.monotonic()
    proxy.stop() if mode == "stopped" else proxy.unreachable()
    time.sleep(outage)
    restored = time.monotonic()
    proxy.restore()
    time.sleep(AFTER)
    return cut, restored


def _ok(result: Result) -> bool:
    return result.status is not None and 200 <= result.status < 300


def _ends(result: Result) -> float:
    return result.started + result.seconds


@pytest.mark.parametrize("mode", sorted(MODES))
def test_an_outage_is_answered_503_in_bounded_time_and_service_resumes_by_itself(
    mode: str, scratch: ScratchDatabases, tmp_path: Path, figures: Any
) -> None:
    spec = MODES[mode]
    database = scratch.create("postgresql")
    deployment = deploy(database, tmp_path, patients=80)
    target = make_url(database.url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = start_server(deployment.env(proxied), tmp_path / "server.log")
    load = Load(Traffic(deployment, lambda: server.base), MIX, spec.rate)
    runner = threading.Thread(target=load.run, args=(WARM + spec.outage + AFTER + 5,))
    try:
        load.warm_up()
        runner.start()
        cut, restored = _timeline(proxy, mode, spec.outage)
        load.stop()
        runner.join(timeout=120)
        alive = server.process.poll() is None
    finally:
        server.stop()
        proxy.close()
    results = load.results
    before = [r for r in results if _ends(r) < cut]
    during = [r for r in results if r.started >= cut and r.started < restored]
    after = [r for r in results if r.started >= restored]
    assert alive, "the server died during the outage"
    assert before and all(_ok(r) for r in before), [r for r in before if not _ok(r)][:3]
    caught = [r for r in results if r.started < cut <= _ends(r)]  # in flight when the database went
    assert all(_ok(r) or (r.status == 503 and r.problem) for r in caught), caught[:3]

    refused = [r for r in during if r.status == 503 and r.problem]
    wrong = [r for r in during if not _ok(r) and r not in refused]
    slow = [r for r in during if r.seconds > spec.bound]
    assert refused and not wrong, f"{len(wrong)} bad answers during the outage, e.g. {wrong[:3]}"
    assert not slow, f"{len(slow)} answers slower than {spec.bound} s, e.g. {slow[:3]}"

    last_failure = max((_ends(r) for r in after if not _ok(r)), default=restored)
    settled = [r for r in after if r.started > last_failure]
    kinds_back = {r.kind for r in settled if _ok(r)}
    assert kinds_back == set(MIX), f"after the restore only {kinds_back} came back"
    assert all(_ok(r) for r in settled)
    with transaction(database.factory) as s:
        problems = check_program(s)
    assert not problems, "\n".join(problems)

    cds = [r.seconds for r in during if r.kind == "cds"]
    back = max(min(_ends(r) for r in settled if r.kind == kind and _ok(r)) for kind in MIX)
    figures.record(
        f"outage.{mode}", requests=len(results), during_outage=len(during), answered_503=len(refused),
        seconds_to_first_503=round(min(_ends(r) for r in refused) - cut, 3),
        slowest_answer_during_outage_s=round(max(r.seconds for r in during), 3),
        slowest_cds_during_outage_s=round(max(cds, default=0.0), 3),
        seconds_to_recovery=round(back - restored, 3),
        failures_after_restore=sum(1 for r in after if not _ok(r)), server_restarted=False,
    )  # fmt: skip
