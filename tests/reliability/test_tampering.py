"""Tampering: someone with database rights edits, inserts, deletes or reorders audit rows.

Over a loaded program (the demo: hundreds of chained entries) every kind of
change is made directly in the database, at the first, second, a middle,
the second-to-last and the last entry and at seeded random places; after each
one ``rxguard audit verify`` must exit 2 and name the first entry that no
longer fits, then the log is restored and verifies again. ``make reliability``
(``RXGUARD_RELIABILITY_FULL=1``) tries more places and runs the command for
every case; CI tries four places and runs the installed command once per
engine, calling the same verification the command calls for the rest.

What "first bad entry" means for a change the chain cannot tell apart from
another: an entry that was edited *and re-hashed* looks exactly like an
intact entry followed by one whose ``prev_hash`` was changed, so verify names
the next entry; a well-formed forged entry slipped in the middle is named by
the entry after it. Every case is also checked against a signed checkpoint of
the pristine log (``docs/audit.md``), which must fail too; rewriting every later
hash and the head, which the chain alone cannot see, is caught by the checkpoint
(``tests/store/test_audit_log.py``).
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rel_db import ENGINES, ScratchDatabases, disable_audit_guards, full_run
from sqlalchemy import delete, select, text, update

from rxguard.cli import run
from rxguard.program.audit_trail import make_checkpoint
from rxguard.program.demo import load_demo
from rxguard.store import audit, transaction
from rxguard.store.models import AuditEntry, AuditHead
from rxguard.store.testing import TestDatabase
from rxguard.tlog.checkpoint import Checkpoint
from rxguard.tlog.note import Signer

pytestmark = pytest.mark.reliability
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EDITABLE = ("at", "actor", "action", "entity", "entity_id", "payload", "prev_hash", "hash")

Tamper = Callable[[Any, int], None]  # (session, seq) -> None


@dataclass(frozen=True)
class Case:
    name: str
    seq: int
    change: Tamper
    expected: Callable[[int, int], int]  # (seq, total) -> the seq verify must name


def _edited(column: str) -> Tamper:
    def change(session: Any, seq: int) -> None:
        row = session.get(AuditEntry, seq)
        value = getattr(row, column)
        if column == "at":
            new: Any = value + timedelta(seconds=1)
        elif column in ("prev_hash", "hash"):
            new = ("f" if value[0] != "f" else "e") + value[1:]
        elif column == "payload":
            new = value.replace("}", ',"forged":1}', 1) if value != "{}" else '{"forged":1}'
        else:
            new = value + "x"
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values({column: new}))

    return change


def _deleted(session: Any, seq: int) -> None:
    session.execute(delete(AuditEntry).where(AuditEntry.seq == seq))


def _tail_deleted(session: Any, seq: int) -> None:
    session.execute(delete(AuditEntry).where(AuditEntry.seq >= seq))


def _rehashed(session: Any, seq: int) -> None:
    """Edit an entry and recompute its own hash, as an attacker who knows the format would."""
    row = session.get(AuditEntry, seq)
    actor = row.actor + "x"
    digest = audit.entry_hash(seq, row.at, actor, row.action, row.entity, row.entity_id, row.payload, row.prev_hash)
    session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(actor=actor, hash=digest))


def _forged(seq: int, prev: AuditEntry) -> AuditEntry:
    digest = audit.entry_hash(seq, prev.at, "mallory", "forged.entry", "thing", "x", "{}", prev.hash)
    return AuditEntry(seq=seq, at=prev.at, actor="mallory", action="forged.entry", entity="thing",
                      entity_id="x", payload="{}", prev_hash=prev.hash, hash=digest)  # fmt: skip


def _appended(session: Any, seq: int) -> None:
    """A well-formed entry added after the last one without moving the chain's head."""
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    session.add(_forged(last.seq + 1, last))


def _inserted(session: Any, seq: int) -> None:
    """A well-formed entry slipped in at ``seq``; every later entry is renumbered up by one."""
    prev = session.get(AuditEntry, seq - 1)
    _renumber_from(session, seq)
    session.add(_forged(seq, prev))


def _garbage_inserted(session: Any, seq: int) -> None:
    """A malformed row (wrong hashes) at ``seq``, later entries renumbered."""
    _renumber_from(session, seq)
    session.add(AuditEntry(seq=seq, at=AT, actor="mallory", action="x", entity="x", entity_id="x", payload="{}",
                           prev_hash="0" * 64, hash="1" * 64))  # fmt: skip


def _renumber_from(session: Any, seq: int) -> None:
    """Move entries ``seq``.. up by one (in two steps, so the primary key never collides)."""
    session.execute(text("UPDATE audit_entry SET seq = seq + 1000000 WHERE seq >= :seq"), {"seq": seq})
    session.execute(text("UPDATE audit_entry SET seq = seq - 999999 WHERE seq >= 1000000"))


def _swapped(session: Any, seq: int) -> None:
    """Two neighbouring entries exchange places (their seq numbers)."""
    session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=-1))
    session.execute(update(AuditEntry).where(AuditEntry.seq == seq + 1).values(seq=seq))
    session.execute(update(AuditEntry).where(AuditEntry.seq == -1).values(seq=seq + 1))


def _moved_away(session: Any, seq: int) -> None:
    session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1_000_000))


def _head_ahead(session: Any, seq: int) -> None:
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))


def _head_hash(session: Any, seq: int) -> None:
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash="f" * 64))


