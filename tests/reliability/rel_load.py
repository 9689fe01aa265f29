"""Open-loop HTTP load against a running server: CDS Hooks, assessments, reads and program writes.

Requests are started at a fixed rate whatever the server's speed (an open
loop, as independent clinicians would send them) and every answer is
recorded with its kind, start time, latency, status and whether an error was
a proper problem+json. The load stops by itself after its duration; a request
may take at most ``timeout`` seconds, and at most ``concurrency`` are in
flight (a request that waited longer than ``timeout`` for a free slot is
recorded as not sent).

The client is one asyncio loop speaking HTTP/1.1 over keep-alive connections
with request bodies encoded by orjson: the load generator shares the
machine's cores with the server it measures, so it must cost far less than
the requests it sends (a thread per request with a general-purpose HTTP
client cost about 2 ms of CPU a request, a fifth of the server's own work).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

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


@dataclass(frozen=True)
class Response:
    """An HTTP answer, with the parts of an httpx response the checks use."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class Http:
    """HTTP/1.1 keep-alive connections per server, reused while the server keeps them open."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def get(self, url: str, *, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", url, b"", headers or {})

    async def post(self, url: str, *, json: Any, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Response:  # fmt: skip
        if params:
            url += "?" + urlencode(params)
        body = json if isinstance(json, bytes) else orjson.dumps(json)
        return await self.request("POST", url, body, {"content-type": "application/json", **(headers or {})})

    async def request(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        parts = urlsplit(url)
        server = (parts.hostname or "127.0.0.1", parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"host: {server[0]}:{server[1]}", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        reader, writer = await self._connection(server)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            response, keep = await _read_response(reader)
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.setdefault(server, []).append((reader, writer))
        else:
            writer.close()
        return response

    async def _connection(self, server: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = self._idle.get(server, [])
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():  # the server may have closed an idle one
                return reader, writer
            writer.close()
        return await asyncio.open_connection(*server)

    def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        await reader.readline()
        content = b"".join(chunks)
    else:
        content = await reader.read()
        headers["connection"] = "close"
    return Response(status, headers, content), headers.get("connection", "").lower() != "close"


def _patient_id(bundle: Mapping[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"].get("resourceType") == "Patient")


@dataclass
class Traffic:
    """What the load sends; ``base`` is read on every request so a restarted server is picked up."""

    deployment: Deployment
    base: Callable[[], str]
    bundle: dict[str, Any] = field(default_factory=lambda: orjson.loads(EXAMPLE.read_bytes()))
    _patients: itertools.cycle[str] = field(init=False)
    _infused: set[str] = field(default_factory=set)
    _prefetch: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._patients = itertools.cycle(self.deployment.patients)
        self._assess_body = orjson.dumps({"bundle": self.bundle, "answers": NO})

    def next_patient(self) -> str:
        return next(self._patients)

    def prefetch_for(self, patient: str) -> dict[str, Any]:
        """The example's record as an EHR would prefetch it for ``patient``: its Patient has the id sent
        as context.patientId, since the service refuses a prefetch that holds no Patient of that id."""
        if patient not in self._prefetch:
            example = _patient_id(self.bundle)
            text = orjson.dumps(self.bundle).decode()
            for old, new in ((f"Patient/{example}", f"Patient/{patient}"), (f"urn:uuid:{example}", f"urn:uuid:{patient}"),
                             (example, patient)):  # fmt: skip
                text = text.replace(f'"{old}"', f'"{new}"')
            self._prefetch[patient] = prefetch_from_bundle(orjson.loads(text))
        return self._prefetch[patient]

    async def cds(self, http: Http) -> Response:
        patient = self.next_patient()
        body = cds_request("order-sign", patient, self.prefetch_for(patient),
                           draft_orders=draft_medication_request(patient, text="Tysabri 300 mg IV every 4 weeks"))  # fmt: skip
        url = f"{self.base()}/cds-services/rxguard-order-sign"
        return await http.post(url, json=body, headers={"authorization": f"Bearer {self.deployment.ehr.token(url)}"})

    async def assess(self, http: Http) -> Response:
        return await http.post(f"{self.base()}/api/v1/assess", params={"drug": "tysabri", "jurisdiction": "US"},
                               json=self._assess_body, headers=self.deployment.auth("audrey"))  # fmt: skip

    async def read(self, http: Http) -> Response:
        return await http.get(
            f"{self.base()}/api/v1/patients/{self.next_patient()}", headers=self.deployment.auth("ada")
        )

    async def write(self, http: Http) -> Response:
        """A dose authorization; the first AUTHORIZED one of a patient is followed by its infusion."""
        patient = self.next_patient()
        auth = self.deployment.auth("nurse_n")
        response = await http.post(f"{self.base()}/api/v1/authorizations", json={"patient": patient, "answers": NO},
                                   headers=auth)  # fmt: skip
        if response.status_code != 201 or response.json()["decision"] != "authorized" or patient in self._infused:
            return response
        self._infused.add(patient)
        decision = response.json()
        body = infusion_body(datetime.fromisoformat(decision["visit_at"]), f"load-{decision['id']}")
        return await http.post(f"{self.base()}/api/v1/authorizations/{decision['id']}/infusions", json=body,
                               headers=auth)  # fmt: skip


class Load:
    """Send ``mix`` (kind -> weight) at ``rate`` requests per second for ``seconds``."""

    def __init__(self, traffic: Traffic, mix: dict[str, int], rate: float, *, concurrency: int = 32,
                 timeout: float = 40.0) -> None:  # fmt: skip
        self.traffic = traffic
        self.kinds = [kind for kind, weight in mix.items() for _ in range(weight)]
        self.rate = rate
        self.concurrency = concurrency
        self.timeout = timeout
        self.results: list[Result] = []
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop starting requests (from any thread); those in flight are still awaited."""
        self._stop.set()

    def warm_up(self) -> None:
        """One request of each kind, in turn: the first calls pay for connections and caches."""
        asyncio.run(self._warm_up())

    async def _warm_up(self) -> None:
        http = Http()
        try:
            for kind in dict.fromkeys(self.kinds):
                response = await self._send(kind, http)
                assert response.status_code < 300, f"warm-up {kind}: {response.status_code} {response.text[:300]}"
        finally:
            http.close()

    def run(self, seconds: float) -> list[Result]:
        """Blocks for ``seconds`` (or until :meth:`stop`), then waits for the requests in flight."""
        asyncio.run(self._run(seconds))
        return self.results

    async def _run(self, seconds: float) -> None:
        http = Http()
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        interval = 1.0 / self.rate
        start = time.monotonic()
        try:
            for n in itertools.count():
                due = start + n * interval
                if due - start >= seconds or self._stop.is_set():
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                task = asyncio.create_task(self._one(self.kinds[n % len(self.kinds)], due, http, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks)
        finally:
            http.close()

    def _send(self, kind: str, http: Http) -> Awaitable[Response]:
        method: Callable[[Http], Awaitable[Response]] = getattr(self.traffic, kind)
        return method(http)

    async def _one(self, kind: str, due: float, http: Http, slots: asyncio.Semaphore) -> None:
        async with slots:
            started = time.monotonic()
            if started - due > self.timeout:  # the server fell so far behind that no slot was free in time
                self.results.append(Result(kind, due, started - due, None, False, "not sent: the load fell behind"))
                return
            try:
                response = await asyncio.wait_for(self._send(kind, http), self.timeout)
                result = Result(kind, started, time.monotonic() - started, response.status_code,
                                response.status_code >= 400 and is_problem(response),
                                "" if response.status_code < 400 else response.text[:200])  # fmt: skip
            except Exception as exc:  # recorded: the test decides what is acceptable
                result = Result(kind, started, time.monotonic() - started, None, False, f"{type(exc).__name__}: {exc}")
            self.results.append(result)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
