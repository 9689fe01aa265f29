"""Test and benchmark helpers: a signing EHR, a small FHIR server, uvicorn on loopback.

Used by the test suite and ``bench/cds_hooks.py``; nothing here runs in the
service. Keys are generated fresh (``cryptography``), servers listen on
127.0.0.1 with an ephemeral port and stop when the ``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class SigningEhr:
    """An EHR that signs CDS Hooks JWTs (ES384 by default, RS384 with ``algorithm='RS384'``)."""

    iss: str = "https://ehr.test"
    algorithm: str = "ES384"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.algorithm.startswith("ES"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[self.algorithm]
            self.private_key: Any = ec.generate_private_key(curve)
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        data: dict[str, Any] = orjson.loads(algorithm.to_jwk(self.private_key.public_key()))
        data.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return data

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(self, aud: str, *, lifetime: int = 300, headers: Mapping[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
        payload.update(claims)
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers=header)

    def issuer_entry(self, **extra: Any) -> dict[str, Any]:
        return {"iss": self.iss, "jwks": self.jwks(), **extra}


def fhir_server_app(resources: Mapping[str, Any], *, jwks: Mapping[str, Any] | None = None,
                    token: str | None = None) -> Starlette:  # fmt: skip
    """A tiny FHIR server: ``GET /fhir/{query}`` answers ``resources[query]`` (exact path + query).

    With ``token`` set, requests without ``Authorization: Bearer <token>`` get 401, like a real
    server would; ``/jwks`` serves ``jwks`` (a JWKS URL for key-rotation tests). ``calls``
    on the app's state records every query asked.
    """
    calls: list[str] = []

    async def fhir(request: Request) -> Response:
        query = request.url.path.removeprefix("/fhir/")
        if request.url.query:
            query += "?" + request.url.query
        calls.append(query)
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return Response(status_code=401)
        if query not in resources:
            return Response(orjson.dumps({"resourceType": "OperationOutcome"}), 404, media_type="application/fhir+json")
        return Response(orjson.dumps(resources[query]), media_type="application/fhir+json")

    async def jwks_route(_: Request) -> Response:
        return Response(orjson.dumps(jwks or {"keys": []}), media_type="application/json")

    app = Starlette(routes=[Route("/jwks", jwks_route), Route("/fhir/{rest:path}", fhir)])
    app.state.calls = calls
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, *, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --------------------------------------------------------------------------- requests

_KEY_BY_TYPE = {
    "Patient": "patient",
    "Condition": "conditions",
    "AllergyIntolerance": "allergies",
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "MedicationAdministration": "administrations",
    "Observation": "labs",
    "Procedure": "procedures",
    "DiagnosticReport": "reports",
}


def searchset(resources: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


def prefetch_from_bundle(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The prefetch an EHR would send for a patient Bundle: one searchset per template key."""
    grouped: dict[str, list[Mapping[str, Any]]] = {key: [] for key in _KEY_BY_TYPE.values()}
    patient: Mapping[str, Any] | None = None
    for entry in bundle.get("entry", ()):
        resource = entry.get("resource", {})
        rtype = resource.get("resourceType")
        if rtype == "Patient":
            patient = resource
        elif rtype in _KEY_BY_TYPE:
            grouped[_KEY_BY_TYPE[rtype]].append(resource)
    out: dict[str, Any] = {key: searchset(items) for key, items in grouped.items() if key != "patient"}
    out["patient"] = patient
    return out


def fhir_resources_for(prefetch: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    """What a FHIR server answers to each of rxguard's prefetch queries for this patient."""
    from rxguard.cds_hooks.prefetch import PREFETCH, render

    context = {"patientId": patient_id}
    return {render(template, context): prefetch[key] for key, template in PREFETCH.items() if key in prefetch}


def cds_request(
    hook: str, patient_id: str, prefetch: Mapping[str, Any] | None, *, draft_orders: Mapping[str, Any] | None = None,
    user: str = "Practitioner/dr_ada", **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    context: dict[str, Any] = {"userId": user, "patientId": patient_id}
    if draft_orders is not None:
        context["draftOrders"] = draft_orders
        context["selections"] = [
            f"MedicationRequest/{e['resource']['id']}" for e in draft_orders.get("entry", ()) if "id" in e["resource"]
        ]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def draft_medication_request(
    patient_id: str, *, text: str = "", coding: list[dict[str, str]] | None = None, rid: str = "draft-1",
    dose_mg: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    concept: dict[str, Any] = {}
    if text:
        concept["text"] = text
    if coding:
        concept["coding"] = coding
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"}, "medicationCodeableConcept": concept,
    }  # fmt: skip
    if dose_mg is not None:
        resource["dosageInstruction"] = [{"doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg"}}]}]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
