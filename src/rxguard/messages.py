"""Evidence as data: a message id and its values, beside the English sentence rxguard has always written.

An evidence line stays a ``str`` (the English the API, the CLI and the audit
trail show, unchanged), and a line rxguard words itself also carries a message
id and its parameters: codes (a lab's id, a question's id, a stratum's id, a
status), ISO dates (``*_on``), date-times (``*_at``), ISO durations, numbers,
the text a record holds as it was recorded (``record``, ``unit``...), and other
lines (``line``: the result a comparison is about). An interface words the line
for its reader from its own catalogue (``evidence.<id>`` in the web's
``i18n/*.yaml``), a lab by its name in the reader's language, a date as the
reader writes it, and shows what the record says as the record says it.

The engine's lines and the record reader's ("could not verify" reasons: a unit
that does not convert, a result without a date) are listed in one table, here,
below both layers. ``MESSAGES`` lists every id with the parameters it takes;
``said`` refuses an id or a parameter it does not list, so the catalogue test
(every id has an English and a Chinese sentence that take these parameters)
covers every line, and the vignette test (every line of every vignette has an
id) finds a line written without one.
"""

from __future__ import annotations

from typing import Any

_LAB = frozenset({"line"})

#: Every message id rxguard words, with the names of its parameters.
MESSAGES: dict[str, frozenset[str]] = {
    # Lab results: missing, as recorded, compared.
    "lab-missing": frozenset({"test", "before_on"}),
    "lab-missing-within": frozenset({"test", "max_age", "before_on"}),
    "lab-result": frozenset({"test", "comparator", "value", "unit", "on"}),
    "lab-result-sent-as": frozenset({"test", "comparator", "value", "unit", "sent_as", "on"}),
    "lab-result-word": frozenset({"test", "interpretation", "on"}),
    "lab-result-recorded": frozenset({"test", "on"}),
    "lab-threshold": frozenset({"line", "symbol", "threshold"}),
    "lab-lower-limit": frozenset({"line", "lln"}),
    "lab-uln": frozenset({"line", "uln", "unit", "origin"}),
    "lab-uln-ratio": frozenset({"line", "uln", "unit", "origin", "ratio"}),
    "lab-own-lower-limit": frozenset({"line", "lln", "unit"}),
    "lab-own-uln": frozenset({"line", "uln", "unit"}),
    "lab-own-uln-ratio": frozenset({"line", "uln", "unit", "ratio"}),
    "lab-days-apart": frozenset({"days"}),
    "lab-confounded-procedure": frozenset({"record", "done_on", "days", "within"}),
    "lab-confounded-medication": frozenset({"record", "last_on", "days", "within"}),
    "risk-band": frozenset({"line", "band"}),
    "risk-band-unverified": frozenset({"line", "band", "low", "high"}),
    "risk-band-no-result": frozenset({"test", "band"}),
    "risk-band-possible": frozenset({"line", "bands"}),
    "lab-beyond-reach": frozenset({"line", "symbol", "threshold"}),
    # Lab results that could not be used.
    "lab-not-read": _LAB,
    "lab-not-positive-negative": _LAB,
    "lab-no-number": _LAB,
    "lab-no-lln": _LAB,
    "lab-no-uln": _LAB,
    "lab-own-no-lln": _LAB,
    "lab-own-no-uln": _LAB,
    "lab-no-date": frozenset({"source", "test"}),
    "lab-registered": frozenset({"source", "test"}),
    "lab-indeterminate": frozenset({"source", "test", "value_text"}),
    "lab-unread-word": frozenset({"source", "test", "value_text"}),
    "quantity-no-unit": frozenset({"source", "field", "value"}),
    "quantity-unit": frozenset({"source", "field", "value", "unit", "detail"}),
    # Checklist answers, the drug's own history, the risk stratum, the patient.
    "answer-yes-no": frozenset({"question", "answer"}),
    "answer-above": frozenset({"question", "value", "limit"}),
    "infusions-none": frozenset(),
    "infusions-before": frozenset({"count", "first_on", "last_on"}),
    "treated-since": frozenset({"since_on", "record"}),
    "treated-last": frozenset({"last_on", "record"}),
    "days-since-infusion": frozenset({"days"}),
    "days-since-infusion-minimum": frozenset({"days", "minimum"}),
    "risk-stratum": frozenset({"model", "stratum"}),
    "age": frozenset({"age", "on", "born_on"}),
    "no-birth-date": frozenset(),
    "sex": frozenset({"sex"}),
    "no-sex": frozenset(),
    "jurisdiction": frozenset({"jurisdiction"}),
    # Conditions, allergies, medicines and procedures in the record.
    "condition": frozenset({"item"}),
    "condition-still-present": frozenset({"item", "at_on"}),
    "condition-lifelong": frozenset({"item", "lifelong"}),
    "lifelong": frozenset({"valueset", "sources"}),
    "condition-onset-unknown": frozenset({"item", "onset", "since_on"}),
    "condition-abatement-unknown": frozenset({"item", "abated", "at_on"}),
    "condition-over-but-lifelong": frozenset({"item", "lifelong"}),
    "condition-not-resolved": frozenset({"item", "status"}),
    "status-absent": frozenset({"tag"}),
    "condition-says-absent": frozenset({"item", "cue"}),
    "condition-other-person": frozenset({"item", "cue"}),
    "not-established": frozenset({"line", "cue"}),
    "negated": frozenset({"what", "record", "cue"}),
    "other-experiencer": frozenset({"what", "record", "cue"}),
    "allergy": frozenset({"item"}),
    "intolerance": frozenset({"item"}),
    "medication": frozenset({"item", "exposure", "supplied_until_on"}),
    "medication-exposure-unknown": frozenset({"record", "kind", "start_on", "source"}),
    "medication-no-date": frozenset({"source", "record"}),
    "record-script-not-read": frozenset({"source", "record"}),
    "medication-dated-in-words": frozenset({"source", "record", "words"}),
    "after-first-treatment": frozenset({"first_on"}),
    "medication-undated-after-treatment": frozenset({"item", "first_on"}),
    "medication-dated-across-treatment": frozenset({"item", "start_on", "latest_on", "first_on"}),
    "procedure": frozenset({"record", "on"}),
    # The order and the preparation of the dose.
    "order-mentions": frozenset({"order", "words"}),
    "order-no-dose": frozenset({"order"}),
    "order-dose-unit": frozenset({"dose", "unit", "detail"}),
    "order-dose": frozenset({"dose", "unit", "label", "label_unit"}),
    "order-dose-converted": frozenset({"dose", "unit", "value", "label", "label_unit"}),
    "diluted-storage": frozenset({"storage"}),
    "preparation-hours": frozenset({"prepared_at", "start_at", "hours", "limit"}),
    "infusion-minutes": frozenset({"minutes", "limit"}),
    # Review notes: why a finding needs a clinician's review.
    "review-not-established": frozenset({"what", "record", "cue"}),
    "review-exposure": frozenset({"record", "duration", "note"}),
    "review-preliminary": _LAB,
    # Assessment notes: what the engine read on an assumption or could not use.
    "parameter-not-in-force": frozenset({"name", "jurisdiction", "at_on"}),
    "parameter-not-in-force-anywhere": frozenset({"name", "at_on"}),
    "due-from-first-infusion": frozenset({"record", "records"}),
    # Reading notes (coverage): what the record reader left out or read on an assumption.
    "other-patient-not-read": frozenset({"count"}),
    "named-patient-not-read": frozenset({"count", "patients", "patient"}),
    "no-patient-not-read": frozenset({"count"}),
    "no-patient-read-as-only": frozenset({"count", "patient"}),
    "medicine-reference-missing": frozenset({"source", "reference"}),
    "days-supply-not-read": frozenset({"source", "detail"}),
    "result-preliminary": frozenset({"source", "test", "on"}),
}


