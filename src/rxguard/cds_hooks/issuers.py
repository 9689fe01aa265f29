"""The allowlist of EHRs that may call rxguard's CDS Hooks services.

``RXGUARD_CDS_ISSUERS_FILE`` names a JSON array; each object is one trusted
client::

    [{"iss": "https://ehr.example.org",          # the JWT's iss, exactly
      "jwks_url": "https://ehr.example.org/jwks", # or "jwks": {"keys": [...]} inline
      "tenants": ["hospital-a"],                   # optional: allowed tenant claims
      "jurisdiction": "US",                        # optional: rules in force for its patients
      "fhir_servers": ["https://ehr.example.org/fhir"]}]  # FHIR servers rxguard may fetch from

A JWT whose ``jku`` header differs from the configured ``jwks_url`` is refused:
rxguard never fetches keys from a URL the token itself names.

``fhir_servers`` is deny by default: an issuer without it never makes rxguard
fetch anything, and its ``fhirAuthorization`` token is never sent anywhere.
A request's ``fhirServer`` is compared with each entry after both are parsed:
the same scheme, host and port (the scheme's default port when none is
written) and a path at or below the entry's path, segment by segment. A URL
with user information (``https://a@b/``), a fragment, or anything but http(s)
never matches, so ``http://ehr:9100@attacker/fhir`` is not mistaken for ``ehr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import orjson

from rxguard.errors import InputError

_KEYS = {"iss", "jwks_url", "jwks", "tenants", "jurisdiction", "fhir_servers", "note"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class FhirOrigin:
    """A FHIR server an issuer may make rxguard fetch from: scheme, host, port and base path."""

    scheme: str
    host: str
    port: int
    path: tuple[str, ...]

    def admits(self, url: str) -> bool:
        """True when ``url`` is on this server, at or below its base path."""
        other = parse_fhir_origin(url)
        return (
            other is not None
            and (other.scheme, other.host, other.port) == (self.scheme, self.host, self.port)
            and other.path[: len(self.path)] == self.path
        )


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    return parts


def parse_fhir_origin(url: str) -> FhirOrigin | None:
    """The origin and path of an http(s) URL; None for user information, a fragment or a bad port."""
    if not isinstance(url, str) or any(ch in url for ch in "\\\x00\r\n\t "):
        return None
    parts = _split(url)
    if parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.fragment:
        return None
    segments = tuple(s for s in parts.path.split("/") if s)
    if any(s in (".", "..") or "%2f" in s.lower() or "%2e" in s.lower() for s in segments):
        return None
    return FhirOrigin(parts.scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[parts.scheme], segments)


@dataclass(frozen=True)
class Issuer:
    iss: str
    jwks_url: str | None = None
    jwks: Mapping[str, Any] | None = None
    tenants: frozenset[str] | None = None
    jurisdiction: str | None = None
    fhir_servers: tuple[FhirOrigin, ...] = ()

    def allows_fhir_server(self, url: str) -> bool:
        """Deny by default: only a server listed in ``fhir_servers``, compared after parsing."""
        return any(origin.admits(url) for origin in self.fhir_servers)


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
        raise InputError(f"{where} ({iss}): 'fhir_servers' must be a list of FHIR base URLs")
    origins = []
    for server in servers:
        origin = parse_fhir_origin(server)
        if origin is None:
            raise InputError(
                f"{where} ({iss}): fhir_servers entry {server!r} must be an http(s) URL without user "
                "information or fragment, e.g. https://ehr.example.org/fhir"
            )
        origins.append(origin)
    return Issuer(
        iss=iss,
        jwks_url=jwks_url,
        jwks=jwks,
        tenants=frozenset(tenants) if tenants is not None else None,
        jurisdiction=jurisdiction,
        fhir_servers=tuple(origins),
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
