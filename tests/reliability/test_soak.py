"""Soak: five minutes of mixed load at 200 requests/s; no errors, steady memory (``make reliability`` only).

``rxguard serve`` with two workers on PostgreSQL (the production path)
receives an open-loop load — requests are started on schedule whatever the
answers' speed — of CDS Hooks order-sign calls (half), assessments, patient
reads and program writes (dose authorizations, and the first dose's infusion).
Resident memory of the server processes is sampled every ten seconds.

It passes when every request was answered 2xx, the server kept up with the
offered rate (at least 95 % of it answered within the run), and resident
memory grew less than 64 MiB between the end of the first minute (caches
warm) and the end. The figures — requests, achieved rate, latency
percentiles, memory at each sample and its growth — go to the report either
way. ``RXGUARD_SOAK_RATE`` / ``RXGUARD_SOAK_SECONDS`` change the load for a
machine of another size; the defaults are the issue's.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rel_db import ScratchDatabases
from rel_load import Load, Traffic, percentile
from rel_server import deploy, start_server

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
RATE = float(os.environ.get("RXGUARD_SOAK_RATE", "200"))
SECONDS = float(os.environ.get("RXGUARD_SOAK_SECONDS", "300"))
MIX = {"cds": 10, "assess": 6, "write": 2, "read": 2}
SAMPLE_EVERY = 10.0
GROWTH_LIMIT_KIB = 64 * 1024


def _sample(server: Any, until: threading.Event, samples: list[tuple[float, int]], start: float) -> None:
    while not until.wait(SAMPLE_EVERY):
        samples.append((time.monotonic() - start, server.rss_kib()))


def test_five_minutes_at_200_requests_per_second(scratch: ScratchDatabases, tmp_path: Path, figures: Any) -> None:
    deployment = deploy(scratch.create("postgresql"), tmp_path, patients=400)
    server = start_server(deployment.env(), tmp_path / "server.log", workers=2)
    load = Load(Traffic(deployment, lambda: server.base), MIX, RATE, concurrency=256)
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    try:
        load.warm_up()
        start = time.monotonic()
        samples.append((0.0, server.rss_kib()))
        sampler = threading.Thread(target=_sample, args=(server, done, samples, start), daemon=True)
        sampler.start()
        results = load.run(SECONDS)
        elapsed = time.monotonic() - start
        done.set()
        sampler.join(timeout=30)
        samples.append((elapsed, server.rss_kib()))
    finally:
        done.set()
        server.stop()
    errors = [r for r in results if r.status is None or not 200 <= r.status < 300]
    answered = [r for r in results if r.status is not None]
    warm = next((kib for at, kib in samples if at >= 60), samples[0][1])
    growth = samples[-1][1] - warm
    latencies = [r.seconds for r in results]
    figures.record(
        "soak", offered_rate=RATE, seconds=SECONDS, requests=len(results), errors=len(errors),
        achieved_rate=round(len(answered) / elapsed, 1), p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1), max_ms=round(max(latencies) * 1000, 1),
        rss_after_first_minute_mib=round(warm / 1024, 1), rss_at_end_mib=round(samples[-1][1] / 1024, 1),
        rss_growth_mib=round(growth / 1024, 1), rss_samples_mib=[round(kib / 1024, 1) for _, kib in samples],
        error_examples=[f"{r.kind}: {r.status} {r.error[:120]}" for r in errors[:3]],
    )  # fmt: skip
    assert not errors, f"{len(errors)} of {len(results)} requests failed, e.g. {errors[:3]}"
    assert len(answered) >= 0.95 * RATE * SECONDS, f"answered {len(answered)} of {RATE * SECONDS:.0f} offered"
    assert growth < GROWTH_LIMIT_KIB, f"resident memory grew {growth / 1024:.1f} MiB after the first minute"
