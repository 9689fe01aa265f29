"""rxguard's FHIR R4 endpoint (``/fhir``): what an EHR or a pharmacy system asks a REMS administrator.

* ``GET /fhir/metadata`` — the CapabilityStatement;
* ``POST /fhir/GuidanceResponse/$rems-etasu`` — are the ETASU met (HL7 Medication REMS IG);
* ``GET /fhir/OperationDefinition/rems-etasu`` — the operation as rxguard serves it.

Callers authenticate as elsewhere in rxguard: an rxguard API token (a user,
scoped to their patients) or a JWT signed by a trusted EHR (resolved through
that EHR's identity links).
"""
