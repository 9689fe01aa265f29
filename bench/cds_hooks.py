"""CDS Hooks ``order-sign`` over loopback with JWT verification on, beside a same-size floor.

What an EHR experiences: a real ``rxguard serve`` (uvicorn, one worker) on
127.0.0.1 with a migrated SQLite database, the issuer allowlist and ES384
JWTs, each request a fresh token (so the ``jti`` replay cache writes every
time), a realistic prefetch (a natalizumab patient with history, 5–20 KB)
and a draft TYSABRI order. The floor is a minimal ASGI app under the same
uvicorn that reads the same request and answers a body of the same size, so
the ratio shows what rxguard's own work costs.

The client is raw asyncio HTTP/1.1 keep-alive connections (a heavy client
library would eat the CPU the server needs); a one-worker server runs on the
core the client does not use, a two-worker server (``workers2_*`` figures)
on every core. The floor runs under one worker like the default server. Request counts are bounded; nothing leaves
127.0.0.1. ``run(quick)`` returns the figures for ``bench/run.py``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import quantiles
from typing import Any

import orjson

from rxguard.cds_hooks.testing import SigningEhr, cds_request, draft_medication_request, prefetch_from_bundle
from rxguard.facts.builder import build_bundle

CONCURRENCY = (1, 8, 32)
PATH = "/cds-services/rxguard-order-sign"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "synthea-r4"

PATIENT: dict[str, Any] = {
    "age": 38,
    "sex": "female",
    "conditions": [{"text": "Relapsing remitting multiple sclerosis", "code": "sct|24700007", "onset": "2018-06-01"}],
    "infusions": {"count": 26, "last": "2026-02-05", "every": "P4W"},
    "medications": [
        {"text": "Azathioprine 50 MG Oral Tablet", "status": "completed", "start": "2016-01-01", "end": "2017-12-31"}
    ],
    "labs": [
        {"test": "anti-jcv-antibody", "result": "positive", "on": "2026-01-10"},
        {"test": "anti-jcv-index", "value": 2.1, "on": "2026-01-10"},
        {"test": "alt", "value": 35, "unit": "U/L", "on": "2026-01-10"},
        {"test": "brain-mri", "on": "2025-06-01"},
    ],
}

FLOOR_APP = """
import sys
BODY = open(sys.argv[1], "rb").read()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""


def _synthea_labs(limit: int) -> list[dict[str, Any]]:
    """Real-shaped laboratory Observations from one Synthea bundle, to give the prefetch its bulk."""
    files = sorted(SHARED.glob("*.json"))
    if not files:
        return []
    bundle = orjson.loads(files[0].read_bytes())
    labs = [
        e["resource"] for e in bundle.get("entry", ())
        if e.get("resource", {}).get("resourceType") == "Observation"
        and any(c.get("coding", [{}])[0].get("code") == "laboratory" for c in e["resource"].get("category", []))
    ]  # fmt: skip
    return labs[:limit]


def build_request(at: Any) -> tuple[dict[str, Any], int]:
    prefetch = prefetch_from_bundle(build_bundle(PATIENT, at=at, drug="natalizumab"))
    pid = prefetch["patient"]["id"]
    for lab in _synthea_labs(12):
        lab = dict(lab, subject={"reference": f"Patient/{pid}"})
        prefetch["labs"]["entry"].append({"resource": lab})
    orders = draft_medication_request(pid, text="TYSABRI 300 mg in 100 mL 0.9% sodium chloride IV over 1 hour",
                                      dose_mg=300)  # fmt: skip
    body = cds_request("order-sign", pid, prefetch, draft_orders=orders)
    return body, len(orjson.dumps(body))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_cores() -> set[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    every = set(range(os.cpu_count() or 1))
    mine = os.sched_getaffinity(0)
    rest = every - mine
    return rest or every


def _start(args: Sequence[str], env: dict[str, str], port: int, *, all_cores: bool = False) -> subprocess.Popen[bytes]:
    cores = set(range(os.cpu_count() or 1)) if all_cores and hasattr(os, "sched_getaffinity") else _server_cores()

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    process = subprocess.Popen(
        list(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: {' '.join(args)}") from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start in 30 s")


def _raw_request(port: int, body: bytes, token: str | None) -> bytes:
    head = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}"]  # fmt: skip
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _load(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], float, int]:
    """Send every request over ``concurrency`` keep-alive connections; latencies (s), elapsed (s), errors."""
    queue = iter(requests)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for raw in queue:
            started = time.perf_counter()
            writer.write(raw)
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


