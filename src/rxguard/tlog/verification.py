"""Recompute the audit log's chain and Merkle tree from its entries, and say what does not fit.

One pass over the entries in ``seq`` order checks, for each:

* the hash chain (``seq`` without gaps, ``prev_hash`` and ``hash``): names the first entry that
  was edited, inserted or deleted by someone who did not re-chain what followed;
* its Merkle leaf: the roots at every checkpoint's size are compared with the signed roots, so
  a log edited and re-chained, cut short or emptied is caught by a checkpoint kept outside the
  database, and the report names the range of entries that no longer match (or are missing);
* which business record it is about: afterwards every business row must have an entry.

Only the entries, the checkpoints and (for coverage) the business row ids are read: nothing
the database says about itself (the chain head aside, which is reported when it disagrees)
is trusted, so the same check runs on a live database and on an export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rxguard.tlog.checkpoint import Checkpoint
from rxguard.tlog.entry import GENESIS, Entry, chain_hash, entry_body
from rxguard.tlog.tree import CompactRange, leaf_hash

#: Business tables whose every row must have an audit entry (entity = table name, entity id = row id).
COVERED_TABLES: tuple[str, ...] = (
    "prescriber", "site", "pharmacy", "patient", "patient_site", "certification", "enrollment", "consent",
    "form_record", "authorization", "clearance", "override", "infusion", "monitoring_event", "adverse_event",
    "app_user", "api_token",
)  # fmt: skip
_SHOWN = 5


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""

    def message(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.entries} entries"
        return f"audit chain broken at seq {self.first_bad_seq}: {self.problem}"


@dataclass
class LogReport:
    chain: ChainReport
    entries: int
    root: bytes
    problems: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    leaves: list[bytes] | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def message(self) -> str:
        """One line: every problem, or what was checked."""
        if self.ok:
            return "; ".join([self.chain.message(), *self.passed])
        return "; ".join(([] if self.chain.ok else [self.chain.message()]) + self.problems)


def _chain_problem(row: Entry, expected_seq: int, prev_hash: str, body: bytes) -> tuple[int, str] | None:
    if row.seq != expected_seq:
        kind = "missing (deleted)" if row.seq > expected_seq else "out of order"
        return expected_seq, f"entry {expected_seq} is {kind}"
    if row.prev_hash != prev_hash:
        return row.seq, "prev_hash does not match the previous entry (inserted or deleted before it)"
    if chain_hash(row.prev_hash, body) != row.hash:
        return row.seq, "content does not match its hash (edited or inserted)"
    return None


def _head_problem(head: tuple[int, str], expected_seq: int, prev_hash: str) -> tuple[int, str] | None:
    seq, digest = head
    if seq == expected_seq - 1 and digest == prev_hash:
        return None
    if seq >= expected_seq:
        return expected_seq, f"entry {expected_seq} is missing (deleted)"
    if seq < expected_seq - 1:
        return seq + 1, "entry was appended behind the chain's back (inserted)"
    return seq, "the chain head does not match the last entry"


def verify_log(
    entries: Iterable[Entry],
    *,
    head: tuple[int, str] | None = None,
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    business: Mapping[str, Iterable[str]] | None = None,
    keep_leaves: bool = False,
) -> LogReport:
    """Check ``entries`` (in seq order) against the chain, ``checkpoints`` and ``business`` rows."""
    wanted = sorted({c.size for _, c in checkpoints})
    roots: dict[int, bytes] = {}
    if wanted and wanted[0] == 0:
        roots[0] = CompactRange().root()
    next_wanted = iter(w for w in wanted if w > 0)
    target = next(next_wanted, None)
    tree = CompactRange()
    append = tree.append
    leaves: list[bytes] | None = [] if keep_leaves else None
    seen: dict[str, set[str]] = {table: set() for table in COVERED_TABLES} if business is not None else {}
    chain: ChainReport | None = None
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in entries:
        count += 1
        body = entry_body(row.seq, row.at, row.actor, row.action, row.entity, row.entity_id, row.payload, row.prev_hash)
        if chain is None:
            bad = _chain_problem(row, expected_seq, prev_hash, body)
            if bad is not None:
                chain = ChainReport(False, count, *bad)
            prev_hash, expected_seq = row.hash, expected_seq + 1
        leaf = leaf_hash(body)
        append(leaf)
        if leaves is not None:
            leaves.append(leaf)
        if tree.size == target:
            roots[target] = tree.root()
            target = next(next_wanted, None)
        ids = seen.get(row.entity)
        if ids is not None:
            ids.add(row.entity_id)
    if chain is None and head is not None:
        bad = _head_problem(head, expected_seq, prev_hash)
        if bad is not None:
            chain = ChainReport(False, count, *bad)
    report = LogReport(chain or ChainReport(True, count), count, tree.root(), leaves=leaves)
    _compare_checkpoints(report, checkpoints, roots)
    if business is not None:
        _compare_coverage(report, business, seen)
    return report


def _compare_checkpoints(
    report: LogReport, checkpoints: Sequence[tuple[str, Checkpoint]], roots: dict[int, bytes]
) -> None:
    good_below = 0
    for label, checkpoint in sorted(checkpoints, key=lambda item: item[1].size):
        size, where = checkpoint.size, f"the {checkpoint.describe()} ({label})"
        if size > report.entries:
            first = report.entries + 1
            span = f"entry {size} is" if first == size else f"entries {first}..{size} are"
            report.problems.append(
                f"{span} missing: {where} covers {size} entries and the log holds {report.entries} "
                "(deleted or truncated)"
            )
        elif roots.get(size) != checkpoint.root:
            lo = good_below + 1
            span = f"entry {size}" if lo == size else f"entries {lo}..{size}"
            report.problems.append(
                f"{span} do not match {where}: an entry in that range was edited, deleted, inserted or reordered"
                + (f" (entries 1..{good_below} match an earlier checkpoint)" if good_below else "")
            )
        else:
            good_below = size
            report.passed.append(f"entries 1..{size} match {where}")


def _compare_coverage(report: LogReport, business: Mapping[str, Iterable[str]], seen: dict[str, set[str]]) -> None:
    rows = 0
    for table, ids in business.items():
        logged = seen.get(table, set())
        missing = []
        for row_id in ids:
            rows += 1
            if row_id not in logged:
                missing.append(row_id)
        if missing:
            shown = ", ".join(missing[:_SHOWN]) + (
                f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
            )
            report.problems.append(f"{len(missing)} {table} row(s) have no audit entry: {shown}")
    if not any("no audit entry" in p for p in report.problems):
        report.passed.append(f"all {rows} business records have their audit entries")
