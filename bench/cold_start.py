"""Cold start: from spawning ``rxguard serve`` to its first correct CDS Hooks ``order-sign`` answer.

The database is migrated beforehand (a deployment's state, not part of a
start). The clock starts when the process is spawned; the client retries the
same signed ``order-sign`` request on 127.0.0.1 every 5 ms until a 200 comes
back, and that answer must carry the same cards (summary, indicator) as a
warm server's. Also recorded: when the port first accepted a connection, so
the report shows whether imports and start-up or the first request dominate.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from bench.cds_hooks import PATH, _free_port, _raw_request, _read_response, build_request
from rxguard.cds_hooks.testing import SigningEhr


def _cards(answer: bytes) -> list[tuple[str, str]]:
    return sorted((c.get("summary", ""), c.get("indicator", "")) for c in orjson.loads(answer).get("cards", []))


async def _try(port: int, raw: bytes) -> tuple[int, bytes] | None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    try:
        writer.write(raw)
        return await _read_response(reader)
    except (OSError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05):
            return True
    except OSError:
        return False


def one_start(
    env: dict[str, str], port: int, make_raw: Callable[[], bytes], timeout: float = 60.0
) -> tuple[float, float, bytes, bytes]:
    """(seconds to first 200, seconds to an open port, that answer, a warm answer) for one fresh server process."""
    raw = make_raw()
    cli = "from rxguard.cli import main; main()"
    args = [sys.executable, "-c", cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listening = None
    try:
        while time.perf_counter() - started < timeout:
            if listening is None and _port_open(port):
                listening = time.perf_counter() - started
            if listening is not None:
                answer = asyncio.run(_try(port, raw))
                if answer is not None and answer[0] == 200:
                    first = time.perf_counter() - started
                    warm = asyncio.run(_try(port, make_raw()))
                    return first, listening, answer[1], warm[1] if warm and warm[0] == 200 else b"{}"
            if process.poll() is not None:
                raise SystemExit(f"cold start: the server exited with {process.returncode}")
            time.sleep(0.005)
        raise SystemExit(f"cold start: no answer within {timeout:.0f} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run(quick: bool = False) -> dict[str, Any]:
    body, size = build_request(date.today())
    raw_body = orjson.dumps(body)
    ehr = SigningEhr(iss="https://bench-ehr.test", algorithm="ES384")
    folder = Path(tempfile.mkdtemp(prefix="rxguard-cold-"))
    issuers = folder / "issuers.json"
    issuers.write_bytes(orjson.dumps([ehr.issuer_entry(jurisdiction="US")]))
    port = _free_port()
    env = {
        **os.environ,
        "RXGUARD_DATABASE_URL": f"sqlite:///{folder / 'cold.db'}",
        "RXGUARD_CDS_ISSUERS_FILE": str(issuers),
        "RXGUARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    subprocess.run([sys.executable, "-c", "from rxguard.cli import main; main()", "db", "upgrade"], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}{PATH}"
    starts: list[float] = []
    listens: list[float] = []
    cards: list[tuple[str, str]] = []
    for _ in range(3 if quick else 7):
        first, listening, answer, warm = one_start(env, port, lambda: _raw_request(port, raw_body, ehr.token(url)))
        cards, reference = _cards(answer), _cards(warm)
        if cards != reference or not cards:
            raise SystemExit(f"cold start: the first answer's cards {cards} differ from a warm answer's {reference}")
        starts.append(first)
        listens.append(listening)
    return {
        "request_bytes": size,
        "starts": len(starts),
        "first_correct_order_sign_s_median": round(statistics.median(starts), 3),
        "first_correct_order_sign_s_max": round(max(starts), 3),
        "port_open_s_median": round(statistics.median(listens), 3),
        "first_request_after_port_s_median": round(
            statistics.median(s - p for s, p in zip(starts, listens, strict=True)), 3
        ),
        "cards": len(cards),
    }


if __name__ == "__main__":
    for key, value in run(quick="--quick" in sys.argv).items():
        print(f"{key}: {value}")
