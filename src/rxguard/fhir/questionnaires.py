"""The program's forms as FHIR R4 Questionnaires, and QuestionnaireResponses applied as the API applies them.

A completed ``QuestionnaireResponse`` (``questionnaire`` = the canonical URL,
``subject`` = the patient by ``urn:rxguard:patient-key`` identifier or a
``Patient/{key}`` reference, ``status`` = ``completed``) has exactly the
effect of the same answers through the REST API, with the same role and
scope checks, because it calls the same program services:

* pre-infusion checklist -> ``authorize_dose`` at the caller's site (a yes holds the dose);
* reauthorization -> ``reauthorize`` (refused unless completed with every required answer, and both
  attestations yes);
* discontinuation -> ``discontinue`` with the reason given;
* enrollment -> ``enroll_patient`` then ``record_consent`` (the version in force, every risk acknowledged).

Each accepted response is kept (``questionnaire_answer``) with the record it produced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rxguard.access import Principal
from rxguard.access import scope as access_scope
from rxguard.errors import InputError, TransitionError
from rxguard.program import authorization, enrollment
from rxguard.program.common import patient as patient_by_key
from rxguard.program.identities import PATIENT_KEY_SYSTEM
from rxguard.program.questionnaires import (
    FormDefinition,
    FormItem,
    check_complete,
    form_definition,
    form_definitions,
    record_reason,
)
from rxguard.program.registry import Program, all_programs, get_program
from rxguard.store.identity_models import QuestionnaireAnswer

_FHIR_TYPE = {"boolean": "boolean", "decimal": "decimal", "string": "string", "text": "text",
              "choice": "choice", "display": "display"}  # fmt: skip


def questionnaire_url(base: str, form_id: str) -> str:
    return f"{base}/fhir/Questionnaire/{form_id}"


def _item(item: FormItem) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": item.link_id, "text": item.text, "type": _FHIR_TYPE[item.type]}
    if item.type != "display":
        out["required"] = item.required
    if item.options:
        out["answerOption"] = [{"valueCoding": {"system": "urn:rxguard:answer", "code": c, "display": d}}
                               for c, d in item.options]  # fmt: skip
    if item.sources:
        out["code"] = [{"system": "urn:rxguard:source", "code": f"{s}|{section}"[:200]} for s, section in item.sources]
    return out


def to_questionnaire(form: FormDefinition, base: str, *, date: str) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "id": form.id,
        "url": questionnaire_url(base, form.id),
        "name": "".join(part.capitalize() for part in form.id.split("-"))[:255],
        "title": form.title,
        "status": "active",
        "subjectType": ["Patient"],
        "date": date,
        "publisher": "rxguard",
        "description": form.purpose,
        "useContext": [
            {
                "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": "program"},
                "valueCodeableConcept": {"text": form.program},
            }
        ],
        "item": [_item(i) for i in form.items],
    }


def all_forms(now: datetime) -> list[FormDefinition]:
    return [f for p in all_programs() for f in form_definitions(p, on=now.date())]


def questionnaire_response(
    form: FormDefinition, patient_key: str, answers: dict[str, Any], *, base: str, at: datetime
) -> dict[str, Any]:
    """A completed QuestionnaireResponse to ``form`` with ``answers`` (what the web form submits as)."""
    items = []
    for item in form.items:
        if item.link_id not in answers:
            continue
        value = answers[item.link_id]
        if item.type == "boolean":
            answer: dict[str, Any] = {"valueBoolean": bool(value)}
        elif item.type == "decimal":
            answer = {"valueDecimal": float(value)}
        elif item.type == "choice":
            answer = {"valueCoding": {"system": "urn:rxguard:answer", "code": str(value)}}
        else:
            answer = {"valueString": str(value)}
        items.append({"linkId": item.link_id, "text": item.text, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire_url(base, form.id),
        "status": "completed",
        "subject": {"identifier": {"system": PATIENT_KEY_SYSTEM, "value": patient_key}},
        "authored": at.isoformat(),
        "item": items,
    }


def find_form(form_id: str, now: datetime) -> FormDefinition:
    return form_definition(all_programs(), form_id, on=now.date())


def questionnaire_package(body: Any, base: str, now: datetime, programs_for_order: Any) -> dict[str, Any]:
    """DTR ``$questionnaire-package``: one collection Bundle per Questionnaire asked for (by canonical) or
    needed for the orders given (every form of the programs covering the ordered medicine)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InputError("the body must be a FHIR R4 Parameters resource")
    wanted: list[FormDefinition] = []
    params = [p for p in body.get("parameter") or [] if isinstance(p, dict)]
    for param in params:
        if param.get("name") == "questionnaire":
            canonical = str(param.get("valueCanonical") or "").split("|")[0]
            wanted.append(find_form(canonical.rstrip("/").rsplit("/", 1)[-1], now))
        elif param.get("name") == "order" and isinstance(param.get("resource"), dict):
            for program in programs_for_order(param["resource"]):
                wanted += form_definitions(program, on=now.date())
    if not wanted:
        raise InputError("give 'questionnaire' (a canonical URL) or 'order' (e.g. the MedicationRequest)")
    seen: set[str] = set()
    parameters = []
    for form in wanted:
        if form.id in seen:
            continue
        seen.add(form.id)
        questionnaire = to_questionnaire(form, base, date=now.date().isoformat())
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": questionnaire["url"], "resource": questionnaire}]}  # fmt: skip
        parameters.append({"name": "PackageBundle", "resource": bundle})
    return {"resourceType": "Parameters", "parameter": parameters}