def _figures(latencies: list[float], elapsed: float) -> tuple[float, float, float]:
    cuts = quantiles(latencies, n=100, method="inclusive")
    return round(cuts[49] * 1000, 2), round(cuts[98] * 1000, 2), round(len(latencies) / elapsed, 1)


def _serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    cli = "from rxguard.cli import main; main()"
    args = [sys.executable, "-c", cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return _start(args, env, port, all_cores=workers > 1)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def _floor(folder: Path, body: bytes, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    (folder / "floor_body.json").write_bytes(body)
    (folder / "floor.py").write_text(FLOOR_APP)
    code = (
        f"import sys, runpy; sys.argv=['floor', {str(folder / 'floor_body.json')!r}]; "
        f"m = runpy.run_path({str(folder / 'floor.py')!r}); import uvicorn; "
        f"uvicorn.run(m['app'], host='127.0.0.1', port={port}, log_config=None, access_log=False)"
    )
    return _start([sys.executable, "-c", code], env, port)


def _level(port: int, requests: list[bytes], warmup: int, concurrency: int) -> tuple[float, float, float, int]:
    asyncio.run(_load(port, requests[:warmup], concurrency))
    latencies, elapsed, errors = asyncio.run(_load(port, requests[warmup:], concurrency))
    return (*_figures(latencies, elapsed), errors)


def run(quick: bool = False) -> dict[str, Any]:
    """order-sign with one worker (the default ``rxguard serve``) and two, beside the floor."""
    from datetime import date

    per_level = 300 if quick else 2000
    warmup = 50 if quick else 200
    body, size = build_request(date.today())
    raw_body = orjson.dumps(body)
    ehr = SigningEhr(iss="https://bench-ehr.test", algorithm="ES384")
    folder = Path(tempfile.mkdtemp(prefix="rxguard-bench-"))
    issuers = folder / "issuers.json"
    issuers.write_bytes(orjson.dumps([ehr.issuer_entry(jurisdiction="US")]))
    env = {**os.environ, "RXGUARD_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "RXGUARD_LOG_LEVEL": "INFO"}
    subprocess.run([sys.executable, "-c", "from rxguard.cli import main; main()", "db", "upgrade"], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    port, floor_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    env.update({"RXGUARD_CDS_ISSUERS_FILE": str(issuers), "RXGUARD_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    figures: dict[str, Any] = {
        "request_bytes": size,
        "jwt": "ES384, fresh jti per call, replay cache in SQLite",
        "requests_per_level": per_level,
    }
    floor = None
    try:
        for workers in (1, 2):
            server = _serve(env, port, workers)
            try:
                status, answer = asyncio.run(_one(port, _raw_request(port, raw_body, ehr.token(url))))
                assert status == 200, answer[:300]
                if floor is None:
                    figures.update({"response_bytes": len(answer), "cards": len(orjson.loads(answer)["cards"])})
                    floor = _floor(folder, answer, env, floor_port)
                prefix = "" if workers == 1 else "workers2_"
                for concurrency in CONCURRENCY:
                    tokens = [ehr.token(url) for _ in range(per_level + warmup)]
                    p50, p99, rps, errors = _level(port, [_raw_request(port, raw_body, t) for t in tokens], warmup,
                                                   concurrency)  # fmt: skip
                    figures.update({f"{prefix}c{concurrency}_p50_ms": p50, f"{prefix}c{concurrency}_p99_ms": p99,
                                    f"{prefix}c{concurrency}_rps": rps, f"{prefix}c{concurrency}_errors": errors})  # fmt: skip
                    if workers == 1:
                        floor_requests = [_raw_request(floor_port, raw_body, t) for t in tokens]
                        fp50, fp99, frps, _ = _level(floor_port, floor_requests, warmup, concurrency)
                        figures.update({
                            f"c{concurrency}_floor_p50_ms": fp50, f"c{concurrency}_floor_p99_ms": fp99,
                            f"c{concurrency}_floor_rps": frps,
                            f"c{concurrency}_p50_vs_floor": round(p50 / fp50, 1) if fp50 else None,
                            f"c{concurrency}_rps_vs_floor": round(rps / frps, 2) if frps else None,
                        })  # fmt: skip
            finally:
                _stop(server)
    finally:
        _stop(floor)
    figures["targets"] = "p50 <= 5 ms, p99 <= 25 ms, >= 500 requests/s (2 cores)"
    return figures


async def _one(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    result = await _read_response(reader)
    writer.close()
    return result


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    for key, value in run(quick).items():
        print(f"{key}: {value}")
