"""``rxguard audit`` as an operator and an outside auditor use it, through the installed command.

The outsider's three commands are read from ``docs/audit.md`` and run as written, in a
directory holding only the export, the public key and a checkpoint, with no database to reach.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
RXGUARD = str(Path(sys.executable).with_name("rxguard"))


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(cwd)}
    done = subprocess.run([RXGUARD, *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _outsider_commands() -> list[str]:
    text = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- outsider-verification -->\n```sh\n(.*?)```", text, re.S)
    assert block is not None, "docs/audit.md lost its outsider-verification block"
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 3
    return commands


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program with its key, a checkpoint and an export; returns the operator's directory."""
    here = tmp_path_factory.mktemp("operator")
    env = {"RXGUARD_DATABASE_URL": f"sqlite:///{here / 'program.db'}", "RXGUARD_AUDIT_KEY_FILE": "audit.key"}
    assert _run(["demo", "load", "--at", "2026-01-05T09:00:00Z"], here, **env).returncode == 0
    keygen = _run(["audit", "keygen", "--name", "rxguard.example.org/audit", "--out", "audit.key"], here, **env)
    assert keygen.returncode == 0 and "audit.key.pub" in keygen.stdout
    assert oct((here / "audit.key").stat().st_mode & 0o777) == "0o600"
    assert _run(["audit", "checkpoint", "--out", "checkpoint"], here, **env).returncode == 0
    assert _run(["export", "program.ndjson"], here, **env).returncode == 0
    return here


def _auditor(operator: Path, tmp_path: Path) -> Path:
    for name in ("program.ndjson", "audit.key.pub", "checkpoint"):
        (tmp_path / name).write_bytes((operator / name).read_bytes())
    return tmp_path


NO_DATABASE = {"RXGUARD_DATABASE_URL": "sqlite:////nonexistent/dir/none.db"}


def test_the_outsiders_three_commands_from_the_docs_pass_with_no_database(operator: Path, tmp_path: Path) -> None:
    auditor = _auditor(operator, tmp_path)
    said = []
    for command in _outsider_commands():
        args = shlex.split(command)
        assert args[0] == "rxguard"
        done = _run(args[1:], auditor, **NO_DATABASE)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        said.append(done.stdout + done.stderr)
    assert "entries 1.." in said[0] and "match the checkpoint" in said[0] and "business records" in said[0]
    assert "entry 17 is in the log's checkpoint" in said[2]
    assert not (auditor / "none.db").exists()


def test_the_first_command_fails_on_an_export_with_an_entry_rewritten_and_re_chained(
    operator: Path, tmp_path: Path
) -> None:
    from rxguard.store import audit
    from rxguard.tlog.entry import GENESIS

    auditor = _auditor(operator, tmp_path)
    lines = (auditor / "program.ndjson").read_text(encoding="utf-8").splitlines()
    prev = GENESIS
    out = []
    for line in lines:  # rewrite entry 5's actor and re-chain every entry, as a careful forger would
        resource = orjson.loads(line)
        if resource["resourceType"] != "AuditEvent":
            out.append(line)
            continue
        row_ext = next(e for e in resource["extension"] if e["url"] == "urn:rxguard:row")
        row = orjson.loads(row_ext["valueString"])
        if row["seq"] == 5:
            row["actor"] = "someone_else"
        row["prev_hash"] = prev
        row["hash"] = prev = audit.entry_hash(row["seq"], datetime.fromisoformat(row["at"]), row["actor"],
                                              row["action"], row["entity"], row["entity_id"], row["payload"], prev)  # fmt: skip
        row_ext["valueString"] = orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode()
        out.append(orjson.dumps(resource).decode())
    head = orjson.loads(out[-1])
    head_ext = next(e for e in head["extension"] if e["url"] == "urn:rxguard:row")
    head_row = orjson.loads(head_ext["valueString"])
    head_row["hash"] = prev
    head_ext["valueString"] = orjson.dumps(head_row, option=orjson.OPT_SORT_KEYS).decode()
    out[-1] = orjson.dumps(head).decode()
    (auditor / "program.ndjson").write_text("\n".join(out) + "\n", encoding="utf-8")
    done = _run(shlex.split(_outsider_commands()[0])[1:], auditor, **NO_DATABASE)
    assert done.returncode == 2
    assert "audit chain broken" not in done.stderr  # the chain was re-made: only the checkpoint sees it
    assert re.search(r"entries 1\.\.\d+ do not match the checkpoint of \d+ entries", done.stderr), done.stderr


def test_operator_commands_say_what_is_wrong(operator: Path, tmp_path: Path) -> None:
    env = {"RXGUARD_DATABASE_URL": f"sqlite:///{operator / 'program.db'}"}
    missing_key = _run(["audit", "checkpoint"], operator, **env)
    assert missing_key.returncode == 2 and "RXGUARD_AUDIT_KEY_FILE is not set" in missing_key.stderr
    again = _run(["audit", "keygen", "--name", "x/y", "--out", "audit.key"], operator, **env)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    other = _run(["audit", "keygen", "--name", "other.example/audit", "--out", str(tmp_path / "o.key")], operator)
    assert other.returncode == 0
    foreign = _run(["audit", "verify", "--checkpoint", "checkpoint", "--public-key", str(tmp_path / "o.key.pub")],
                   operator, **env)  # fmt: skip
    assert foreign.returncode == 2 and "not signed by other.example/audit" in foreign.stderr
    signed = {**env, "RXGUARD_AUDIT_KEY_FILE": "audit.key"}
    published = _run(["audit", "checkpoint", "--publish", str(tmp_path / "witness")], operator, **signed)
    assert published.returncode == 0 and "published" in published.stdout
    grew = _run(["audit", "prove-consistency", "checkpoint", str(tmp_path / "witness" / "checkpoint"),
                 "--out", str(tmp_path / "grew.json")], operator, **signed)  # fmt: skip
    assert grew.returncode == 0, grew.stderr
    checked = _run(["audit", "check-proof", str(tmp_path / "grew.json"), "--public-key", "audit.key.pub"], operator)
    assert checked.returncode == 0 and "the log only grew" in checked.stdout
    assert _run(["audit", "verify", "--checkpoint", str(tmp_path / "witness")], operator, **signed).returncode == 0
    bad_proof = tmp_path / "bad.json"
    bad_proof.write_text("{}")
    refused = _run(["audit", "check-proof", str(bad_proof), "--public-key", "audit.key.pub"], operator)
    assert refused.returncode == 2 and "not an rxguard audit proof" in refused.stderr
