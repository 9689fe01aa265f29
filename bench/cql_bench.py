"""rxguard against cql-execution on the same rules and the same patients.

The rule subset (``bench/cql/RxguardSubset.cql``) is compiled to ELM at bench
time with the JavaScript CQL-to-ELM translator and run with cql-execution +
cql-exec-fhir, all installed from npm into ``bench/.cache/node`` (never
committed). Two steps, in this order:

1. **Differential gate.** Every patient (seeded Synthea scenarios at full and
   prefetch size, plus hand-made edge cases) × every outcome: rxguard and
   cql-execution must agree, or the run stops and prints each disagreement.
   Speed figures for engines that disagree would mean nothing.
2. **Timing**, each ratio from this run, both engines pinned to the same core
   and both starting from parsed JSON: rxguard in-process (read facts + assess
   the ordered drug's whole pack); cql-execution engine-optimal (ELM parsed
   once, executor and PatientSource reused), naive (a new PatientSource per
   patient, as CQL services commonly embed it) and batch (all patients in one
   exec call).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.cql_scenarios import edge_cases, scenario_bundles
from bench.scenarios import AT, to_prefetch_size
from rxguard.engine import Assessment, assess, read_facts
from rxguard.facts.model import MedicationUse, PatientFacts
from rxguard.facts.vocabulary import normalize_text
from rxguard.knowledge import get_pack
from rxguard.knowledge.loader import Pack

HERE = Path(__file__).resolve().parent
CQL_DIR = HERE / "cql"
LIBRARY = CQL_DIR / "RxguardSubset.cql"
CACHE = HERE / ".cache"
NODE_DIR = CACHE / "node"
WORK = CACHE / "cql"
# npm packages the bench installs for itself; versions as the issue asks.
PACKAGES = {"@cqframework/cql": "5.3.0", "cql-execution": "3", "cql-exec-fhir": "2"}
JURISDICTION = "EU"  # the EU calendar has the yearly MRI item for every natalizumab patient
DEFAULT_ULNS = {"alt": 40.0, "ast": 40.0}
ORDER_STATUSES = frozenset({"draft", "active", "on-hold"})
TARGET_RATIO = 10.0
Block = dict[str, Any]  # {"patients": n, "cpu_ms": total, "wall_ms": [per patient]}

# CQL outcome -> what it is compared with in rxguard's Assessment.
RULE_OUTCOMES = {
    "Outcome: Liver Enzymes 3x ULN": "natalizumab.liver-enzymes-3x-uln",
    "Outcome: Immunosuppressive Co-medication": "natalizumab.current-immunosuppressive-therapy",
    "Outcome: Other MS DMT": "natalizumab.combination-with-other-dmt",
    "Outcome: Prior Immunosuppressant": "natalizumab.prior-immunosuppressant-pml-risk-factor",
    "Outcome: Calcineurin Inhibitor": "mifamurtide.calcineurin-inhibitor",
}
DUE_OUTCOMES = {
    "Outcome: Liver Tests Due": "liver-tests",
    "Outcome: Anti-drug Antibodies Due": "anti-drug-antibodies",
    "Outcome: MRI Due": "mri",
}
OUTCOMES = [
    "Outcome: Ordered Drug",
    *RULE_OUTCOMES,
    *DUE_OUTCOMES,
    "Outcome: PML Stratum",
]
# CQL name lists that must equal the packs' value sets (normalised as rxguard matches them).
CQL_LISTS = {
    "Natalizumab Names": [("natalizumab", "natalizumab")],
    "Mifamurtide Names": [("mifamurtide", "mifamurtide")],
    "Immunosuppressant Names": [("natalizumab", "immunosuppressants")],
    "Immunocompromising Therapy Names": [("natalizumab", "immunocompromising-therapy")],
    "Antineoplastic Names": [("natalizumab", "antineoplastics")],
    "TNF Inhibitor Names": [("natalizumab", "tnf-alpha-inhibitors")],
    "MS DMT Names": [("natalizumab", "ms-dmts")],
    "Calcineurin Inhibitor Names": [("mifamurtide", "calcineurin-inhibitors")],
}


# ----------------------------------------------------------------------------- npm toolchain


NODE_MAJOR = 18
INSTALL_HINT = "install Node.js 18 or later with npm (e.g. `apt-get install nodejs npm`, or from nodejs.org) and retry"


def node() -> str:
    """The ``node`` executable, at least version 18, or a clear stop saying what to install."""
    found = shutil.which("node")
    if found is None:
        raise SystemExit(f"bench: Node.js is needed to run cql-execution and was not found on PATH; {INSTALL_HINT}")
    try:
        version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
        major = int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        raise SystemExit(f"bench: {found} --version failed; {INSTALL_HINT}") from None
    if major < NODE_MAJOR:
        raise SystemExit(f"bench: Node.js {version.strip()} is too old for cql-execution 3; {INSTALL_HINT}")
    return found


def _installed(name: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / name / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _satisfied(name: str, wanted: str) -> bool:
    found = _installed(name)
    return found is not None and (found == wanted or found.split(".")[0] == wanted)


def ensure_packages() -> dict[str, str]:
    """Install the CQL toolchain into the git-ignored cache once; later runs reuse it."""
    if not all(_satisfied(name, wanted) for name, wanted in PACKAGES.items()):
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        manifest = {"name": "rxguard-bench-cql", "private": True, "type": "module", "dependencies": PACKAGES}
        (NODE_DIR / "package.json").write_text(json.dumps(manifest, indent=2))
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                f"bench: npm is needed to install the CQL toolchain and was not found on PATH; {INSTALL_HINT}"
            )
        print("  installing CQL toolchain from npm ...", flush=True)
        try:
            subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            wanted = ", ".join(f"{name}@{version}" for name, version in PACKAGES.items())
            raise SystemExit(
                f"bench: `npm install` of {wanted} into {NODE_DIR} failed ({exc}); it needs the npm registry"
            ) from None
    return {name: _installed(name) or "?" for name in PACKAGES}


def compile_library(library: Path = LIBRARY) -> tuple[Path, dict[str, Any]]:
    """CQL -> ELM JSON at bench time; translator errors stop the run."""
    WORK.mkdir(parents=True, exist_ok=True)
    elm = WORK / "RxguardSubset.elm.json"
    done = subprocess.run(
        [node(), str(CQL_DIR / "compile.mjs"), str(NODE_DIR / "node_modules"), str(library), str(elm)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"cql bench: the CQL library does not compile:\n{done.stderr}")
    info = json.loads(done.stdout)
    info["elm_sha256"] = hashlib.sha256(elm.read_bytes()).hexdigest()[:16]
    return elm, info


def pack_names(packs: Mapping[str, Pack], sources: list[tuple[str, str]]) -> list[str]:
    """A CQL list's names as the packs hold them: names and brands, normalised, a stem's ``*`` dropped."""
    names = {
        normalize_text(n.replace("*", "")) for pack, vs in sources for n in packs[pack].valuesets[vs].match_names()
    }
    return sorted(n for n in names if n)


def library_from_packs(packs: Mapping[str, Pack]) -> Path:
    """The CQL library with its inline name lists written from the packs' value sets at bench time.

    The two engines must compare the same rules; a list kept by hand in the CQL drifts as packs
    gain brands and spellings. A list the CQL no longer defines stops the run.
    """
    text = LIBRARY.read_text()
    for define, sources in CQL_LISTS.items():
        pattern = re.compile(rf'(define "{re.escape(define)}":\s*)\{{.*?\}}', re.S)
        if not pattern.search(text):
            raise SystemExit(f"cql bench: the CQL library has no list {define!r}; add it or drop it from CQL_LISTS")
        quoted = ", ".join("'" + n.replace("'", "\\'") + "'" for n in pack_names(packs, sources))
        found = pattern.search(text)
        assert found is not None
        text = text[: found.start()] + found.group(1) + "{ " + quoted + " }" + text[found.end() :]
    WORK.mkdir(parents=True, exist_ok=True)
    generated = WORK / LIBRARY.name
    generated.write_text(text)
    return generated


# ----------------------------------------------------------------------------- rxguard side


def ordered_drug(facts: PatientFacts) -> str | None:
    """The pack to assess: the drug of an open order (natalizumab first), as an order-sign hook would."""
    for drug in ("natalizumab", "mifamurtide"):
        for med in facts.tagged("medication", drug):
            if isinstance(med, MedicationUse) and med.kind == "request" and med.status in ORDER_STATUSES:
                return drug
    return None


def screen(bundle: dict[str, Any], packs: Mapping[str, Pack]) -> tuple[str | None, Assessment | None]:
    """What is timed for rxguard: read the facts, pick the pack, assess all of its rules."""
    facts = read_facts(bundle)
    drug = ordered_drug(facts)
    if drug is None:
        return None, None
    return drug, assess(packs[drug], facts, at=AT, jurisdiction=JURISDICTION, default_ulns=DEFAULT_ULNS)


def outcomes(drug: str | None, assessment: Assessment | None) -> dict[str, Any]:
    """rxguard's answer to each CQL outcome (None where the CQL expression is null)."""
    found: dict[str, Any] = dict.fromkeys(OUTCOMES)
    found["Outcome: Ordered Drug"] = drug
    if assessment is None:
        return found
    for name, rule in RULE_OUTCOMES.items():
        if rule.split(".")[0] == drug:
            # The CQL subset states when a rule holds on facts it can read; rxguard's "could not verify"
            # (an administration whose exposure duration no source gives, an ALT with no usable range)
            # is a separate outcome the CQL does not model, so it is compared as not fired.
            finding = assessment.fired(rule)
            found[name] = finding is not None and not finding.could_not_verify
    if drug == "natalizumab":
        due = {d.item: f"{d.status} {d.due_on.isoformat()}" for d in assessment.due}
        for name, item in DUE_OUTCOMES.items():
            found[name] = due.get(item)
        found["Outcome: PML Stratum"] = assessment.stratum.id if assessment.stratum else None
    return found


