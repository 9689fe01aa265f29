"""Settings of the HTTP server (REST API and CDS Hooks), validated at start-up.

They extend the store's :class:`rxguard.store.settings.Settings`, so one
object carries everything a server process needs (database URL included) and
is read once from ``RXGUARD_*`` environment variables.

Why it refuses to start: outside ``development`` a server must not run with
switches meant for a laptop. In ``production`` it refuses unauthenticated CDS
Hooks, a missing issuer allowlist and a missing public URL (the JWT ``aud``
must be compared with the URL the EHR was given, not whatever Host header a
proxy forwards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from rxguard.store.settings import Settings as StoreSettings

MiB = 1024 * 1024
#: ``rxguard serve``'s default address; the JWT ``aud`` base in development when no public URL is set.
DEVELOPMENT_URL = "http://127.0.0.1:8000"


class SettingsError(ValueError):
    """A setting is missing or unsafe for the environment; names the variable and the fix."""


class ServerSettings(StoreSettings):
    """Everything ``rxguard serve`` needs; safe defaults only where they are safe."""

    environment: Literal["development", "production"] = "development"
    #: Base URL the EHR and users reach rxguard at (no trailing slash), e.g.
    #: ``https://rxguard.example.org``. Used for JWT ``aud`` and card links.
    public_url: str = ""
    #: Largest request body accepted; a Synthea bundle is 0.2–3.9 MB.
    max_body_bytes: int = Field(default=8 * MiB, ge=1024)
    #: Longest a request may run before it is answered 504.
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Connect/read timeout of each call to an EHR's FHIR server or a JWKS URL.
    fhir_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Total budget for fetching a CDS Hooks request's missing prefetch.
    fhir_total_timeout_seconds: float = Field(default=8.0, gt=0)
    #: JSON array of trusted CDS Hooks clients: ``[{"iss": ..., "jwks_url": ...}]``
    #: or ``[{"iss": ..., "jwks": {"keys": [...]}}]``; optional ``tenants``.
    cds_issuers_file: Path | None = None
    #: Accept CDS Hooks calls without a JWT (local development only).
    cds_allow_unauthenticated: bool = False
    #: Longest JWT lifetime accepted (``exp - iat``); also how long a ``jti`` is remembered.
    cds_max_token_lifetime_seconds: int = Field(default=3600, ge=60, le=3600)
    #: Clock skew tolerated on ``exp``, ``iat`` and ``nbf``.
    cds_leeway_seconds: int = Field(default=60, ge=0, le=300)
    #: How long a fetched JWKS is trusted before it is fetched again.
    cds_jwks_ttl_seconds: int = Field(default=300, ge=10)
    #: Shortest time between two fetches of an issuer's JWKS when a token names an unknown ``kid``.
    cds_jwks_min_refetch_seconds: float = Field(default=30.0, ge=0)
    #: Where accepted JWT ids are kept: ``database`` (every process sharing the database sees
    #: them) or ``memory`` (this process only: one worker, one instance; no write per call).
    cds_replay_cache: Literal["database", "memory"] = "database"
    #: SMART launch URL the card links open (with appContext); unset: a plain link to rxguard's
    #: pre-infusion page for the patient (``/patients/{patientId}/dose``).
    smart_launch_url: str = ""
    #: Bearer token Prometheus sends to read ``/metrics`` (``Authorization: Bearer <token>``).
    #: Unset: ``/metrics`` is open in development and refused (403) in production.
    metrics_token: str = Field(default="", max_length=512)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Threads per process for blocking work (database calls, assessments of large bundles).
    #: A request waiting for a database that does not answer holds one until the connect
    #: timeout, so there must be enough for the request rate times that timeout.
    worker_threads: int = Field(default=40, ge=1, le=500)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServerSettings:
        problems = self._audit_key_problems()
        if self.environment != "production":
            if problems and self.audit_checkpoint_dir is not None:
                raise SettingsError("RXGUARD_AUDIT_CHECKPOINT_DIR is set but " + "; ".join(problems))
            return self
        if self.audit_checkpoint_dir is None:
            problems.append(
                "RXGUARD_AUDIT_CHECKPOINT_DIR is not set; name the directory signed audit checkpoints are published to"
            )
        if self.cds_allow_unauthenticated:
            problems.append("RXGUARD_CDS_ALLOW_UNAUTHENTICATED is on; it is for local development only — unset it")
        if self.cds_issuers_file is None:
            problems.append("RXGUARD_CDS_ISSUERS_FILE is not set; point it at the JSON allowlist of EHR issuers")
        if not self.public_url.startswith("https://"):
            problems.append("RXGUARD_PUBLIC_URL must be the https:// URL EHRs call (it is checked against JWT aud)")
        if self.metrics_token and len(self.metrics_token) < 32:
            problems.append("RXGUARD_METRICS_TOKEN must have at least 32 characters (e.g. openssl rand -hex 32)")
        if self.database_url.startswith("sqlite") and "var/rxguard.db" in self.database_url:
            problems.append("RXGUARD_DATABASE_URL is the development default; set the production database URL")
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    def _audit_key_problems(self) -> list[str]:
        """The audit log's signing key must be readable (and never in the database)."""
        from rxguard.tlog.note import NoteError, Signer

        path = self.audit_key_file
        if path is None:
            return [
                "RXGUARD_AUDIT_KEY_FILE is not set; create the audit log's signing key with "
                "'rxguard audit keygen --name <log name> --out <file>' and point RXGUARD_AUDIT_KEY_FILE at it"
            ]
        try:
            Signer.parse(path.read_text(encoding="utf-8"))
        except OSError as exc:
            return [f"RXGUARD_AUDIT_KEY_FILE {path} cannot be read ({exc.strerror})"]
        except NoteError as exc:
            return [f"RXGUARD_AUDIT_KEY_FILE {path}: {exc}"]
        return []

    def public_base(self) -> str:
        """The base URL EHRs and users reach rxguard at: ``public_url``, or in development the
        default listening address (``rxguard serve`` sets it to the address it listens on).
        Never the Host or X-Forwarded-* headers of a request, which a caller chooses."""
        return (self.public_url or DEVELOPMENT_URL).rstrip("/")


def load_settings(**overrides: object) -> ServerSettings:
    """Read ``RXGUARD_*`` from the environment; keyword overrides win (tests, CLI flags)."""
    return ServerSettings(**overrides)  # type: ignore[arg-type]
