"""Evidence as data: a message id and its values, beside the English sentence the engine has always written.

An evidence line stays a ``str`` (the English the API, the CLI and the audit
trail show, unchanged), and a line the engine words itself also carries a
message id and its parameters: codes (a lab's id, a question's id, a stratum's
id), ISO dates (``*_on``), ISO durations and numbers. An interface words the
line for its reader from its own catalogue (``evidence.<id>`` in the web's
``i18n/*.yaml``), a lab by its name in the reader's language, a date as the
reader writes it. A line the engine passes on from elsewhere (what the facts
reader could not read) has no id and is shown as written.

``MESSAGES`` lists every id with the parameters it takes; ``said`` refuses an
id or a parameter it does not list, so the catalogue test (every id has an
English and a Chinese sentence that take these parameters) covers every line.
"""

from __future__ import annotations

from typing import Any

#: Every message id the engine words, with the names of its parameters.
MESSAGES: dict[str, frozenset[str]] = {
    "lab-missing": frozenset({"test", "before_on"}),
    "lab-missing-within": frozenset({"test", "max_age", "before_on"}),
    "lab-result": frozenset({"test", "value", "unit", "on"}),
    "lab-result-sent-as": frozenset({"test", "value", "unit", "sent_as", "on"}),
    "lab-result-word": frozenset({"test", "interpretation", "on"}),
    "lab-result-recorded": frozenset({"test", "on"}),
    "answer-yes-no": frozenset({"question", "answer"}),
    "answer-above": frozenset({"question", "value", "limit"}),
    "infusions-none": frozenset(),
    "infusions-before": frozenset({"count", "first_on", "last_on"}),
    "treated-since": frozenset({"since_on", "record"}),
    "treated-last": frozenset({"last_on", "record"}),
    "after-first-treatment": frozenset({"first_on"}),
    "days-since-infusion": frozenset({"days"}),
    "days-since-infusion-minimum": frozenset({"days", "minimum"}),
    "risk-stratum": frozenset({"model", "stratum"}),
    "age": frozenset({"age", "on", "born_on"}),
    "sex": frozenset({"sex"}),
    "jurisdiction": frozenset({"jurisdiction"}),
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


def said(message_id: str, text: str, **params: Any) -> Said:
    """The line ``text`` as message ``message_id`` with ``params`` (which ``MESSAGES`` must list exactly)."""
    expected = MESSAGES.get(message_id)
    if expected is None:
        raise KeyError(f"evidence message {message_id!r} is not listed in rxguard.engine.messages.MESSAGES")
    if set(params) != expected:
        raise TypeError(f"evidence message {message_id!r} takes {sorted(expected)}, not {sorted(params)}")
    return Said(text, message_id, params)


def message_of(line: str) -> dict[str, Any] | None:
    """The message id and parameters of an evidence line, for JSON; None for a line without one."""
    if isinstance(line, Said):
        return {"message_id": line.message_id, "params": dict(line.params)}
    return None


def messages_of(lines: tuple[str, ...] | list[str]) -> list[dict[str, Any] | None]:
    return [message_of(line) for line in lines]
