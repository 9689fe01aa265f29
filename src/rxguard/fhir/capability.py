"""The CapabilityStatement at ``/fhir/metadata``: what rxguard's FHIR endpoint serves, and nothing more."""

from __future__ import annotations

from typing import Any

import rxguard

DTR_PACKAGE = "http://hl7.org/fhir/us/davinci-dtr/OperationDefinition/questionnaire-package"
MEDICATION_REMS_IG = "http://hl7.org/fhir/us/medication-rems/ImplementationGuide/hl7.fhir.us.medication-rems"


def capability_statement(base: str, *, date: str) -> dict[str, Any]:
    fhir = f"{base}/fhir"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "rxguard",
        "kind": "instance",
        "software": {"name": "rxguard", "version": rxguard.__version__},
        "implementation": {"description": "rxguard REMS administrator FHIR endpoint", "url": fhir},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "implementationGuide": [MEDICATION_REMS_IG],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Send 'Authorization: Bearer rxg_…' (an rxguard API token) or a JWT signed by an EHR in "
                    "rxguard's issuer allowlist (aud = the URL called). Patients are matched through the caller's "
                    "identity links; an unlinked patient is unknown to the program."
                ),
                "security": {
                    "description": "Bearer API tokens, or EHR-signed JWTs as for CDS Hooks (see docs/interop.md)."
                },
                "resource": [
                    {
                        "type": "GuidanceResponse",
                        "operation": [{"name": "rems-etasu", "definition": f"{fhir}/OperationDefinition/rems-etasu"}],
                    },
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "operation": [{"name": "questionnaire-package", "definition": DTR_PACKAGE}],
                    },
                    {"type": "QuestionnaireResponse", "interaction": [{"code": "create"}]},
                    {"type": "OperationDefinition", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }
