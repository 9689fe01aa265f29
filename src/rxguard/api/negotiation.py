"""Content negotiation for error answers: a page for a person's browser, problem+json for everyone else.

A browser asks for ``text/html`` first (``text/html,…,*/*;q=0.8``); an API
client, an EHR or ``curl`` asks for JSON or for anything (``*/*``). Only a
request that ranks ``text/html`` strictly above every JSON type gets the HTML
error page, so any client that did not ask for a page keeps the problem
document it was promised.
"""

from __future__ import annotations

_JSON_TYPES = ("application/problem+json", "application/json")


def _quality(accept: str, wanted: str) -> float:
    """The q-value ``accept`` gives ``wanted``: the most specific matching range wins (RFC 9110 §12.5.1)."""
    kind = wanted.split("/")[0]
    best, specificity = 0.0, -1
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for field in fields[1:]:
            name, _, value = field.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        rank = 2 if media == wanted else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if rank > specificity:
            best, specificity = q, rank
    return best


def prefers_html(accept: str | None) -> bool:
    """True when the client ranks ``text/html`` above ``application/problem+json`` and ``application/json``."""
    if not accept:
        return False
    html = _quality(accept, "text/html")
    return html > 0 and all(html > _quality(accept, json) for json in _JSON_TYPES)