class Said(str):
    """An English evidence line that also says which message it is and with which values.

    A subclass of ``str`` so that every reader of evidence (vignettes, the API, the audit
    trail, the benches) keeps reading the English sentence it always read.
    """

    message_id: str
    params: dict[str, Any]

    def __new__(cls, text: str, message_id: str, params: dict[str, Any]) -> Said:
        line = super().__new__(cls, text)
        line.message_id = message_id
        line.params = params
        return line

    def __getnewargs__(self) -> tuple[str, str, dict[str, Any]]:  # type: ignore[override]
        return str(self), self.message_id, self.params


def said(message_id: str, text: str, **params: Any) -> Said:
    """The line ``text`` as message ``message_id`` with ``params`` (which ``MESSAGES`` must list exactly).

    A parameter that is itself a line (the result a comparison is about) is kept as its message.
    """
    expected = MESSAGES.get(message_id)
    if expected is None:
        raise KeyError(f"evidence message {message_id!r} is not listed in rxguard.messages.MESSAGES")
    if set(params) != expected:
        raise TypeError(f"evidence message {message_id!r} takes {sorted(expected)}, not {sorted(params)}")
    values = {name: message_of(v) if isinstance(v, Said) else v for name, v in params.items()}
    return Said(text, message_id, values)


def message_of(line: str) -> dict[str, Any] | None:
    """The message id and parameters of an evidence line, for JSON; None for a line without one."""
    if isinstance(line, Said):
        return {"message_id": line.message_id, "params": dict(line.params)}
    return None


def messages_of(lines: tuple[str, ...] | list[str]) -> list[dict[str, Any] | None]:
    return [message_of(line) for line in lines]