def _cases(total: int) -> list[Case]:
    places = {1, 2, total // 2, total}
    if full_run():
        places |= {total - 1, *random.Random(8).sample(range(3, total - 1), 4)}
    return _cases_at(sorted(places), total)


def _cases_at(places: list[int], total: int) -> list[Case]:
    same: Callable[[int, int], int] = lambda seq, _total: seq  # noqa: E731
    cases = [Case(f"edit {c} of #{s}", s, _edited(c), same) for s in places for c in EDITABLE]
    cases += [Case(f"delete #{s}", s, _deleted, same) for s in places]
    cases += [Case(f"delete #{s}..end", s, _tail_deleted, same) for s in places]
    cases += [Case(f"move #{s} away", s, _moved_away, same) for s in places]
    cases += [Case(f"re-hash #{s}", s, _rehashed, lambda seq, _t: seq + 1) for s in places if s < total]
    cases += [Case(f"re-hash last #{total}, head left", total, _rehashed, same)]
    cases += [Case(f"swap #{s} and #{s + 1}", s, _swapped, same) for s in places if s < total]
    cases += [Case(f"forged entry at #{s}", s, _inserted, lambda seq, _t: seq + 1) for s in places if s > 1]
    cases += [Case(f"garbage entry at #{s}", s, _garbage_inserted, same) for s in places]
    cases += [
        Case("forged entry appended, head left", total, _appended, lambda _s, t: t + 1),
        Case("head moved ahead", total, _head_ahead, lambda _s, t: t + 1),
        Case("head hash changed", total, _head_hash, lambda _s, t: t),
    ]
    return cases


class Log:
    """The pristine audit log of a database, restorable after each tampering."""

    def __init__(self, database: TestDatabase) -> None:
        self.database = database
        with transaction(database.factory) as s:
            self.rows = [_plain(r) for r in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
            head = s.get(AuditHead, 1)
            assert head is not None
            self.head = (head.seq, head.hash)
        with database.engine.begin() as connection:
            disable_audit_guards(connection, database.name)

    def tamper(self, change: Tamper, seq: int) -> None:
        with transaction(self.database.factory) as s:
            self._unguard(s)
            change(s, seq)

    def restore(self) -> None:
        with transaction(self.database.factory) as s:
            self._unguard(s)
            s.execute(delete(AuditEntry))
            s.execute(AuditEntry.__table__.insert(), self.rows)
            s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=self.head[0], hash=self.head[1]))

    def _unguard(self, session: Any) -> None:
        if self.database.name == "postgresql":
            disable_audit_guards(session, "postgresql")  # per transaction: ALTER TABLE is transactional


def _plain(row: AuditEntry) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in AuditEntry.__table__.columns}


def _verify_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str]:
    monkeypatch.setenv("RXGUARD_DATABASE_URL", url)
    code = run(["audit", "verify"])
    out, err = capsys.readouterr()
    return code, out + err


def _verify_service(database: TestDatabase) -> tuple[int, str]:
    """What ``rxguard audit verify`` prints and exits with, without building the command line each time."""
    with transaction(database.factory) as s:
        report = audit.verify(s)
    return (0, report.message() + "\n") if report.ok else (2, f"rxguard: error: {report.message()}\n")


def _against_checkpoint(database: TestDatabase, checkpoint: Checkpoint) -> bool:
    with transaction(database.factory) as s:
        return audit.verify_log(s, [("pristine", checkpoint)], coverage=False).ok


@pytest.mark.parametrize("engine", ENGINES)
def test_audit_verify_names_the_first_bad_entry_after_every_kind_of_tampering(
    engine: str, scratch: ScratchDatabases, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], figures: Any,
) -> None:  # fmt: skip
    database = scratch.create(engine)
    with transaction(database.factory) as s:
        load_demo(s, at=AT)
    log = Log(database)
    total = len(log.rows)
    code, said = _verify_cli(monkeypatch, capsys, database.url)
    assert code == 0 and said.startswith(f"audit chain intact: {total} entries;"), said
    with transaction(database.factory) as s:
        checkpoint, _, _ = make_checkpoint(s, Signer.generate("rxguard.test/audit"), AT)
    misses = []
    cases = _cases(total)
    for case in cases:
        log.tamper(case.change, case.seq)
        code, said = _verify_cli(monkeypatch, capsys, database.url) if full_run() else _verify_service(database)
        expected = case.expected(case.seq, total)
        if code != 2 or f"broken at seq {expected}:" not in said:
            misses.append(f"{case.name}: expected exit 2 naming seq {expected}, got {code}: {said.strip()}")
        if _against_checkpoint(database, checkpoint):
            misses.append(f"{case.name}: passed against the checkpoint of the untouched log")
        log.restore()
    assert _against_checkpoint(database, checkpoint)
    assert _verify_cli(monkeypatch, capsys, database.url)[0] == 0
    figures.record(f"tampering.{engine}", entries=total, cases=len(cases), named_correctly=len(cases) - len(misses))
    assert not misses, "\n".join(misses)
    log.tamper(_edited("payload"), 17)
    _the_installed_command_names(database, 17)


def _the_installed_command_names(database: TestDatabase, seq: int) -> None:
    """The real ``rxguard`` executable: exit code 2 and one line, as an operator sees them."""
    command = [str(Path(sys.executable).with_name("rxguard")), "audit", "verify"]
    done = subprocess.run(command, env={"RXGUARD_DATABASE_URL": database.url, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"rxguard: error: audit chain broken at seq {seq}: content does not match its hash (edited or inserted)"
    )
    assert "Traceback" not in done.stderr + done.stdout
