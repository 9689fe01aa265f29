"""The server's audit checkpoints: one signed and published on start-up, then every interval.

With ``RXGUARD_AUDIT_CHECKPOINT_DIR`` set, each server process signs the audit log's tree head
with the key in ``RXGUARD_AUDIT_KEY_FILE`` and publishes it to that directory as a witness keeps
it (``checkpoint`` and ``history/<size>``), every ``RXGUARD_AUDIT_CHECKPOINT_INTERVAL_SECONDS``
(default 600: a rewrite of the log is caught against a checkpoint at most ten minutes old).
A checkpoint is published only when the log extends the newest one there (a consistency proof
is checked first); a refusal is logged at ERROR and the server keeps serving. Several processes
may publish to one directory: the same size is published once, and files are replaced atomically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from rxguard.errors import RxguardError
from rxguard.store import transaction
from rxguard.tlog.note import Signer

log = logging.getLogger("rxguard.audit")


def publish_once(sessions: sessionmaker[Session], signer: Signer, directory: Path, at: datetime) -> list[str]:
    from rxguard.program.audit_trail import write_checkpoint

    with transaction(sessions) as session:
        return write_checkpoint(session, signer, at, out=None, directory=directory)


async def publish_every(
    sessions: sessionmaker[Session], signer: Signer, directory: Path, seconds: float, clock: Callable[[], datetime]
) -> None:
    """Publish now, then every ``seconds``, until cancelled."""
    while True:
        try:
            for line in await run_in_threadpool(publish_once, sessions, signer, directory, clock()):
                log.info("audit checkpoint: %s", line)
        except RxguardError as exc:
            log.error("audit checkpoint refused: %s", exc)
        except Exception:  # the schedule must survive a database outage; the next round tries again
            log.exception("audit checkpoint could not be written")
        await asyncio.sleep(seconds)
