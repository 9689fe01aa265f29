"""Open-loop HTTP load against a running server: CDS Hooks, assessments, reads and program writes.

Requests are started at a fixed rate whatever the server's speed (an open
loop, as independent clinicians would send them), each on a pool thread with
its own HTTP client, and every answer is recorded with its kind, start time,
latency, status and whether an error was a proper problem+json. The load stops
by itself after its duration; a request may take at most ``timeout`` seconds.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from rel_server import Deployment, is_problem
from rel_world import NO, infusion_body

from rxguard.cds_hooks.testing import cds_request, draft_medication_request, prefetch_from_bundle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "natalizumab-ms-patient.json"


@dataclass(frozen=True)
class Result:
    kind: str
    started: float  # time.monotonic() when sent
    seconds: float
    status: int | None  # None: no HTTP answer (connection error or client timeout)
    problem: bool  # a 4xx/5xx answered as rxguard problem+json
    error: str = ""


@dataclass
class Traffic:
    """What the load sends; ``base`` is read on every request so a restarted server is picked up."""

    deployment: Deployment
    base: Callable[[], str]
    bundle: dict[str, Any] = field(default_factory=lambda: orjson.loads(EXAMPLE.read_bytes()))
    _patients: itertools.cycle[str] = field(init=False)
    _infused: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._patients = itertools.cycle(self.deployment.patients)
        self.prefetch = prefetch_from_bundle(self.bundle)

    def next_patient(self) -> str:
        with self._lock:
            return next(self._patients)

    def cds(self, client: httpx.Client) -> httpx.Response:
        patient = self.next_patient()
        body = cds_request("order-sign", patient, self.prefetch,
                           draft_orders=draft_medication_request(patient, text="Tysabri 300 mg IV every 4 weeks"))  # fmt: skip
        url = f"{self.base()}/cds-services/rxguard-order-sign"
        return client.post(url, json=body, headers={"Authorization": f"Bearer {self.deployment.ehr.token(url)}"})

    def assess(self, client: httpx.Client) -> httpx.Response:
        return client.post(f"{self.base()}/api/v1/assess", params={"drug": "tysabri", "jurisdiction": "US"},
                           json={"bundle": self.bundle, "answers": NO}, headers=self.deployment.auth("audrey"))  # fmt: skip

    def read(self, client: httpx.Client) -> httpx.Response:
        return client.get(f"{self.base()}/api/v1/patients/{self.next_patient()}", headers=self.deployment.auth("ada"))

    def write(self, client: httpx.Client) -> httpx.Response:
        """A dose authorization; the first AUTHORIZED one of a patient is followed by its infusion."""
        patient = self.next_patient()
        auth = self.deployment.auth("nurse_n")
        response = client.post(f"{self.base()}/api/v1/authorizations", json={"patient": patient, "answers": NO},
                               headers=auth)  # fmt: skip
        if response.status_code != 201 or response.json()["decision"] != "authorized":
            return response
        with self._lock:
            if patient in self._infused:
                return response
            self._infused.add(patient)
        decision = response.json()
        body = infusion_body(datetime.fromisoformat(decision["visit_at"]), f"load-{decision['id']}")
        return client.post(f"{self.base()}/api/v1/authorizations/{decision['id']}/infusions", json=body, headers=auth)


class Load:
    """Send ``mix`` (kind -> weight) at ``rate`` requests per second for ``seconds``."""

    def __init__(self, traffic: Traffic, mix: dict[str, int], rate: float, *, threads: int = 32,
                 timeout: float = 40.0) -> None:  # fmt: skip
        self.traffic = traffic
        self.kinds = [kind for kind, weight in mix.items() for _ in range(weight)]
        self.rate = rate
        self.threads = threads
        self.timeout = timeout
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def warm_up(self) -> None:
        """One request of each kind, in turn: the first calls pay for connections and caches."""
        with httpx.Client(timeout=httpx.Timeout(self.timeout)) as client:
            for kind in dict.fromkeys(self.kinds):
                response = getattr(self.traffic, kind)(client)
                assert response.status_code < 300, f"warm-up {kind}: {response.status_code} {response.text[:300]}"

    def run(self, seconds: float) -> list[Result]:
        """Blocks for ``seconds`` (or until :meth:`stop`), then waits for the requests in flight."""
        interval = 1.0 / self.rate
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for n in itertools.count():
                due = start + n * interval
                if due - start >= seconds or self._stop.is_set():
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self._one, self.kinds[n % len(self.kinds)], due)
        for client in self._clients:
            client.close()
        return self.results

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(self.timeout))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _one(self, kind: str, due: float) -> None:
        started = time.monotonic()
        if started - due > self.timeout:  # the server fell so far behind that no thread was free in time
            with self._lock:
                self.results.append(Result(kind, due, started - due, None, False, "not sent: the load fell behind"))
            return
        try:
            response = getattr(self.traffic, kind)(self._client())
            result = Result(kind, started, time.monotonic() - started, response.status_code,
                            response.status_code >= 400 and is_problem(response),
                            "" if response.status_code < 400 else response.text[:200])  # fmt: skip
        except Exception as exc:  # recorded: the test decides what is acceptable
            result = Result(kind, started, time.monotonic() - started, None, False, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.results.append(result)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
