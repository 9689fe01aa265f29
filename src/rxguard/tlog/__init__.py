"""A transparency log over the audit entries: RFC 9162 Merkle tree, signed checkpoints, proofs.

* :mod:`rxguard.tlog.tree` — leaf and node hashing, roots, inclusion and consistency proofs
  and their verification (RFC 9162, section 2.1);
* :mod:`rxguard.tlog.note` — Ed25519 keys and signed notes (C2SP signed-note, as Go's
  ``golang.org/x/mod/sumdb/note`` reads and writes them);
* :mod:`rxguard.tlog.checkpoint` — the signed tree head (C2SP tlog-checkpoint) and the
  directory a witness keeps them in;
* :mod:`rxguard.tlog.verification` — recompute the tree from entries and compare it with
  checkpoints and with the business records the entries must cover.

Nothing here touches a database: the same code verifies a live database and an export.
"""
