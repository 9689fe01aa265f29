"""The rxguard exception tree.

Every error rxguard raises on purpose derives from :class:`RxguardError` and
says what is wrong and what to do next, so interfaces can show it as one line
(CLI exit code 2, HTTP problem+json) without a traceback::

    RxguardError
    ├── PackError            a knowledge pack is malformed (names file, line, field)
    ├── UnknownDrugError     a drug name resolved to nothing (carries suggestions)
    ├── FactsError           patient input is not a usable FHIR R4 Bundle
    └── InputError           any other bad argument (date, jurisdiction, answers)
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