# --------------------------------------------------------------------------- responses


def _answers(response: dict[str, Any], form: FormDefinition) -> dict[str, Any]:
    """linkId -> the one answer value, checked against the form's items."""
    out: dict[str, Any] = {}
    for entry in response.get("item") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("linkId"), str):
            raise InputError("every QuestionnaireResponse.item needs a linkId")
        item = form.item(entry["linkId"])
        if item is None or item.type == "display":
            raise InputError(f"linkId {entry['linkId']!r} is not a question of {form.id}")
        answers = entry.get("answer") or []
        if not answers:
            continue
        if not isinstance(answers, list) or len(answers) != 1 or not isinstance(answers[0], dict):
            raise InputError(f"item {item.link_id}: give exactly one answer")
        out[item.link_id] = _value(item, answers[0])
    return out


def _value(item: FormItem, answer: dict[str, Any]) -> Any:
    if item.type == "boolean":
        value = answer.get("valueBoolean")
        if not isinstance(value, bool):
            raise InputError(f"item {item.link_id}: answer with valueBoolean (yes = true)")
        return value
    if item.type == "decimal":
        value = answer.get("valueDecimal", answer.get("valueInteger"))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"item {item.link_id}: answer with valueDecimal")
        return float(value)
    if item.type == "choice":
        coding = answer.get("valueCoding")
        code = coding.get("code") if isinstance(coding, dict) else None
        if code not in {c for c, _ in item.options}:
            raise InputError(f"item {item.link_id}: answer with valueCoding, one of {[c for c, _ in item.options]}")
        return code
    value = answer.get("valueString")
    if not isinstance(value, str):
        raise InputError(f"item {item.link_id}: answer with valueString")
    return value


def _patient_key(response: dict[str, Any]) -> str:
    subject = response.get("subject")
    if isinstance(subject, dict):
        identifier = subject.get("identifier")
        if isinstance(identifier, dict) and identifier.get("system") == PATIENT_KEY_SYSTEM:
            return str(identifier.get("value") or "")
        reference = subject.get("reference")
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    raise InputError(
        "QuestionnaireResponse.subject must name the patient: "
        f'{{"identifier": {{"system": "{PATIENT_KEY_SYSTEM}", "value": "pat_…"}}}} or "Patient/pat_…"'
    )


