"""CLI start: ``rxguard check`` and ``rxguard ask`` as whole processes, against ``python -c "import json"``.

Each command is spawned from the same interpreter as the baseline; the three are
run in interleaved rounds (baseline, check, ask, baseline, ...) and each figure is
the median wall time over the rounds, so a neighbour's burst on a shared machine
slows all three alike. The ratio to the baseline is the figure the target is
judged on (issue 17: at most 4x). The check is the README's example bundle; the
question is the README's first ``ask`` example. Both answers are checked (exit
status 0 and a non-empty answer) so a failing command cannot look fast.

Every process runs as from an installation: with compiled bytecode (kept under
``bench/.cache/pycache``, so the source tree is not written, even where the
environment sets ``PYTHONDONTWRITEBYTECODE``) and with the pack cache the warm-up
round fills. ``check_no_pack_cache`` is the same check with the pack cache turned
off (``RXGUARD_PACK_CACHE=off``: every pack's YAML read and validated), which is
also what the first ``check`` after a pack changes costs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "examples" / "natalizumab-ms-patient.json"
QUESTION = "Does she still need to stay for an hour after her 20th Tysabri infusion?"
TARGET_RATIO = 4.0
RXGUARD = str(Path(sys.executable).with_name("rxguard"))  # the console script a user runs

COMMANDS: dict[str, list[str]] = {
    "python_import_json": [sys.executable, "-c", "import json"],
    "check": [
        RXGUARD, "check", "--drug", "Tysabri", "--bundle", str(BUNDLE),
        "--at", "2026-01-05", "--jurisdiction", "US",
    ],
    "ask": [RXGUARD, "ask", QUESTION],
}  # fmt: skip
NO_PACK_CACHE = "check_no_pack_cache"
PYCACHE = ROOT / "bench" / ".cache" / "pycache"


def _once(argv: list[str], *, pack_cache: bool = True) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if not pack_cache:
        env["RXGUARD_PACK_CACHE"] = "off"
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, check=False)
    took = time.perf_counter() - start
    answered = argv[0] != sys.executable  # the baseline prints nothing; rxguard must answer
    if done.returncode not in (0, 1) or (answered and not done.stdout.strip()):  # 1: a hold or worse
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return took


def run(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    rounds = rounds or (5 if quick else 15)
    for argv in COMMANDS.values():  # warm the file cache, the compiled bytecode and the pack cache
        _once(argv)
    times: dict[str, list[float]] = {name: [] for name in (*COMMANDS, NO_PACK_CACHE)}
    for _ in range(rounds):
        for name, argv in COMMANDS.items():
            times[name].append(_once(argv))
        times[NO_PACK_CACHE].append(_once(COMMANDS["check"], pack_cache=False))
    base = statistics.median(times["python_import_json"])
    figures: dict[str, Any] = {"rounds": rounds, "python_import_json_s": round(base, 3)}
    for name in ("check", "ask", NO_PACK_CACHE):
        median = statistics.median(times[name])
        figures[f"{name}_s"] = round(median, 3)
        figures[f"{name}_vs_python"] = round(median / base, 1)
        figures[f"{name}_met_target"] = median / base <= TARGET_RATIO
    figures["target_vs_python"] = TARGET_RATIO
    figures["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return figures
