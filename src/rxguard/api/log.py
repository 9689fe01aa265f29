"""JSON structured logs with a request id, and nothing a log must not hold.

Every line is one JSON object (structlog), stdlib loggers (uvicorn, alembic)
included, so one parser reads them all. Bound context comes from
contextvars: the middleware binds ``request_id`` once and every line logged
while handling that request carries it.

Redaction is a processor, not a convention: keys that can carry credentials
(``authorization``, ``token``, ``jwt``, ``access_token``, ``password``…) and
any value shaped like a JWT or an rxguard API token are replaced before the
line is rendered. Request bodies, query strings and FHIR resources are never
logged; routes are logged by their template (``/api/v1/patients/{key}``), so
no patient identifier reaches the log through a URL either.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

REDACTED = "[redacted]"
_SECRET_KEYS = frozenset(
    {
        "authorization", "token", "jwt", "access_token", "id_token", "refresh_token",
        "password", "secret", "api_key", "fhirauthorization", "cookie", "set-cookie",
    }
)  # fmt: skip
_SECRET_VALUE = re.compile(
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # a JWS/JWT
    r"|rxg_[A-Za-z0-9_-]{16,}"  # an rxguard API token
    r"|(?i:bearer)\s+\S+"
)


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).casefold() in _SECRET_KEYS else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secrets by key, scrub token-shaped strings anywhere."""
    for key in list(event):
        if key.casefold() in _SECRET_KEYS:
            event[key] = REDACTED
        else:
            event[key] = redact_value(event[key])
    return event


def _dumps(event: Any, **_options: Any) -> str:
    """One JSON line per event (orjson: a line is written for every request); odd values as text."""
    return orjson.dumps(event, default=str).decode()


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route structlog and stdlib logging to one JSON renderer on ``stream`` (stdout)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_logger_name,
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_rxguard", False):
            root.removeHandler(old)
    handler._rxguard = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Our middleware writes the access line (route template, no query string).
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every URL it calls at INFO; FHIR search URLs name patients.
    for name in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
