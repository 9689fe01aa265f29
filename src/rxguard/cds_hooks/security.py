"""Checking the JWT an EHR signs on every CDS Hooks call (CDS Hooks 2.0 §Security).

A call is accepted only when all of these hold, in this order:

1. the header's ``alg`` is asymmetric and allowed (ES*/RS*/PS*; never
   ``none``, never HMAC, which would let anyone holding the public key sign);
2. ``iss`` is in the allowlist; a ``jku`` header, if any, equals the
   issuer's configured JWKS URL;
3. the signature verifies with the issuer's key for the header's ``kid``
   (JWKS fetched over httpx with bounded timeouts and cached; an unknown
   ``kid`` triggers one refetch, at most every ``min_refetch`` seconds,
   which is how key rotation is picked up without letting random ``kid``
   values turn rxguard into a JWKS-fetching amplifier);
4. ``aud`` is the URL called (built from the configured public URL, never
   from request headers); ``exp``, ``iat`` and ``jti`` are present and of
   the right type (a claim of the wrong type, e.g. ``iss`` as a list, is a
   401 like any other refusal),
   ``exp`` is in the future, ``iat`` not in the future, and the token lives
   no longer than the configured maximum;
5. ``tenant``, when the issuer lists tenants, is one of them;
6. ``jti`` has not been seen before from this issuer.

Any failure raises :class:`CdsAuthError`; the HTTP layer answers 401 with
no detail and logs only the reason, ``iss`` and ``jti`` — never the token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from rxguard.cds_hooks.issuers import Issuer

ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_KTY_FOR = {"E": "EC", "R": "RSA", "P": "RSA"}
MAX_JWKS_BYTES = 256 * 1024


class CdsAuthError(Exception):
    """The call is not authenticated; ``reason`` is for the log only, never for the client."""

    def __init__(self, reason: str, *, iss: str | None = None, jti: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.iss, self.jti = reason, iss, jti


@dataclass(frozen=True)
class CdsCaller:
    """Who called, once the JWT checks out."""

    issuer: Issuer
    jti: str
    tenant: str | None
    subject: str | None
    #: Until when the ``jti`` must be remembered; set when the caller remembers it itself.
    jti_expires_at: datetime | None = None


@dataclass(frozen=True)
class _Key:
    jwk: jwt.PyJWK
    declared_alg: str | None


@dataclass
class _KeySet:
    keys: dict[str | None, _Key] = field(default_factory=dict)
    fetched_at: float = 0.0


class JwksCache:
    """Public keys per issuer: inline JWKS as given, JWKS URLs fetched and cached for ``ttl`` seconds."""

    def __init__(self, client: httpx.AsyncClient, *, ttl: float, min_refetch: float = 30.0) -> None:
        self._client = client
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._sets: dict[str, _KeySet] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, issuer: Issuer, kid: str | None, alg: str) -> Any:
        keyset = await self._keyset(issuer, refresh=False)
        key = _pick(keyset, kid, alg)
        if key is None and issuer.jwks_url and time.monotonic() - keyset.fetched_at >= self._min_refetch:
            keyset = await self._keyset(issuer, refresh=True)  # the EHR may have rotated its keys
            key = _pick(keyset, kid, alg)
        if key is None:
            raise CdsAuthError(f"no key {kid!r} for {alg} in the issuer's JWKS", iss=issuer.iss)
        return key

    async def _keyset(self, issuer: Issuer, *, refresh: bool) -> _KeySet:
        cached = self._sets.get(issuer.iss)
        fresh = cached is not None and (issuer.jwks is not None or time.monotonic() - cached.fetched_at < self._ttl)
        if cached is not None and fresh and not refresh:
            return cached
        lock = self._locks.setdefault(issuer.iss, asyncio.Lock())
        async with lock:
            current = self._sets.get(issuer.iss)
            if current is not None and current is not cached:
                return current  # another request refreshed it while we waited
            data = issuer.jwks if issuer.jwks is not None else await self._fetch(issuer)
            keyset = _KeySet(_parse_jwks(data), time.monotonic())
            self._sets[issuer.iss] = keyset
            return keyset

    async def _fetch(self, issuer: Issuer) -> Mapping[str, Any]:
        assert issuer.jwks_url is not None
        try:
            response = await self._client.get(issuer.jwks_url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CdsAuthError(f"JWKS fetch failed ({type(exc).__name__})", iss=issuer.iss) from None
        if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
            raise CdsAuthError(f"JWKS fetch answered {response.status_code}", iss=issuer.iss)
        try:
            data = response.json()
        except ValueError:
            raise CdsAuthError("JWKS is not JSON", iss=issuer.iss) from None
        if not isinstance(data, dict):
            raise CdsAuthError("JWKS is not an object", iss=issuer.iss)
        return data


def _parse_jwks(data: Mapping[str, Any]) -> dict[str | None, _Key]:
    keys: dict[str | None, _Key] = {}
    for jwk in data.get("keys", ()):
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("EC", "RSA"):
            continue  # symmetric ("oct") keys are never trusted
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[jwk.get("kid")] = _Key(jwt.PyJWK(jwk), jwk.get("alg"))
        except PyJWKError:
            continue
    return keys


def _pick(keyset: _KeySet, kid: str | None, alg: str) -> Any:
    """The one key that may verify ``alg``: same kid, right key type, no other declared alg."""
    if kid is not None:
        candidate = keyset.keys.get(kid)
        candidates = [candidate] if candidate is not None else []
    else:
        candidates = list(keyset.keys.values())
    fitting = [
        k for k in candidates
        if k.jwk.key_type == _KTY_FOR[alg[0]] and k.declared_alg in (alg, None)
    ]  # fmt: skip
    return fitting[0].jwk.key if len(fitting) == 1 else None


RememberJti = Callable[[str, str, datetime], Awaitable[bool]]


class JwtVerifier:
    def __init__(
        self, issuers: Mapping[str, Issuer], jwks: JwksCache, remember_jti: RememberJti, *,
        max_lifetime: int, leeway: int,
    ) -> None:  # fmt: skip
        self._issuers = issuers
        self._jwks = jwks
        self._remember = remember_jti
        self._max_lifetime = max_lifetime
        self._leeway = leeway

    async def verify(self, authorization: str | None, audiences: Iterable[str], *, remember: bool = True) -> CdsCaller:
        """The verified caller; with ``remember=False`` the ``jti`` is NOT yet recorded: the caller
        must record it (``jti_expires_at``) and refuse the call if it was seen, before answering."""
        try:
            return await self._verify(authorization, audiences, remember=remember)
        except (TypeError, ValueError, KeyError, OverflowError) as exc:  # a shape no check above foresaw
            raise CdsAuthError(f"malformed JWT ({type(exc).__name__})") from None

    async def _verify(self, authorization: str | None, audiences: Iterable[str], *, remember: bool) -> CdsCaller:
        token = _bearer_token(authorization)
        try:  # header and claims read once, unverified: they say whose key verifies the signature
            parts = jwt.decode_complete(token, options={"verify_signature": False})
        except InvalidTokenError:
            raise CdsAuthError("malformed JWT") from None
        header, unverified = parts["header"], parts["payload"]
        _check_header_types(header)
        alg = header["alg"]
        if alg not in ALLOWED_ALGORITHMS:
            raise CdsAuthError(f"alg {alg!r} is not allowed")
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise CdsAuthError(f"iss must be a string, not {type(iss).__name__}")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise CdsAuthError("iss not in the allowlist", iss=iss[:255])
        jku = header.get("jku")
        if jku is not None and jku != issuer.jwks_url:
            raise CdsAuthError("jku differs from the configured JWKS URL", iss=issuer.iss)
        key = await self._jwks.key(issuer, header.get("kid"), alg)
        claims = self._decode(token, key, alg, issuer, list(audiences))
        jti = claims["jti"]
        tenant = claims.get("tenant")
        if issuer.tenants is not None and tenant not in issuer.tenants:
            raise CdsAuthError("tenant not allowed", iss=issuer.iss, jti=jti)
        expires_at = datetime.fromtimestamp(int(claims["exp"]) + self._leeway, UTC)
        if remember and not await self._remember(issuer.iss, jti, expires_at):
            raise CdsAuthError("jti replayed", iss=issuer.iss, jti=jti)
        return CdsCaller(issuer=issuer, jti=jti, tenant=tenant, subject=claims.get("sub"),
                         jti_expires_at=None if remember else expires_at)  # fmt: skip

    def _decode(self, token: str, key: Any, alg: str, issuer: Issuer, audiences: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=audiences, issuer=issuer.iss,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True},
            )  # fmt: skip
        except InvalidTokenError as exc:
            raise CdsAuthError(f"JWT refused: {type(exc).__name__}", iss=issuer.iss) from None
        _check_claim_types(claims, issuer.iss)
        jti, iat, exp = claims["jti"], claims["iat"], claims["exp"]
        if iat > time.time() + self._leeway:
            raise CdsAuthError("iat in the future", iss=issuer.iss, jti=jti)
        if exp - iat > self._max_lifetime:
            raise CdsAuthError("JWT lifetime too long", iss=issuer.iss, jti=jti)
        return claims


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_header_types(header: Mapping[str, Any]) -> None:
    """Every header member rxguard reads has the type RFC 7515 gives it; anything else is a 401."""
    if not isinstance(header.get("alg"), str):
        raise CdsAuthError("alg must be a string")
    for name in ("kid", "jku", "typ"):
        if header.get(name) is not None and not isinstance(header[name], str):
            raise CdsAuthError(f"{name} must be a string")


def _check_claim_types(claims: Mapping[str, Any], iss: str) -> None:
    """Every claim rxguard reads has the type RFC 7519 and CDS Hooks give it; anything else is a 401."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise CdsAuthError("jti must be a string of 1-255 characters", iss=iss)
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            raise CdsAuthError(f"{name} must be a number", iss=iss, jti=jti)
    aud = claims.get("aud")
    if not (isinstance(aud, str) or (isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud))):
        raise CdsAuthError("aud must be a string or a list of strings", iss=iss, jti=jti)
    for name in ("sub", "tenant"):
        if claims.get(name) is not None and not (isinstance(claims[name], str) and len(claims[name]) <= 255):
            raise CdsAuthError(f"{name} must be a string of at most 255 characters", iss=iss, jti=jti)


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise CdsAuthError("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CdsAuthError("Authorization is not a Bearer token")
    return token.strip()
