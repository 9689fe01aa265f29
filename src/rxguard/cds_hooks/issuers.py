"""The allowlist of EHRs that may call rxguard's CDS Hooks services.

``RXGUARD_CDS_ISSUERS_FILE`` names a JSON array; each object is one trusted
client::

    [{"iss": "https://ehr.example.org",          # the JWT's iss, exactly
      "jwks_url": "https://ehr.example.org/jwks", # or "jwks": {"keys": [...]} inline
      "tenants": ["hospital-a"],                   # optional: allowed tenant claims
      "jurisdiction": "US",                        # optional: rules in force for its patients
      "fhir_servers": ["https://ehr.example.org/fhir"]}]  # optional: allowed fhirServer prefixes

A JWT whose ``jku`` header differs from the configured ``jwks_url`` is refused:
rxguard never fetches keys from a URL the token itself names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rxguard.errors import InputError

_KEYS = {"iss", "jwks_url", "jwks", "tenants", "jurisdiction", "fhir_servers", "note"}


@dataclass(frozen=True)
class Issuer:
    iss: str
    jwks_url: str | None = None
    jwks: Mapping[str, Any] | None = None
    tenants: frozenset[str] | None = None
    jurisdiction: str | None = None
    fhir_servers: tuple[str, ...] = ()

    def allows_fhir_server(self, url: str) -> bool:
        return not self.fhir_servers or any(url.startswith(prefix) for prefix in self.fhir_servers)


def _issuer(entry: Any, where: str) -> Issuer:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each issuer must be a JSON object with 'iss' and 'jwks_url' or 'jwks'")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(_KEYS)}")
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InputError(f"{where}: 'iss' must be the issuer string the EHR puts in its JWTs")
    jwks_url, jwks = entry.get("jwks_url"), entry.get("jwks")
    if (jwks_url is None) == (jwks is None):
        raise InputError(f"{where} ({iss}): give exactly one of 'jwks_url' (https URL) or 'jwks' (inline JWKS)")
    if jwks_url is not None and not (isinstance(jwks_url, str) and jwks_url.startswith(("https://", "http://"))):
        raise InputError(f"{where} ({iss}): 'jwks_url' must be an http(s) URL")
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise InputError(f"{where} ({iss}): 'jwks' must be a JWKS object: {{\"keys\": [...]}}")
    tenants = entry.get("tenants")
    if tenants is not None and not (isinstance(tenants, list) and all(isinstance(t, str) for t in tenants)):
        raise InputError(f"{where} ({iss}): 'tenants' must be a list of strings")
    jurisdiction = entry.get("jurisdiction")
    if jurisdiction not in (None, "US", "EU"):
        raise InputError(f"{where} ({iss}): 'jurisdiction' must be US or EU (or left out: stricter rules apply)")
    servers = entry.get("fhir_servers", [])
    if not (isinstance(servers, list) and all(isinstance(s, str) for s in servers)):
        raise InputError(f"{where} ({iss}): 'fhir_servers' must be a list of URL prefixes")
    return Issuer(
        iss=iss,
        jwks_url=jwks_url,
        jwks=jwks,
        tenants=frozenset(tenants) if tenants is not None else None,
        jurisdiction=jurisdiction,
        fhir_servers=tuple(servers),
    )


def parse_issuers(data: Any, source: str = "issuers") -> dict[str, Issuer]:
    if not isinstance(data, list):
        raise InputError(f"{source}: must be a JSON array of issuer objects")
    issuers: dict[str, Issuer] = {}
    for index, entry in enumerate(data):
        issuer = _issuer(entry, f"{source}[{index}]")
        if issuer.iss in issuers:
            raise InputError(f"{source}[{index}]: issuer {issuer.iss!r} is listed twice")
        issuers[issuer.iss] = issuer
    return issuers


def load_issuers(path: Path | None) -> dict[str, Issuer]:
    """The allowlist from a file (no file: nobody is trusted)."""
    if path is None:
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"RXGUARD_CDS_ISSUERS_FILE {str(path)!r} does not exist; create it or fix the path") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"RXGUARD_CDS_ISSUERS_FILE {str(path)!r} is not valid JSON ({exc})") from None
    return parse_issuers(data, str(path))
