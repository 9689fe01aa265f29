"""One settings object for the store and the program, read from the environment.

``RXGUARD_DATABASE_URL`` picks the database: a SQLite file by default, so a
clinic (or a developer) gets a working program with zero set-up, and a
PostgreSQL URL in production. ``RXGUARD_DOSE_INTERVAL_TOLERANCE_DAYS``
overrides the programs' early-dose tolerance (see ``docs/program.md``).
``RXGUARD_DB_POOL_SIZE`` / ``RXGUARD_DB_MAX_OVERFLOW`` size each process's
PostgreSQL connection pool. ``RXGUARD_AUDIT_KEY_FILE`` names the audit log's
signing key and ``RXGUARD_AUDIT_CHECKPOINT_DIR`` where signed checkpoints are
published (``docs/audit.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/rxguard.db"


class Settings(BaseSettings):
    """Validated at start-up; every field has a safe default for a single clinic."""

    model_config = SettingsConfigDict(env_prefix="RXGUARD_", extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL)
    #: ``production`` refuses what only a development machine may do (e.g. the CLI's ``--actor`` and
    #: ``--at`` on commands that write: the audit log must say who did it and when, not who was named).
    environment: Literal["development", "production"] = "development"
    dose_interval_tolerance_days: int | None = Field(default=None, ge=0)
    sql_echo: bool = False
    #: PostgreSQL connections each process keeps open, and how many more it may open under a
    #: burst (closed again when returned). Size the pool to the server's threads
    #: (``RXGUARD_WORKER_THREADS``) so a request never waits for a connection; the database must
    #: allow processes x (size + overflow) connections.
    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    #: The audit log's Ed25519 signing key (``rxguard audit keygen``), kept outside the database.
    #: Required by ``rxguard serve`` in production; checkpoints cannot be signed without it.
    audit_key_file: Path | None = None
    #: Where the server publishes a signed checkpoint of the audit log (a witness directory:
    #: ``checkpoint`` and ``history/<size>``), every ``audit_checkpoint_interval_seconds``.
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_interval_seconds: int = Field(default=600, ge=10, le=86_400)

    def sqlite_path(self) -> Path | None:
        """The file a ``sqlite:///`` URL points to (None for memory or other engines)."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        rest = self.database_url[len(prefix) :].split("?", 1)[0]
        if rest in ("", ":memory:"):
            return None
        return Path(rest)


def get_settings() -> Settings:
    return Settings()
