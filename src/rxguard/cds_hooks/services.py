"""The three CDS services, and what each does with a call.

* ``rxguard-patient-view`` (``patient-view``): for every rxguard drug the
  patient has a record of (ordered, taken or infused), monitoring overdue and
  due, the stratum of the pack's risk model, program status and any hold or contraindication
  — everything useful, because some EHRs (Oracle Health) call only this hook;
* ``rxguard-order-select`` and ``rxguard-order-sign`` (``order-select``,
  ``order-sign``): for every draft MedicationRequest of an rxguard drug —
  recognised by RxNorm or ATC code or by name — contraindications, holds,
  cautions and program gaps, with a suggestion to remove the draft order.

A drug is recognised in an order through the packs' own value sets (the same
tagging the engine uses) and, failing that, through the name resolver on the
order's text, so a brand name with a strength and an ATC code both land on the drug.

The services' descriptions name the drugs and risk models of the loaded packs, so a
new pack shows up in discovery without a change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rxguard.cds_hooks.cards import CardContext, ProgramGap, due_cards, finding_cards, program_cards, stratum_card
from rxguard.cds_hooks.prefetch import PREFETCH
from rxguard.engine import assess
from rxguard.engine.check import refuse_deceased
from rxguard.engine.facts import read_facts
from rxguard.facts.fhir import iter_resources
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.names import find_drugs_in_text

CDS_HOOKS_VERSION = "2.0.1"
ORDER_HOOKS = ("order-select", "order-sign")


def _or(names: Sequence[str]) -> str:
    names = list(dict.fromkeys(names))
    if len(names) <= 1:
        return names[0] if names else ""
    return f"{', '.join(names[:-1])} or {names[-1]}"


def pack_words(packs: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The words a description is filled in with: the loaded packs' drugs and risk models."""
    packs = load_all() if packs is None else packs
    drugs = _or([p.identity.display.get("en", p.identity.inn) for p in packs.values()]) or "an rxguard drug"
    models = [p.risk.title for p in packs.values() if p.risk is not None]
    risk = f"the risk stratum ({', '.join(models)})" if models else "the risk stratum"
    return {"drugs": drugs, "risk": risk}


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str  # a template: {drugs} and {risk} are filled in from the loaded packs

    def describe(self, packs: Mapping[str, Any] | None = None) -> str:
        return self.description.format(**pack_words(packs))

    def discovery(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hook": self.hook,
            "title": self.title,
            "description": self.describe(),
            "prefetch": dict(PREFETCH),
            "version": CDS_HOOKS_VERSION,
            "usageRequirements": (
                "Send a JWT signed by a key in rxguard's issuer allowlist. Prefetch every key, or send "
                "fhirServer with fhirAuthorization so rxguard can fetch what is missing."
            ),
        }


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "rxguard-patient-view",
            "patient-view",
            "rxguard: monitoring, risk stratum and program status",
            "For a patient on {drugs}: monitoring that is overdue or due, {risk}, "
            "restricted-distribution program gaps, and any hold or contraindication, each with its "
            "evidence and the label section it rests on.",
        ),
        Service(
            "rxguard-order-select",
            "order-select",
            "rxguard: high-risk medicine order check",
            "When {drugs} is selected (by RxNorm, ATC or name): contraindications, holds, "
            "cautions and program gaps such as an uncertified prescriber or a lapsed reauthorization.",
        ),
        Service(
            "rxguard-order-sign",
            "order-sign",
            "rxguard: high-risk medicine order check before signing",
            "Before an order of {drugs} is signed: contraindications, holds, cautions and "
            "program gaps, with a suggestion to remove the draft order when it must not go ahead.",
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}


# --------------------------------------------------------------------------- which drugs


