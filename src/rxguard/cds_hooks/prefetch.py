"""Prefetch templates, and fetching what the EHR did not prefetch from its FHIR server.

The templates stay inside CDS Hooks 2.0's restricted syntax: instance reads,
type searches on ``patient``, token equality (``category=laboratory``),
``_sort`` and ``_count``, with only ``{{context.patientId}}`` substituted.
They ask for what the rules read: demographics, conditions, allergies,
medications (requests, statements, administrations = infusion history),
laboratory results, procedures and reports.

When a key is missing from the request (the EHR could not or would not
prefetch it) and the request carries ``fhirServer`` (with
``fhirAuthorization``) on a FHIR server configured for the calling EHR
(``fhir_servers`` in the issuers file; deny by default), rxguard fetches it with httpx under bounded
timeouts, following at most :data:`MAX_PAGES` ``next`` links. When a
*required* key can be had neither way, the service answers 412, as the
spec says. A key sent as ``null`` means "the EHR has no such data" and is
taken as empty, not fetched; an OperationOutcome in a key's place (how an
EHR reports a prefetch it could not do) counts as missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from rxguard.cds_hooks.issuers import parse_fhir_origin

PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "administrations": "MedicationAdministration?patient={{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory&_sort=-date&_count=200",
    "procedures": "Procedure?patient={{context.patientId}}",
    "reports": "DiagnosticReport?patient={{context.patientId}}&_sort=-date&_count=50",
}
#: Without these the assessment could miss a contraindication: 412 if unobtainable.
REQUIRED: frozenset[str] = frozenset({"patient", "conditions", "allergies", "medicationRequests", "labs"})
MAX_PAGES = 5


class PrefetchUnavailableError(Exception):
    """Required data is neither prefetched nor fetchable; ``keys`` names what is missing."""

    def __init__(self, keys: list[str], why: str) -> None:
        super().__init__(why)
        self.keys, self.why = keys, why


@dataclass(frozen=True)
class FhirAccess:
    server: str
    token: str | None


def render(template: str, context: Mapping[str, Any]) -> str:
    """Substitute the context tokens a template uses (values URL-encoded)."""
    out = template
    for name in ("patientId", "encounterId"):
        token = "{{context." + name + "}}"
        if token in out:
            value = context.get(name)
            if not isinstance(value, str) or not value:
                raise PrefetchUnavailableError([], f"context.{name} is missing")
            out = out.replace(token, quote(value, safe=""))
    return out


def _failed(value: Any) -> bool:
    """The EHR reports a prefetch it could not do as an OperationOutcome in its place."""
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def missing_keys(prefetch: Mapping[str, Any] | None) -> list[str]:
    given = prefetch or {}
    return [key for key in PREFETCH if key not in given or _failed(given[key])]


async def complete_prefetch(
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    access: FhirAccess | None,
    client: httpx.AsyncClient,
    *,
    total_timeout: float,
    max_bytes: int,
    no_access: str = "not prefetched and no fhirServer to fetch from",
) -> dict[str, Any]:
    """The prefetch with every template key filled, fetching what is missing; 412-worthy errors raise."""
    missing = missing_keys(prefetch)
    data = {key: value for key, value in (prefetch or {}).items() if key not in missing}
    if not missing:
        return data
    if access is None:
        required = sorted(set(missing) & REQUIRED)
        if required:
            raise PrefetchUnavailableError(required, no_access)
        return data
    queries = {key: render(PREFETCH[key], context) for key in missing}
    try:
        async with asyncio.timeout(total_timeout):
            results = await asyncio.gather(
                *(_fetch(client, access, query, max_bytes) for query in queries.values()), return_exceptions=True
            )
    except TimeoutError:
        raise PrefetchUnavailableError(
            sorted(set(missing) & REQUIRED), "the FHIR server did not answer in time"
        ) from None
    failed = []
    for key, result in zip(queries, results, strict=True):
        if isinstance(result, BaseException):
            if key in REQUIRED:
                failed.append(key)
            continue
        data[key] = result
    if failed:
        raise PrefetchUnavailableError(sorted(failed), "the FHIR server did not return them")
    return data


async def _fetch(client: httpx.AsyncClient, access: FhirAccess, query: str, max_bytes: int) -> Any:
    headers = {"Accept": "application/fhir+json"}
    if access.token:
        headers["Authorization"] = f"Bearer {access.token}"
    url: str | None = f"{access.server.rstrip('/')}/{query}"
    first: dict[str, Any] | None = None
    pages = 0
    while url is not None and pages < MAX_PAGES:
        pages += 1
        response = await client.get(url, headers=headers)
        if response.status_code != 200 or len(response.content) > max_bytes:
            raise RuntimeError(f"FHIR server answered {response.status_code}")
        body = orjson.loads(response.content)
        if not isinstance(body, dict):
            raise RuntimeError("FHIR server answered with something other than a resource")
        if body.get("resourceType") != "Bundle":
            return body
        if first is None:
            first = body
            first["entry"] = list(body.get("entry") or [])
        else:
            first["entry"].extend(body.get("entry") or [])
        url = _next_link(body, access.server)
    return first


def _next_link(bundle: Mapping[str, Any], server: str) -> str | None:
    """The searchset's next page, only if it stays on the same FHIR server (compared after parsing:
    scheme, host, port and base path; a URL with user information never matches)."""
    origin = parse_fhir_origin(server)
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and origin is not None and origin.admits(url):
                return url
    return None
