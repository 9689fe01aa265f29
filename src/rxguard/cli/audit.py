"""``rxguard audit``: keys, signed checkpoints, verification and proofs of the audit log.

``keygen`` makes the log's signing key (a file outside the database); ``checkpoint``
signs the current tree head and writes or publishes it; ``verify`` recomputes the tree from
the database or from an export and checks it against checkpoints and the business records;
``prove`` and ``prove-consistency`` write proofs that ``check-proof`` verifies offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from rxguard.errors import AuditChainError
from rxguard.tlog.entry import Entry

CheckpointOpt = Annotated[
    list[Path] | None,
    typer.Option("--checkpoint", help="A signed checkpoint file, or a published directory (repeatable)."),
]
PublicKeyOpt = Annotated[
    str | None,
    typer.Option("--public-key", help="The log's public key (file or text). Default: from RXGUARD_AUDIT_KEY_FILE."),
]
ExportOpt = Annotated[
    Path | None,
    typer.Option("--from-export", help="Read the log from an 'rxguard export' NDJSON file, not the database."),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write to this file (default: standard output).")]


def _write(document: object, out: Path | None) -> None:
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"proof written to {out}", err=True)


def register(audit_app: typer.Typer) -> None:
    from rxguard.cli.program import parse_datetime, run_in_transaction
    from rxguard.program import audit_trail as trail
    from rxguard.store.settings import get_settings

    @audit_app.command("keygen")
    def keygen(
        name: Annotated[str, typer.Option("--name", help="The log's name, e.g. rxguard.example.org/audit.")],
        out: Annotated[Path, typer.Option("--out", help="The signing key file to create (its public key: FILE.pub).")],
    ) -> None:
        """Create the audit log's Ed25519 signing key (keep it outside the database)."""
        verifier = trail.generate_key(name, out)
        typer.echo(f"signing key written to {out} (owner-only); set RXGUARD_AUDIT_KEY_FILE={out}")
        typer.echo(f"public key (give it to auditors): {out}.pub")
        typer.echo(verifier.text())

    @audit_app.command("checkpoint")
    def checkpoint(
        out: OutOpt = None,
        publish: Annotated[
            Path | None,
            typer.Option(
                "--publish", help="Keep it in this directory as a witness would (checkpoint, history/<size>)."
            ),
        ] = None,
        at: Annotated[str | None, typer.Option("--at", help="Signing time (ISO 8601). Default: now.")] = None,
    ) -> None:
        """Sign the audit log's current tree head (C2SP tlog-checkpoint)."""
        signer = trail.load_signer(get_settings())
        when = parse_datetime(at)
        for line in run_in_transaction(lambda s: trail.write_checkpoint(s, signer, when, out=out, directory=publish)):
            typer.echo(line)

    @audit_app.command("verify")
    def verify(
        checkpoint: CheckpointOpt = None, from_export: ExportOpt = None, public_key: PublicKeyOpt = None
    ) -> None:
        """Recompute the chain and the Merkle tree; check them against checkpoints and the business records.

        Names the first entry that was edited, inserted or deleted, the entries a checkpoint no
        longer matches or that are missing, and any business record without its audit entry.
        """
        checkpoints = []
        if checkpoint:
            checkpoints = trail.read_checkpoints(checkpoint, trail.load_verifier(public_key, get_settings()))
        if from_export is not None:
            report = trail.verify_export(from_export, checkpoints)
        else:
            report = run_in_transaction(lambda s: trail.verify_database(s, checkpoints))
        if not report.ok:
            raise AuditChainError(report.message())
        typer.echo(report.message())

    @audit_app.command("prove")
    def prove(
        entry: Annotated[str, typer.Argument(help="An entry's seq, or the id of the record it is about.")],
        checkpoint: Annotated[Path, typer.Option("--checkpoint", help="The signed checkpoint to prove against.")],
        from_export: ExportOpt = None,
        public_key: PublicKeyOpt = None,
        out: OutOpt = None,
    ) -> None:
        """Write the inclusion proof of one entry in a checkpoint (checked offline by check-proof)."""
        verifier = trail.load_verifier(public_key, get_settings())
        [(_, signed)] = trail.read_checkpoints([checkpoint], verifier)
        note = checkpoint.read_text(encoding="utf-8")
        entries = _entries(from_export)
        _write(trail.prove_inclusion(entries, entry, note, signed), out)

    @audit_app.command("prove-consistency")
    def prove_consistency(
        old: Annotated[Path, typer.Argument(help="The older checkpoint file.")],
        new: Annotated[Path, typer.Argument(help="The newer checkpoint file.")],
        from_export: ExportOpt = None,
        public_key: PublicKeyOpt = None,
        out: OutOpt = None,
    ) -> None:
        """Write the proof that the newer checkpoint's log extends the older one's (the log only grew)."""
        verifier = trail.load_verifier(public_key, get_settings())
        [(_, old_cp)] = trail.read_checkpoints([old], verifier)
        [(_, new_cp)] = trail.read_checkpoints([new], verifier)
        pair = ((old.read_text(encoding="utf-8"), old_cp), (new.read_text(encoding="utf-8"), new_cp))
        _write(trail.prove_consistency(_entries(from_export), *pair), out)

    @audit_app.command("check-proof")
    def check_proof(
        proof: Annotated[Path, typer.Argument(help="A proof written by 'rxguard audit prove' or 'prove-consistency'.")],
        public_key: Annotated[str, typer.Option("--public-key", help="The log's public key (file or text).")],
    ) -> None:
        """Check an inclusion or consistency proof offline, with the log's public key only."""
        verifier = trail.load_verifier(public_key, get_settings())
        typer.echo(trail.check_proof(trail.read_json(proof, "proof"), verifier))

    def _entries(from_export: Path | None) -> list[Entry]:
        if from_export is not None:
            return list(trail.entries_from(None, from_export))
        return run_in_transaction(lambda s: list(trail.entries_from(s, None)))