def _drugs_in(resource: Mapping[str, Any], medications: Sequence[Mapping[str, Any]]) -> set[str]:
    """rxguard drugs one MedicationRequest names: by value-set code or name, else by the resolver."""
    # The order's own subject stands in as the Patient, so the reader reads the order as that patient's.
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    patient = {
        "fullUrl": ref if isinstance(ref, str) else "",
        "resource": {"resourceType": "Patient", "id": "order-subject"},
    }
    bundle = {"resourceType": "Bundle", "entry": [patient, *({"resource": r} for r in (*medications, resource))]}
    facts = read_facts(bundle)
    found = {drug for drug in load_all() if facts.tagged("medication", drug)}
    if found:
        return found
    concept = resource.get("medicationCodeableConcept")
    texts: list[str] = []
    if isinstance(concept, dict):
        texts.append(str(concept.get("text") or ""))
        texts += [str(c.get("display") or "") for c in concept.get("coding") or () if isinstance(c, dict)]
    return {r.drug for r in find_drugs_in_text(" ; ".join(t for t in texts if t))}


def ordered_drugs(draft_orders: Any) -> dict[str, list[str]]:
    """drug -> ids of the draft MedicationRequests for it (ids may be empty strings)."""
    if not isinstance(draft_orders, dict):
        return {}
    resources = list(iter_resources(draft_orders))
    medications = [r for r in resources if r.get("resourceType") == "Medication"]
    out: dict[str, list[str]] = {}
    for resource in resources:
        if resource.get("resourceType") != "MedicationRequest":
            continue
        for drug in sorted(_drugs_in(resource, medications)):
            out.setdefault(drug, []).append(str(resource.get("id") or ""))
    return out


def drugs_on_record(data: Mapping[str, Any], patient: str | None = None) -> list[str]:
    """rxguard drugs the patient has any medication record of (patient-view)."""
    return drugs_of(read_facts(dict(data), patient=patient))


def drugs_of(facts: PatientFacts) -> list[str]:
    return [drug for drug in sorted(load_all()) if facts.tagged("medication", drug)]


# --------------------------------------------------------------------------- evaluation

#: (call, drug) -> the program gaps rxguard's records show for this patient and prescriber.
GapLookup = Callable[["Call", str], Sequence[ProgramGap]]


@dataclass(frozen=True)
class Call:
    """One parsed, authenticated call with its completed prefetch."""

    service: Service
    hook_instance: str
    context: Mapping[str, Any]
    data: Mapping[str, Any]  # prefetch keys (+ draftOrders for order hooks)
    at: date
    jurisdiction: str | None
    launch_url: str
    smart_launch: bool = False
    #: The verified EHR (JWT ``iss``) and its ``tenant`` claim: the namespace its ids are resolved in.
    #: None only in explicit unauthenticated development mode, where ids are program keys.
    issuer: str | None = None
    tenant: str | None = None


def evaluate(call: Call, program_gaps: GapLookup) -> list[dict[str, Any]]:
    """Cards for one call: assess each rxguard drug involved and shape the results."""
    patient_id = str(call.context.get("patientId") or "")
    facts: PatientFacts | None = None  # read once, and only when some rxguard drug is involved
    if call.service.hook in ORDER_HOOKS:
        orders = ordered_drugs(call.context.get("draftOrders"))
        drugs = list(orders)
    else:
        orders = {}
        facts = read_facts(call.data, patient=patient_id or None)
        drugs = drugs_of(facts)
    ctx = CardContext(call.service.hook, call.hook_instance, patient_id, call.launch_url, call.smart_launch, orders)
    packs = load_all()
    cards: list[dict[str, Any]] = []
    for drug in drugs:
        if facts is None:
            facts = read_facts(call.data, patient=patient_id or None)
        pack = packs[drug]  # the pack by its id: the drugs above are pack ids
        refuse_deceased(facts, call.at)
        assessment = assess(pack, facts, at=call.at, jurisdiction=call.jurisdiction, answers={})
        display = pack.name
        cards += finding_cards(assessment, display, ctx)
        cards += program_cards(program_gaps(call, drug), drug, display, ctx)
        if call.service.hook == "patient-view":
            cards += due_cards(assessment, packs[drug], display, ctx)
            stratum = stratum_card(assessment, display, ctx)
            if stratum is not None:
                cards.append(stratum)
    return cards
