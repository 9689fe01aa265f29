"""An adverse event as an ICH E2B(R3) Individual Case Safety Report (HL7 v3 XML, FDA regional fields).

The message is the ICH batch wrapper ``MCCI_IN200100UV01`` around one
``PORR_IN049016UV`` message, element by element as the ICH E2B(R3)
implementation guide and the FDA E2B(R3) technical specifications name them
(each element carries its data element number in a comment-free ``ELEMENTS``
table below, which :func:`check_icsr` uses). What rxguard holds fills the
case: the patient (initials, sex, birth date), the reaction (the reporter's
MedDRA coding, onset, seriousness criteria, outcome), the suspect drug (the
program's medicine, last product and lot), the reporter (the enrolling
prescriber) and the narrative. The sender (the REMS administrator's safety
contact) comes from a :class:`Sender` the deployment configures.

Nothing is made up: an element rxguard does not hold and the rules allow to be
null carries a ``nullFlavor``; one that must have a value and has none is
reported by :func:`check_icsr` (for example E.i.2.1b, the MedDRA code,
until the reporter supplies it), and the CLI refuses to write such a report
unless asked for a draft.

Validation: the ICH XML schema files were not available to this project, so
:func:`check_icsr` checks the message against the published element list
(the FDA "Core and Regional Data Elements" table: required elements, maximum
lengths, MedDRA shapes, code values used here). See docs/interop.md.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program.adverse_events import check_meddra, event_context, needs_alert_report
from rxguard.store.models import AdverseEvent

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ICH = "2.16.840.1.113883.3.989.2.1"  # ICH OID arc
FDA = "2.16.840.1.113883.3.989.5.1.2.2.1"
MEDDRA_OID = "2.16.840.1.113883.6.163"
NCI_OID = "2.16.840.1.113883.3.26.1.1"
COUNTRY_OID = "1.0.3166.1.2.2"
ET.register_namespace("", HL7)
ET.register_namespace("xsi", XSI)

#: E.i.7 outcome codes (ICH code list) for rxguard's outcomes.
OUTCOME = {"recovered": "1", "recovering": "2", "not-recovered": "3", "recovered-with-sequelae": "4",
           "fatal": "5", "unknown": "0"}  # fmt: skip
#: E.i.3.2a-f and FDA.E.i.3.2h: (element, code, code system, display) per rxguard seriousness criterion.
CRITERIA = (
    ("E.i.3.2a", "34", f"{ICH}.1.19", "resultsInDeath", "death"),
    ("E.i.3.2b", "21", f"{ICH}.1.19", "isLifeThreatening", "life-threatening"),
    ("E.i.3.2c", "33", f"{ICH}.1.19", "requiresInpatientHospitalization", "hospitalisation"),
    ("E.i.3.2d", "35", f"{ICH}.1.19", "resultsInPersistentOrSignificantDisability", "disability"),
    ("E.i.3.2e", "12", f"{ICH}.1.19", "congenitalAnomalyBirthDefect", "congenital-anomaly"),
    ("E.i.3.2f", "26", f"{ICH}.1.19", "otherMedicallyImportantCondition", "other-serious"),
    ("FDA.E.i.3.2h", "7", f"{FDA}.3", "requiredIntervention", "required-intervention"),
)
_SEX = {"male": ("1", "Male"), "female": ("2", "Female")}


@dataclass(frozen=True)
class Sender:
    """The organisation that sends the report (C.3) and the batch identifiers (N.1.3, N.2.r.2)."""

    identifier: str = ""
    organisation: str = ""
    department: str = ""
    title: str = ""
    given_name: str = ""
    family_name: str = ""
    street: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    telephone: str = ""
    fax: str = ""
    email: str = ""
    sender_type: str = "1"  # C.3.1: 1 = pharmaceutical company
    receiver: str = "ZZFDA"  # N.1.4 batch receiver (FDA)
    message_receiver: str = "CDER"  # N.2.r.3


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S%z")


def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{HL7}}}{tag}", {k.replace("__", ":"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _xsi(element: ET.Element, kind: str) -> ET.Element:
    element.set(f"{{{XSI}}}type", kind)
    return element


def _observation(parent: ET.Element, code: str, system: str, display: str) -> ET.Element:
    outbound = _el(parent, "outboundRelationship2", typeCode="PERT")
    observation = _el(outbound, "observation", classCode="OBS", moodCode="EVN")
    _el(observation, "code", code=code, codeSystem=system, displayName=display)
    return observation


def _bool(parent: ET.Element, value: bool | None) -> None:
    element = _xsi(_el(parent, "value"), "BL")
    if value is None:
        element.set("nullFlavor", "NI")
    else:
        element.set("value", "true" if value else "false")


def _initials(name: str) -> str:
    return "".join(part[0] for part in re.split(r"\s+", name.strip()) if part)[:60] or "UNK"


def to_icsr(session: Session, event: AdverseEvent, sender: Sender, *, now: datetime) -> bytes:
    """The ICSR XML for one event."""
    enrollment, patient, doc, last = event_context(session, event)
    criteria = set(event.seriousness.get("criteria", []))
    case_id = f"{sender.country or 'XX'}-{(sender.organisation or 'RXGUARD')[:20].upper().replace(' ', '')}-{event.id}"
    root = ET.Element(f"{{{HL7}}}MCCI_IN200100UV01", {"ITSVersion": "XML_1.0"})
    _el(root, "id", extension=f"rxguard-{event.id}", root=f"{ICH}.3.22")  # N.1.2
    _el(root, "creationTime", value=_ts(now))  # N.1.5
    _el(root, "responseModeCode", code="D")
    _el(root, "interactionId", extension="MCCI_IN200100UV01", root="2.16.840.1.113883.1.6")
    _el(root, "name", code="1", displayName="ichicsr", codeSystem=f"{ICH}.1.1")  # N.1.1
    message = _el(root, "PORR_IN049016UV")
    _el(message, "id", extension=event.id, root=f"{ICH}.3.1")  # N.2.r.1
    _el(message, "creationTime", value=_ts(now))  # N.2.r.4
    _el(message, "interactionId", extension="PORR_IN049016UV", root="2.16.840.1.113883.1.6")
    _el(message, "processingCode", code="P")
    _el(message, "processingModeCode", code="T")
    _el(message, "acceptAckCode", code="AL")
    device = _el(_el(message, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
    _el(device, "id", extension=sender.message_receiver, root=f"{ICH}.3.12")  # N.2.r.3
    device = _el(_el(message, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
    _el(device, "id", extension=sender.identifier, root=f"{ICH}.3.11")  # N.2.r.2
    control = _el(message, "controlActProcess", classCode="CACT", moodCode="EVN")
    _el(control, "code", code="PORR_TE049016UV", codeSystem="2.16.840.1.113883.1.18")
    _el(control, "effectiveTime", value=_ts(now))  # C.1.2
    investigation = _el(_el(control, "subject", typeCode="SUBJ"), "investigationEvent", classCode="INVSTG",
                        moodCode="EVN")  # fmt: skip
    _el(investigation, "id", extension=case_id, root=f"{ICH}.3.1")  # C.1.1
    _el(investigation, "id", extension=case_id, root=f"{ICH}.3.2")  # C.1.8.1
    _el(investigation, "code", code="PAT_ADV_EVNT", codeSystem="2.16.840.1.113883.5.4")
    narrative = f"[{event.kind}] {event.description}".strip()
    _el(investigation, "text", narrative[:100000])  # H.1
    _el(investigation, "statusCode", code="active")
    _el(_el(investigation, "effectiveTime"), "low", value=_ts(event.reported_at))  # C.1.4
    _el(investigation, "availabilityTime", value=_ts(event.reported_at))  # C.1.5

    assessment = _el(_el(investigation, "component", typeCode="COMP"), "adverseEventAssessment",
                     classCode="INVSTG", moodCode="EVN")  # fmt: skip
    role = _el(_el(assessment, "subject1", typeCode="SBJ"), "primaryRole", classCode="INVSBJ")
    person = _el(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    _el(person, "name", _initials(patient.name))  # D.1
    if patient.sex in _SEX:
        code, display = _SEX[patient.sex]
        _el(person, "administrativeGenderCode", code=code, displayName=display, codeSystem="1.0.5218")  # D.5
    if patient.birth_on:
        _el(person, "birthTime", value=_day(patient.birth_on))  # D.2.1
    for code, display in (("C17049", "Race"), ("C16564", "Ethnic Group")):  # FDA.D.11.r.1, FDA.D.12: not held
        observation = _el(_el(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        _el(observation, "code", code=code, displayName=display, codeSystem=NCI_OID)
        _xsi(_el(observation, "value", nullFlavor="UNK"), "CE")

    reaction_id = f"reaction-{event.id}"
    reaction = _el(_el(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
    _el(reaction, "id", root=reaction_id)
    _el(reaction, "code", code="29", codeSystem=f"{ICH}.1.19", displayName="reaction")  # E.i.0
    _el(_xsi(_el(reaction, "effectiveTime"), "IVL_TS"), "low", value=_day(event.onset_on))  # E.i.4
    value = _xsi(_el(reaction, "value", codeSystem=MEDDRA_OID), "CE")  # E.i.2.1a/b
    if event.meddra_llt:
        value.set("code", event.meddra_llt)
        value.set("codeSystemVersion", event.meddra_version or "")
    _el(value, "originalText", event.description[:250])  # E.i.1.1a
    for _element, code, system, display, criterion in CRITERIA:
        _bool(_observation(reaction, code, system, display), True if criterion in criteria else None)
    outcome = _observation(reaction, "27", f"{ICH}.1.19", "outcome")  # E.i.7
    _xsi(_el(outcome, "value", code=OUTCOME[event.outcome], codeSystem=f"{ICH}.1.11"), "CE")

    drugs = _el(_el(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _el(drugs, "code", code="4", codeSystem=f"{ICH}.1.20", displayName="drugInformation")  # G.k
    administration = _el(_el(drugs, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM",
                         moodCode="EVN")  # fmt: skip
    drug_id = f"drug-{event.id}"
    _el(administration, "id", root=drug_id)
    product = _el(_el(_el(administration, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"),
                  "kindOfProduct", classCode="MMAT", determinerCode="KIND")  # fmt: skip
    _el(product, "name", (last.product if last else enrollment.drug)[:250])  # G.k.2.2
    ingredient = _el(product, "ingredient", classCode="ACTI")
    _el(_el(ingredient, "ingredientSubstance", classCode="MMAT", determinerCode="KIND"), "name", enrollment.drug)
    if last is not None:
        dose = _el(administration, "outboundRelationship2", typeCode="COMP")
        given = _el(dose, "substanceAdministration", classCode="SBADM", moodCode="EVN")
        _el(_xsi(_el(given, "effectiveTime"), "IVL_TS"), "low", value=_day(last.started_at.date()))  # G.k.4.r.4
        lot = _el(_el(_el(given, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"),
                  "productInstanceInstance", classCode="MMAT", determinerCode="INSTANCE")  # fmt: skip
        _el(lot, "lotNumberText", last.lot[:35])  # G.k.4.r.7
    indication = _el(_el(administration, "inboundRelationship", typeCode="RSON"), "observation", classCode="OBS",
                     moodCode="EVN")  # fmt: skip
    _el(indication, "code", code="19", codeSystem=f"{ICH}.1.19", displayName="indication")  # G.k.7.r
    _el(_xsi(_el(indication, "value", codeSystem=MEDDRA_OID), "CE"), "originalText", enrollment.indication)

    role_component = _el(assessment, "component", typeCode="COMP")
    causality = _el(role_component, "causalityAssessment", classCode="OBS", moodCode="EVN")
    _el(causality, "code", code="20", codeSystem=f"{ICH}.1.19", displayName="interventionCharacterization")
    _xsi(_el(causality, "value", code="1", displayName="Suspect", codeSystem=f"{ICH}.1.13"), "CE")  # G.k.1
    reference = _el(_el(causality, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM",
                    moodCode="EVN")  # fmt: skip
    _el(reference, "id", root=drug_id)

    for code, system, display, value_text in (
        ("1", f"{ICH}.1.19", "additionalDocumentsAvailable", "false"),  # C.1.6.1
        ("23", f"{ICH}.1.19", "localCriteriaForExpedited", "true" if needs_alert_report(event) else "false"),  # C.1.7
    ):
        observation = _el(_el(investigation, "component", typeCode="COMP"), "observationEvent", classCode="OBS",
                          moodCode="EVN")  # fmt: skip
        _el(observation, "code", code=code, codeSystem=system, displayName=display)
        _xsi(_el(observation, "value", value=value_text), "BL")
    if needs_alert_report(event):  # FDA.C.1.7.1: 1 = 15-Day
        observation = _el(_el(investigation, "component", typeCode="COMP"), "observationEvent", classCode="OBS",
                          moodCode="EVN")  # fmt: skip
        _el(observation, "code", code="C54588", codeSystem=NCI_OID, displayName="localCriteriaReportType")
        _xsi(_el(observation, "value", code="1", codeSystem=f"{FDA}.1.1", displayName="15-Day"), "CE")
    observation = _el(
        _el(investigation, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN"
    )  # fmt: skip  FDA.C.1.12
    _el(observation, "code", code="C156384", codeSystem=NCI_OID, displayName="Combination Product Report Indicator")
    _xsi(_el(observation, "value", value="false"), "BL")

    first = _el(_el(investigation, "outboundRelationship", typeCode="SPRT"), "relatedInvestigation",
                classCode="INVSTG", moodCode="EVN")  # fmt: skip
    _el(first, "code", code="1", codeSystem=f"{ICH}.1.22", displayName="initialReport")
    author = _el(_el(_el(first, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                 "author", typeCode="AUT")  # fmt: skip
    _el(
        _el(author, "assignedEntity", classCode="ASSIGNED"),
        "code",
        code="2",
        displayName="other",
        codeSystem=f"{ICH}.1.3",
    )  # fmt: skip  C.1.8.2
    source = _el(investigation, "outboundRelationship", typeCode="SPRT")
    _el(source, "priorityNumber", value="1")  # C.2.r.5
    related = _el(source, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
    _el(related, "code", code="2", codeSystem=f"{ICH}.1.22", displayName="sourceReport")
    author = _el(_el(_el(related, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                 "author", typeCode="AUT")  # fmt: skip
    reporter = _el(author, "assignedEntity", classCode="ASSIGNED")
    _el(reporter, "telecom", nullFlavor="ASKU")  # FDA.C.2.r.2.8: rxguard holds no reporter e-mail
    reporter_person = _el(reporter, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
    name = _el(reporter_person, "name")
    parts = doc.name.split()
    _el(name, "given", " ".join(parts[:-1])[:35] or doc.name[:35])  # C.2.r.1.2
    _el(name, "family", (parts[-1] if parts else doc.key)[:50])  # C.2.r.1.4
    qualified = _el(reporter_person, "asQualifiedEntity", classCode="QUAL")
    _el(qualified, "code", code="1", displayName="Physician", codeSystem=f"{ICH}.1.6")  # C.2.r.4

    sender_author = _el(_el(_el(investigation, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT",
                            moodCode="EVN"), "author", typeCode="AUT")  # fmt: skip
    entity = _el(sender_author, "assignedEntity", classCode="ASSIGNED")
    _el(entity, "code", code=sender.sender_type, codeSystem=f"{ICH}.1.7")  # C.3.1
    address = _el(entity, "addr")
    for tag, text in (
        ("streetAddressLine", sender.street),
        ("city", sender.city),
        ("state", sender.state),
        ("postalCode", sender.postcode),
    ):  # fmt: skip  C.3.4.1-4
        _el(address, tag, text)
    for scheme, text in (("tel", sender.telephone), ("fax", sender.fax), ("mailto", sender.email)):  # C.3.4.6-8
        _el(entity, "telecom", value=f"{scheme}:{text}" if text else "")
    sender_person = _el(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
    name = _el(sender_person, "name")
    _el(name, "prefix", sender.title)  # C.3.3.2
    _el(name, "given", sender.given_name)  # C.3.3.3
    _el(name, "family", sender.family_name)  # C.3.3.5
    located = _el(_el(sender_person, "asLocatedEntity", classCode="LOCE"), "location", classCode="COUNTRY",
                  determinerCode="INSTANCE")  # fmt: skip
    _el(located, "code", code=sender.country, codeSystem=COUNTRY_OID)  # C.3.4.5
    department = _el(entity, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
    _el(department, "name", sender.department)  # C.3.3.1
    organisation = _el(_el(department, "assignedEntity", classCode="ASSIGNED"), "representedOrganization",
                       classCode="ORG", determinerCode="INSTANCE")  # fmt: skip
    _el(organisation, "name", sender.organisation)  # C.3.2

    for code, display, value_code, value_system, value_display in (
        ("1", "ICH ReportType", "1", f"{ICH}.1.2", "Spontaneous report"),  # C.1.3
    ):
        characteristic = _el(_el(investigation, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic",
                             classCode="OBS", moodCode="EVN")  # fmt: skip
        _el(characteristic, "code", code=code, codeSystem=f"{ICH}.1.23", displayName=display)
        _xsi(_el(characteristic, "value", code=value_code, codeSystem=value_system, displayName=value_display), "CE")
    characteristic = _el(
        _el(investigation, "subjectOf2", typeCode="SUBJ"),
        "investigationCharacteristic",
        classCode="OBS",
        moodCode="EVN",
    )  # fmt: skip  C.1.9.1
    _el(characteristic, "code", code="2", codeSystem=f"{ICH}.1.23", displayName="otherCaseIds")
    _xsi(_el(characteristic, "value", nullFlavor="NI"), "BL")

    batch_receiver = _el(_el(root, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
    _el(batch_receiver, "id", extension=sender.receiver, root=f"{ICH}.3.14")  # N.1.4
    batch_sender = _el(_el(root, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
    _el(batch_sender, "id", extension=sender.identifier, root=f"{ICH}.3.13")  # N.1.3
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


# --------------------------------------------------------------------------- checking against the element list


@dataclass(frozen=True)
class Element:
    """One data element of the published list: number, name, where it sits, its maximum length."""

    number: str
    name: str
    path: str  # ElementTree path from the investigationEvent (or the root for N.*), plus @attribute
    max_length: int | None = None


_I = "hl7:PORR_IN049016UV/hl7:controlActProcess/hl7:subject/hl7:investigationEvent"
_ROLE = f"{_I}/hl7:component/hl7:adverseEventAssessment/hl7:subject1/hl7:primaryRole"
_REACTION = f"{_ROLE}/hl7:subjectOf2/hl7:observation[hl7:code[@code='29']]"
_DRUG = f"{_ROLE}/hl7:subjectOf2/hl7:organizer[hl7:code[@code='4']]/hl7:component/hl7:substanceAdministration"
_SENDER = f"{_I}/hl7:subjectOf1/hl7:controlActEvent/hl7:author/hl7:assignedEntity"
_SOURCE = f"{_I}/hl7:outboundRelationship/hl7:relatedInvestigation[hl7:code[@code='2']]"

#: Required elements (ICH and FDA post-market conformance) with their maximum lengths, as the FDA
#: "Core and Regional Data Elements and Business Rules" list gives them.
ELEMENTS: tuple[Element, ...] = (
    Element("N.1.1", "Types of Message in batch", "hl7:name/@code", 2),
    Element("N.1.2", "Batch Number", "hl7:id/@extension", 100),
    Element("N.1.3", "Batch Sender Identifier", "hl7:sender/hl7:device/hl7:id/@extension", 60),
    Element("N.1.4", "Batch Receiver Identifier", "hl7:receiver/hl7:device/hl7:id/@extension", 60),
    Element("N.1.5", "Date of Batch Transmission", "hl7:creationTime/@value"),
    Element("N.2.r.1", "Message Identifier", "hl7:PORR_IN049016UV/hl7:id/@extension", 100),
    Element("N.2.r.2", "Message Sender Identifier", "hl7:PORR_IN049016UV/hl7:sender/hl7:device/hl7:id/@extension", 60),
    Element("N.2.r.3", "Message Receiver Identifier",
            "hl7:PORR_IN049016UV/hl7:receiver/hl7:device/hl7:id/@extension", 60),
    Element("N.2.r.4", "Date of Message Creation", "hl7:PORR_IN049016UV/hl7:creationTime/@value"),
    Element("C.1.1", "Sender's (case) Safety Report Unique Identifier", f"{_I}/hl7:id[1]/@extension", 100),
    Element("C.1.2", "Date of Creation", "hl7:PORR_IN049016UV/hl7:controlActProcess/hl7:effectiveTime/@value"),
    Element("C.1.3", "Type of Report",
            f"{_I}/hl7:subjectOf2/hl7:investigationCharacteristic[hl7:code[@code='1']]/hl7:value/@code", 1),
    Element("C.1.4", "Date Report Was First Received from Source", f"{_I}/hl7:effectiveTime/hl7:low/@value"),
    Element("C.1.5", "Date of Most Recent Information for This Report", f"{_I}/hl7:availabilityTime/@value"),
    Element("C.1.6.1", "Are Additional Documents Available?",
            f"{_I}/hl7:component/hl7:observationEvent[hl7:code[@code='1']]/hl7:value/@value"),
    Element("C.1.7", "Does This Case Fulfil the Local Criteria for an Expedited Report?",
            f"{_I}/hl7:component/hl7:observationEvent[hl7:code[@code='23']]/hl7:value/@value"),
    Element("FDA.C.1.12", "Combination Product Report Indicator",
            f"{_I}/hl7:component/hl7:observationEvent[hl7:code[@code='C156384']]/hl7:value/@value"),
    Element("C.1.8.1", "Worldwide Unique Case Identification", f"{_I}/hl7:id[2]/@extension", 100),
    Element("C.1.8.2", "First Sender of This Case",
            f"{_I}/hl7:outboundRelationship/hl7:relatedInvestigation[hl7:code[@code='1']]/hl7:subjectOf2/"
            "hl7:controlActEvent/hl7:author/hl7:assignedEntity/hl7:code/@code", 1),
    Element("C.1.9.1", "Other Case Identifiers in Previous Transmissions",
            f"{_I}/hl7:subjectOf2/hl7:investigationCharacteristic[hl7:code[@code='2']]/hl7:value"),
    Element("C.2.r.4", "Qualification",
            f"{_SOURCE}/hl7:subjectOf2/hl7:controlActEvent/hl7:author/hl7:assignedEntity/hl7:assignedPerson/"
            "hl7:asQualifiedEntity/hl7:code/@code", 1),
    Element("FDA.C.2.r.2.8", "Reporter's Email",
            f"{_SOURCE}/hl7:subjectOf2/hl7:controlActEvent/hl7:author/hl7:assignedEntity/hl7:telecom", 100),
    Element("C.3.1", "Sender Type", f"{_SENDER}/hl7:code/@code", 1),
    Element("C.3.2", "Sender's Organisation",
            f"{_SENDER}/hl7:representedOrganization/hl7:assignedEntity/hl7:representedOrganization/hl7:name", 100),
    Element("C.3.3.1", "Sender's Department", f"{_SENDER}/hl7:representedOrganization/hl7:name", 60),
    Element("C.3.3.2", "Sender's Title", f"{_SENDER}/hl7:assignedPerson/hl7:name/hl7:prefix", 50),
    Element("C.3.3.3", "Sender's Given Name", f"{_SENDER}/hl7:assignedPerson/hl7:name/hl7:given", 60),
    Element("C.3.3.5", "Sender's Family Name", f"{_SENDER}/hl7:assignedPerson/hl7:name/hl7:family", 60),
    Element("C.3.4.1", "Sender's Street Address", f"{_SENDER}/hl7:addr/hl7:streetAddressLine", 100),
    Element("C.3.4.2", "Sender's City", f"{_SENDER}/hl7:addr/hl7:city", 35),
    Element("C.3.4.3", "Sender's State or Province", f"{_SENDER}/hl7:addr/hl7:state", 40),
    Element("C.3.4.4", "Sender's Postcode", f"{_SENDER}/hl7:addr/hl7:postalCode", 15),
    Element("C.3.4.5", "Sender's Country Code",
            f"{_SENDER}/hl7:assignedPerson/hl7:asLocatedEntity/hl7:location/hl7:code/@code", 2),
    Element("C.3.4.6", "Sender's Telephone", f"{_SENDER}/hl7:telecom[1]/@value", 33 + 4),
    Element("C.3.4.7", "Sender's Fax", f"{_SENDER}/hl7:telecom[2]/@value", 33 + 4),
    Element("C.3.4.8", "Sender's E-mail Address", f"{_SENDER}/hl7:telecom[3]/@value", 100 + 7),
    Element("D.1", "Patient (name or initials)", f"{_ROLE}/hl7:player1/hl7:name", 60),
    Element("FDA.D.11.r.1", "Patient Race Code",
            f"{_ROLE}/hl7:subjectOf2/hl7:observation[hl7:code[@code='C17049']]/hl7:value", 10),
    Element("FDA.D.12", "Patient Ethnicity Code",
            f"{_ROLE}/hl7:subjectOf2/hl7:observation[hl7:code[@code='C16564']]/hl7:value", 10),
    Element("E.i.2.1a", "MedDRA Version for Reaction / Event", f"{_REACTION}/hl7:value/@codeSystemVersion", 4),
    Element("E.i.2.1b", "Reaction / Event (MedDRA code)", f"{_REACTION}/hl7:value/@code", 8),
    *(Element(number, display, f"{_REACTION}/hl7:outboundRelationship2/hl7:observation[hl7:code[@code='{code}']]"
                               "/hl7:value")
      for number, code, _system, display, _criterion in CRITERIA),
    Element("E.i.7", "Outcome of Reaction / Event at the Time of Last Observation",
            f"{_REACTION}/hl7:outboundRelationship2/hl7:observation[hl7:code[@code='27']]/hl7:value/@code", 1),
    Element("G.k.1", "Characterisation of Drug Role",
            f"{_I}/hl7:component/hl7:adverseEventAssessment/hl7:component/hl7:causalityAssessment"
            "[hl7:code[@code='20']]/hl7:value/@code", 1),
    Element("G.k.2.2", "Medicinal Product Name as Reported by the Primary Source",
            f"{_DRUG}/hl7:consumable/hl7:instanceOfKind/hl7:kindOfProduct/hl7:name", 250),
    Element("H.1", "Case Narrative", f"{_I}/hl7:text", 100000),
)  # fmt: skip
_NULLABLE = {"C.1.9.1", "FDA.D.11.r.1", "FDA.D.12", "FDA.C.2.r.2.8", *(c[0] for c in CRITERIA)}


_STEP = re.compile(r"^hl7:(\w+)(?:\[(\d+)\]|\[hl7:(\w+)\[@(\w+)='([^']*)'\]\])?$")


def _find(root: ET.Element, path: str) -> ET.Element | None:
    """The first element on ``path``: steps ``hl7:tag``, ``hl7:tag[n]`` or ``hl7:tag[hl7:child[@attr='v']]``."""
    current = [root]
    for step in path.split("/"):
        match = _STEP.match(step)
        if match is None:
            raise ValueError(f"unsupported path step {step!r}")
        tag, index, child, attribute, wanted = match.groups()
        found = []
        for element in current:
            candidates = element.findall(f"{{{HL7}}}{tag}")
            if child:
                candidates = [
                    c for c in candidates
                    if any(g.get(attribute) == wanted for g in c.findall(f"{{{HL7}}}{child}"))
                ]  # fmt: skip
            if index:
                candidates = candidates[int(index) - 1 : int(index)]
            found += candidates
        current = found
    return current[0] if current else None


def _value_at(root: ET.Element, path: str) -> tuple[bool, str | None]:
    """(found, value) for an element path with an optional trailing ``/@attribute``; a nullFlavor counts."""
    element_path, _, attribute = path.partition("/@")
    element = _find(root, element_path)
    if element is None:
        return False, None
    if attribute:
        return True, element.get(attribute)
    if element.get("nullFlavor"):
        return True, f"nullFlavor={element.get('nullFlavor')}"
    text = element.text if element.text is not None else element.get("value")
    return True, text


def check_icsr(xml: bytes) -> list[str]:
    """What in the message breaks the published element list (empty: every required element is right)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != f"{{{HL7}}}MCCI_IN200100UV01":
        return ["the root element must be MCCI_IN200100UV01 in the urn:hl7-org:v3 namespace"]
    problems = []
    for element in ELEMENTS:
        found, value = _value_at(root, element.path)
        if not found or value is None or value == "":
            problems.append(f"{element.number} {element.name}: required, missing")
            continue
        if value.startswith("nullFlavor="):
            if element.number not in _NULLABLE:
                problems.append(f"{element.number} {element.name}: may not be null")
        elif element.max_length is not None and len(value) > element.max_length:
            problems.append(f"{element.number} {element.name}: longer than {element.max_length}")
    reaction = _find(root, f"{_REACTION}/hl7:value")
    if reaction is not None and reaction.get("code"):
        try:
            check_meddra(reaction.get("codeSystemVersion"), reaction.get("code"), None)
        except InputError as exc:  # said as a conformance problem
            problems.append(f"E.i.2.1: {exc}")
    for stamp in root.iter(f"{{{HL7}}}creationTime"):
        if not re.fullmatch(r"\d{14}[+-]\d{4}", stamp.get("value", "")):
            problems.append(f"N.1.5/N.2.r.4: {stamp.get('value')!r} is not a date-time with UTC offset")
    return problems


def sender_from(data: dict[str, Any]) -> Sender:
    """A Sender from a JSON object (unknown keys refused)."""
    known = set(Sender.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown sender field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    return Sender(**{k: str(v) for k, v in data.items()})


def configured_sender() -> Sender:
    """The sender from ``RXGUARD_ICSR_SENDER_FILE`` (a JSON object of :class:`Sender` fields), or an empty one."""
    name = os.environ.get("RXGUARD_ICSR_SENDER_FILE")
    if not name:
        return Sender()
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"RXGUARD_ICSR_SENDER_FILE {name!r}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"RXGUARD_ICSR_SENDER_FILE {name!r} must hold a JSON object of sender fields")
    return sender_from(data)