def _require_complete(form: FormDefinition, status: Any, answers: dict[str, Any]) -> None:
    if status != "completed":
        raise TransitionError(f"the {form.form} response is {status!r}; only a completed response takes effect")
    check_complete(form, answers)


def submit_response(
    session: Session, principal: Principal, response: Any, *, now: datetime
) -> tuple[dict[str, Any], str, str]:
    """Apply one QuestionnaireResponse; returns (the record it produced, its kind, the stored response's id)."""
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise InputError("the body must be a FHIR R4 QuestionnaireResponse")
    canonical = str(response.get("questionnaire") or "").split("|")[0]
    if not canonical:
        raise InputError("QuestionnaireResponse.questionnaire must be the canonical URL of an rxguard Questionnaire")
    form = find_form(canonical.rstrip("/").rsplit("/", 1)[-1], now)
    program = get_program(form.program)
    key = _patient_key(response)
    answers = _answers(response, form)
    if form.form == "enrollment":
        access_scope.enrollable_patient(session, principal, key)
    else:
        access_scope.scoped_patient(session, principal, key)
    result, effect_id = _apply(session, principal, form, program, key, response.get("status"), answers, now)
    enrolled = enrollment.enrollment_of(session, key, program.id)
    stored = QuestionnaireAnswer(enrollment_id=enrolled.id, questionnaire=canonical[:255], effect=form.form,
                                 effect_id=effect_id, response=response, recorded_at=now, actor=principal.name)  # fmt: skip
    session.add(stored)
    session.flush()
    return result, form.form, stored.id


def _apply(
    session: Session, principal: Principal, form: FormDefinition, program: Program, key: str, status: Any,
    answers: dict[str, Any], now: datetime,
) -> tuple[dict[str, Any], str | None]:  # fmt: skip
    if form.form == "pre-infusion-checklist":
        # As the web form and the API: an unanswered question holds the dose, it does not refuse the response.
        if status not in ("completed", "amended"):
            raise TransitionError("only a completed checklist response is recorded")
        principal.require("infuse")
        site_key = access_scope.own_site_key(session, principal, None)
        row = authorization.authorize_dose(session, site_key=site_key, patient_key=key, at=now, answers=answers,
                                           actor=principal.name, program_id=program.id)  # fmt: skip
        return {"authorization": row.id, "decision": row.decision, "status": row.status,
                "checks": authorization.checks_of(row)}, row.id  # fmt: skip
    _require_complete(form, status, answers)
    principal.require("prescribe")
    prescriber = access_scope.own_prescriber_key(session, principal, None)
    if form.form == "reauthorization":
        renewed = enrollment.reauthorize(session, program_id=program.id, patient_key=key,
                                         prescriber_key=prescriber, at=now, actor=principal.name,
                                         reason=record_reason(form, answers))  # fmt: skip
        return _status(renewed), renewed.id
    if form.form == "discontinuation":
        stopped = enrollment.discontinue(session, program_id=program.id, patient_key=key, at=now,
                                         actor=principal.name, reason=str(answers["reason"]))  # fmt: skip
        return _status(stopped), stopped.id
    patient_by_key(session, key)
    enrolled = enrollment.enroll_patient(session, program_id=program.id, patient_key=key, prescriber_key=prescriber,
                                         indication=str(answers["indication"]), at=now, actor=principal.name)  # fmt: skip
    document = program.consent_document(now.date())
    enrollment.record_consent(session, program_id=program.id, patient_key=key, version=document.version,
                              language=str(answers["language"]), patient_signed_at=now, prescriber_key=prescriber,
                              prescriber_signed_at=now, at=now, actor=principal.name)  # fmt: skip
    return _status(enrolled), enrolled.id


def _status(row: Any) -> dict[str, Any]:
    return {
        "enrollment": row.id, "program": row.program_id, "status": row.status,
        "authorized_until_on": row.authorized_until_on.isoformat() if row.authorized_until_on else None,
    }  # fmt: skip
