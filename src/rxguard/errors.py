"""The rxguard exception tree.

Every error rxguard raises on purpose derives from :class:`RxguardError` and
says what is wrong and what to do next, so interfaces can show it as one line
(CLI exit code 2, HTTP problem+json) without a traceback::

    RxguardError
    ├── PackError            a knowledge pack is malformed (names file, line, field)
    ├── UnknownDrugError     a drug name resolved to nothing (carries suggestions)
    ├── FactsError           patient input is not a usable FHIR R4 Bundle
    ├── InputError           any other bad argument (date, jurisdiction, answers)
    ├── AccessDeniedError    the signed-in user's role or scope does not allow this
    └── ProgramError         a restricted-distribution step cannot be done as asked
        ├── NotFoundError        a named prescriber, site, patient or record does not exist
        ├── TransitionError      the state change is not allowed from the current state
        │   └── HardStopError    an override asked for a check that is never overridable
        ├── InfusionRejectedError  the infusion record fails the pack's checks
        ├── ConflictError        a database invariant refused the change (e.g. second
        │                        infusion in the same dose window); nothing was written
        └── AuditChainError      the audit log's hash chain is broken
"""

from __future__ import annotations


class RxguardError(Exception):
    """Root of every error rxguard raises deliberately."""


class PackError(RxguardError):
    """A knowledge pack failed to load or validate."""


class UnknownDrugError(RxguardError):
    """No pack matches the drug name given."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class FactsError(RxguardError):
    """The patient record could not be read as FHIR R4."""


class InputError(RxguardError):
    """An argument is malformed (date, jurisdiction, checklist answers...)."""


class AccessDeniedError(RxguardError):
    """The user's role or scope does not allow this; the message names the role needed."""


class ProgramError(RxguardError):
    """A restricted-distribution program step cannot be carried out as asked."""


class NotFoundError(ProgramError):
    """A named participant or record does not exist; check the key or create it first."""


class TransitionError(ProgramError):
    """A state change is not allowed from the current state (e.g. certify a revoked site)."""


class HardStopError(TransitionError):
    """An override was asked for a hard stop; ``stops`` names each check and what would lift it."""

    def __init__(self, message: str, stops: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.stops = stops or []


class InfusionRejectedError(ProgramError):
    """The infusion record fails the pack's preparation or administration checks."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []


class ConflictError(ProgramError):
    """A database invariant refused the change; the transaction was rolled back."""


class AuditChainError(ProgramError):
    """The audit log's hash chain does not verify; names the first bad entry."""