def patient_id(bundle: dict[str, Any]) -> str:
    return str(next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"))


def time_rxguard(bundles: list[dict[str, Any]], seconds: float, fn: Callable[[dict[str, Any]], Any]) -> Block:
    """Whole passes until ``seconds`` have passed (at least one): CPU time and wall time per patient."""
    wall: list[float] = []
    patients = 0
    cpu0 = time.process_time()
    deadline = time.perf_counter() + seconds
    while True:
        for bundle in bundles:
            t0 = time.perf_counter()
            fn(bundle)
            wall.append((time.perf_counter() - t0) * 1000)
        patients += len(bundles)
        if time.perf_counter() >= deadline:
            return {"patients": patients, "cpu_ms": (time.process_time() - cpu0) * 1000, "wall_ms": wall}


def summarise(blocks: list[Block]) -> dict[str, float]:
    """Median over blocks of CPU ms per patient (robust to a neighbour's burst), pooled wall percentiles."""
    wall = sorted(w for b in blocks for w in b["wall_ms"])
    return {
        "cpu_ms": statistics.median(b["cpu_ms"] / b["patients"] for b in blocks),
        "p50_ms": wall[len(wall) // 2],
        "p95_ms": wall[min(len(wall) - 1, int(0.95 * len(wall)))],
    }


# ----------------------------------------------------------------------------- the gate


def disagreements(
    sets: Mapping[str, list[dict[str, Any]]],
    cql: Mapping[str, Mapping[str, Mapping[str, Any]]],
    packs: Mapping[str, Pack],
) -> tuple[int, list[dict[str, Any]]]:
    """(comparisons made, every patient × outcome where the two engines differ)."""
    compared = 0
    found = []
    for name, bundles in sets.items():
        for bundle in bundles:
            pid = patient_id(bundle)
            ours = outcomes(*screen(bundle, packs))
            theirs = cql[name].get(pid, {})
            for outcome in OUTCOMES:
                compared += 1
                if ours[outcome] != theirs.get(outcome):
                    found.append(
                        {
                            "set": name,
                            "patient": pid,
                            "outcome": outcome,
                            "rxguard": ours[outcome],
                            "cql": theirs.get(outcome),
                        }
                    )
    return compared, found


def _fail(found: list[dict[str, Any]]) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "disagreements.json").write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
    for row in found[:200]:
        print(
            f"  DISAGREE [{row['set']}] {row['patient']} {row['outcome']}: rxguard={row['rxguard']!r} cql={row['cql']!r}"
        )
    raise SystemExit(
        f"cql bench: differential gate failed: {len(found)} disagreement(s); full list in {WORK / 'disagreements.json'}"
    )


# ----------------------------------------------------------------------------- run


class CqlWorker:
    """The Node worker (``bench/cql/run.mjs``): one JSON command per line, one JSON answer per line."""

    def __init__(self, elm: Path, data: Path) -> None:
        modules = str(NODE_DIR / "node_modules")
        cmd = [node(), str(CQL_DIR / "run.mjs"), modules, str(elm), str(data)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._answer()

    def _answer(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"cql bench: the cql-execution worker stopped (exit {self.proc.wait()})")
        return orjson.loads(line)

    def ask(self, cmd: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps({"cmd": cmd, **args}).decode() + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


@contextmanager
def cql_worker(elm: Path, sets: dict[str, list[dict[str, Any]]]) -> Iterator[CqlWorker]:
    data = {
        "today": AT.isoformat(),
        "alt_uln": DEFAULT_ULNS["alt"],
        "ast_uln": DEFAULT_ULNS["ast"],
        "outcomes": OUTCOMES,
        "sets": sets,
    }
    path = WORK / "data.json"
    path.write_bytes(orjson.dumps(data))
    worker = CqlWorker(elm, path)
    try:
        yield worker
    finally:
        worker.close()


def _kb(bundles: list[dict[str, Any]]) -> float:
    return round(statistics.median(len(orjson.dumps(b)) for b in bundles) / 1024, 1)


def time_size(
    size: str, bundles: list[dict[str, Any]], worker: CqlWorker, packs: Mapping[str, Pack], quick: bool
) -> dict[str, Any]:
    """Interleaved blocks: rxguard, cql-execution optimal, cql-execution batch, ``rounds`` times; then naive."""
    rounds, block = (2, 0.5) if quick else (5, 1.5)

    def rx(b: dict[str, Any]) -> Any:
        return screen(b, packs)

    time_rxguard(bundles, 0, rx)  # warm-up passes, not counted
    worker.ask("time", set=size, mode="optimal", seconds=0)
    worker.ask("time", set=size, mode="batch", seconds=0)
    worker.ask("time", set=size, mode="naive", seconds=0, limit=3)
    blocks: dict[str, list[Block]] = {"rxguard": [], "optimal": [], "batch": []}
    for _ in range(rounds):
        blocks["rxguard"].append(time_rxguard(bundles, block, rx))
        blocks["optimal"].append(worker.ask("time", set=size, mode="optimal", seconds=block))
        blocks["batch"].append(worker.ask("time", set=size, mode="batch", seconds=0))
    naive = worker.ask("time", set=size, mode="naive", seconds=0, limit=20 if quick else None)
    read = time_rxguard(bundles, block, read_facts)
    rxs, opt, bat, nai = (summarise(v) for v in (blocks["rxguard"], blocks["optimal"], blocks["batch"], [naive]))
    ratio = opt["cpu_ms"] / rxs["cpu_ms"]
    return {
        f"{size}_bundle_median_kb": _kb(bundles),
        f"{size}_rxguard_ms_per_patient": round(rxs["cpu_ms"], 3),
        f"{size}_rxguard_wall_p50_ms": round(rxs["p50_ms"], 3),
        f"{size}_rxguard_wall_p95_ms": round(rxs["p95_ms"], 3),
        f"{size}_rxguard_read_facts_ms": round(read["cpu_ms"] / read["patients"], 3),
        f"{size}_cql_optimal_ms_per_patient": round(opt["cpu_ms"], 2),
        f"{size}_cql_optimal_wall_p50_ms": round(opt["p50_ms"], 2),
        f"{size}_cql_optimal_wall_p95_ms": round(opt["p95_ms"], 2),
        f"{size}_cql_batch_ms_per_patient": round(bat["cpu_ms"], 2),
        f"{size}_cql_naive_ms_per_patient": round(nai["cpu_ms"], 1),
        f"{size}_cql_naive_wall_p50_ms": round(nai["p50_ms"], 1),
        f"{size}_speedup_vs_cql_optimal": round(ratio, 1),
        f"{size}_speedup_vs_cql_batch": round(bat["cpu_ms"] / rxs["cpu_ms"], 1),
        f"{size}_speedup_vs_cql_naive": round(nai["cpu_ms"] / rxs["cpu_ms"], 1),
        f"{size}_met_target_10x_optimal": ratio >= TARGET_RATIO,
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(quick: bool = False) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # Node inherits this: same core for both engines
    packs = {name: get_pack(name) for name in ("natalizumab", "mifamurtide")}
    library = library_from_packs(packs)
    ensure_packages()
    elm, compiled = compile_library(library)
    full = scenario_bundles()
    sets = {"edge": edge_cases(), "full": full, "prefetch": [to_prefetch_size(b) for b in full]}
    figures: dict[str, Any] = {"load_average_at_start": _load()}
    with cql_worker(elm, sets) as worker:
        cql = {name: worker.ask("outcomes", set=name) for name in sets}
        compared, found = disagreements(sets, cql, packs)
        if found:
            _fail(found)
        figures |= {
            "gate_patients": sum(len(b) for b in sets.values()),
            "gate_outcomes_per_patient": len(OUTCOMES),
            "gate_comparisons": compared,
            "gate_disagreements": 0,
        }
        for size in ("full", "prefetch"):
            figures |= time_size(size, sets[size], worker, packs, quick)
        ctor = worker.ask("constructor", count=5 if quick else 20)
        versions = worker.ask("versions")
    figures["cql_patient_source_constructor_ms"] = round(ctor["cpu_ms"] / ctor["patients"], 1)
    figures["cql_compile_ms"] = compiled["compile_ms"]
    figures["cql_elm_sha256"] = compiled["elm_sha256"]
    for name, value in versions.items():
        figures[f"version_{name}"] = value
    figures["load_average_at_end"] = _load()
    return figures


if __name__ == "__main__":
    for key, value in run(quick=True).items():
        print(f"{key}: {value}")
