"""Infusion records, checked against the pack before they are stored.

A bag past its jurisdiction's limit, or held at room temperature, is rejected
with the reason (the pack's ``preparation`` rules), and so is an infusion
shorter than the pack's administration rule allows, a vial past its expiry or
one whose carton code is not the product's (:mod:`rxguard.program.vials`).
The first N infusions in a program that requires it need a post-infusion
observation: the infusion may be recorded while it runs, and its end is
recorded later (:func:`complete_observation`). One infusion per authorization and one per patient and dose
number are database constraints; the idempotency key makes a client retry
return the first record instead of failing or writing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from rxguard.engine import assess
from rxguard.errors import ConflictError, InfusionRejectedError, InputError, NotFoundError, UnconfirmedError
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.schema import Product
from rxguard.program import monitoring, schedule, validation
from rxguard.program.common import by_id, require_aware
from rxguard.program.registry import Program, get_program
from rxguard.program.transitions import transition
from rxguard.program.vials import check_vial
from rxguard.store import audit, infusions
from rxguard.store import schedule as kept_schedule
from rxguard.store.infusions import InfusionVisit
from rxguard.store.models import STORAGE, Authorization, Infusion, new_id
from rxguard.store.writes import Write

INFUSABLE = ("authorized", "cleared", "overridden")


@dataclass(frozen=True)
class InfusionRequest:
    authorization_id: str
    idempotency_key: str
    product: str
    lot: str
    dose: float
    dose_unit: str
    diluent: str
    volume_ml: float
    prepared_at: datetime
    storage: str
    started_at: datetime
    stopped_at: datetime
    observation_end_at: datetime | None = None
    reactions: str = ""
    #: The user checked the unusual values (a dose or volume other than the labelled one) and means them.
    confirm_unusual: bool = False
    #: The code printed on the carton (NDC, EU number), checked against the product's codes in the pack.
    product_code: str = ""
    #: The moment the vial expires: the end of the expiry day printed on it, where it is used.
    vial_expires_at: datetime | None = None

    def digest(self) -> str:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}
        # The digest of a record made before a field existed is unchanged while the field keeps its default.
        for name, default in (("confirm_unusual", False), ("product_code", ""), ("vial_expires_at", None)):
            if data[name] == default:
                del data[name]
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _validate(
    request: InfusionRequest, program: Program, *, now: datetime, born: date | None
) -> tuple[InfusionRequest, tuple[str, ...]]:
    """The request as it will be stored (text normalised, dose in the label's unit), and its unusual values.

    Implausible values are refused here (:mod:`rxguard.program.validation`), before the pack's rules run.
    """
    for name in ("prepared_at", "started_at", "stopped_at"):
        require_aware(getattr(request, name), name)
        validation.clinical_datetime(getattr(request, name), name, now=now, born=born)
    if request.observation_end_at is not None:
        require_aware(request.observation_end_at, "observation_end_at")
        validation.clinical_datetime(request.observation_end_at, "observation_end_at", now=now, born=born)
    if request.vial_expires_at is not None:
        require_aware(request.vial_expires_at, "vial_expires_at")
    if request.storage not in STORAGE:
        raise InputError(f"storage {request.storage!r} must be one of {', '.join(STORAGE)}")
    products = program.definition.products
    if request.product not in products:
        raise InputError(
            f"product {request.product!r} is not dispensed under {program.id}; expected {', '.join(products)}"
        )
    if not request.idempotency_key.strip():
        raise InputError("an idempotency key is required so that a retry cannot record the infusion twice")
    validation.clean_text(request.idempotency_key, "idempotency_key", max_length=128)
    if not (request.prepared_at <= request.started_at < request.stopped_at):
        raise InputError("times must run prepared ≤ started < stopped")
    if request.observation_end_at is not None and request.observation_end_at < request.stopped_at:
        raise InputError("the observation cannot end before the infusion stops")
    product = _product(program, request)
    dose = validation.check_dose(product, request.dose, request.dose_unit, request.volume_ml)
    cleaned = replace(
        request,
        dose=dose.dose,
        dose_unit=dose.unit,
        lot=validation.clean_text(request.lot, "lot", max_length=64, required=True),
        product_code=validation.clean_text(request.product_code, "product_code", max_length=32).strip(),
        diluent=validation.clean_text(request.diluent, "diluent", max_length=128, required=True),
        reactions=validation.clean_text(request.reactions, "reactions", max_length=4000, multiline=True),
    )
    return cleaned, dose.warnings


def pack_findings(program: Program, visit: InfusionVisit, request: InfusionRequest) -> tuple[list[str], list[str]]:
    """(reasons to reject, warnings) from the pack's preparation and administration rules."""
    facts = _facts(visit)
    before = request.started_at.date()
    history = sorted({started.date() for started, _ in visit.infusions if started.date() < before})
    context: dict[str, Any] = {
        "infusions": history,
        "preparation": {
            "prepared_at": request.prepared_at.isoformat(),
            "storage": request.storage,
            "infusion_start_at": request.started_at.isoformat(),
            "infusion_end_at": request.stopped_at.isoformat(),
        },
        "order": {
            "text": f"{program.drug} {request.dose:g} {request.dose_unit} IV infusion",
            "dose": request.dose,
            "unit": request.dose_unit,
        },
    }
    result = assess(
        program.pack, facts, at=request.started_at.date(), jurisdiction=program.definition.jurisdiction, context=context
    )
    reject, warn = [], []
    for finding in result.findings:
        if finding.category not in ("preparation", "administration"):
            continue
        line = f"{finding.rule_id}: {finding.message.strip()}"
        if finding.effective_severity in ("hold", "contraindicated"):
            reject.append(line)
        elif finding.effective_severity == "caution":
            warn.append(line)
    return reject, warn


def _facts(visit: InfusionVisit) -> PatientFacts:
    enrollment = visit.enrollment
    return schedule.demographics(enrollment.patient_id, enrollment.birth_on, enrollment.sex)


def observation_due_at(program: Program, dose_number: int, stopped_at: datetime) -> datetime | None:
    """When the program's post-infusion observation of this dose may end, or None when none is required."""
    rule = program.definition.observation
    if rule is None or (rule.first_infusions is not None and dose_number > rule.first_infusions):
        return None
    return stopped_at + timedelta(minutes=rule.minutes)


def _observation_sources(program: Program) -> str:
    rule = program.definition.observation
    return ", ".join(f"{c.source} {c.section}" for c in rule.sources) if rule else ""


def _observation_problem(program: Program, dose_number: int, request: InfusionRequest) -> str | None:
    """A recorded observation that ended too early (a missing one is pending, recorded later)."""
    needed = observation_due_at(program, dose_number, request.stopped_at)
    rule = program.definition.observation
    if needed is None or rule is None or request.observation_end_at is None or request.observation_end_at >= needed:
        return None
    which = (
        f"is one of the first {rule.first_infusions}"
        if rule.first_infusions is not None
        else "is observed after every infusion in this program"
    )
    return (
        f"infusion {dose_number} {which}: observe for {rule.minutes} "
        f"minutes after it stops (until {needed.isoformat()}) and record the end of observation "
        f"[{_observation_sources(program)}]"
    )


def _observation_pending(program: Program, dose_number: int, request: InfusionRequest) -> str | None:
    needed = observation_due_at(program, dose_number, request.stopped_at)
    if needed is None or request.observation_end_at is not None:
        return None
    return (
        f"observation pending: observe the patient until at least {needed:%Y-%m-%d %H:%M} UTC, then record "
        "the end of observation on the patient's page"
    )


def _product(program: Program, request: InfusionRequest) -> Product:
    product = next((p for p in program.pack.identity.products if p.id == request.product), None)
    if product is None:  # pragma: no cover - the pack's integrity test ties program products to pack products
        raise InputError(f"product {request.product!r} is not described in the {program.drug} pack")
    return product


def infusion_findings(program: Program, visit: InfusionVisit, request: InfusionRequest) -> tuple[list[str], list[str]]:
    """(reasons to reject, warnings): the pack's rules, the vial against the product, the observation."""
    reject, warnings = pack_findings(program, visit, request)
    product = _product(program, request)
    others = [p for p in program.pack.identity.products if p.id != product.id]
    vial_reject, vial_warn = check_vial(
        product, others, code=request.product_code, expires_at=request.vial_expires_at,
        prepared_at=request.prepared_at,
    )  # fmt: skip
    reject += [f"{program.id}.{line}" for line in vial_reject]
    warnings += [f"{program.id}.{line}" for line in vial_warn]
    dose_number = visit.authorization.dose_number
    problem = _observation_problem(program, dose_number, request)
    if problem:
        reject.append(f"{program.id}.post-infusion-observation: {problem}")
    pending = _observation_pending(program, dose_number, request)
    if pending:
        warnings.append(f"{program.id}.post-infusion-observation: {pending}")
    return reject, warnings


def _check_start(authorization: Authorization, request: InfusionRequest, at: datetime) -> None:
    """The infusion starts after its authorization, inside its window, and not in the future."""
    if request.started_at > at:
        raise InputError(
            f"the infusion start {request.started_at.isoformat()} is in the future (now {at.isoformat()}); "
            "record an infusion once it has started"
        )
    if request.started_at < authorization.visit_at:
        raise ConflictError(
            f"the infusion start {request.started_at.isoformat()} is before its authorization "
            f"({authorization.visit_at.isoformat()}); an infusion is recorded under the authorization made before it"
        )
    until = authorization.valid_until or datetime.combine(
        authorization.visit_at.date() + timedelta(days=1), time(0), tzinfo=authorization.visit_at.tzinfo
    )
    if request.started_at >= until:
        raise ConflictError(
            f"authorization {authorization.id} was valid until {until.isoformat()} (its visit); the infusion started "
            f"{request.started_at.isoformat()} — authorize the dose again at this visit"
        )


def _earlier_attempt(session: Session, request: InfusionRequest) -> Infusion | None:
    """The infusion an earlier request with this idempotency key stored, if any."""
    existing = infusions.earlier_attempt(session, request.idempotency_key)
    if existing is not None and existing.request_sha256 != request.digest():
        raise ConflictError(f"idempotency key {request.idempotency_key!r} was already used for a different infusion")
    return existing


@dataclass(frozen=True)
class Judged:
    """An infusion the checks accept: the request as stored, its dose number and the warnings stored with it."""

    request: InfusionRequest
    dose_number: int
    warnings: list[str]


def judge(program: Program, visit: InfusionVisit, request: InfusionRequest, *, at: datetime) -> Judged:
    """Whether this infusion may be recorded under its authorization: pure, over what was read.

    In the order a nurse would meet them: the record itself is plausible; the authorization
    still allows an infusion and this dose was not given; the infusion started after the
    authorization, inside its window and not in the future; the patient is under treatment;
    the pack's preparation and administration rules, the vial (its carton code against the
    product, its expiry) and the program's observation (when recorded; else it is pending) pass;
    unusual values (a dose or volume other than the label's) are confirmed.
    """
    authorization = visit.authorization
    request, unusual = _validate(request, program, now=at, born=visit.enrollment.birth_on)
    if authorization.status not in INFUSABLE or not authorization.is_infusable:
        raise ConflictError(
            f"authorization {authorization.id} is {authorization.status}; it does not allow an infusion"
        )
    if any(dose_number == authorization.dose_number for _, dose_number in visit.infusions):
        raise ConflictError(
            f"dose {authorization.dose_number} of this patient was already infused; "
            "one infusion per dose window — authorize the next dose when it is due"
        )
    _check_start(authorization, request, at)
    status = visit.enrollment.status
    if status in ("suspended", "discontinued", "enrolled"):
        raise ConflictError(
            f"the patient is {status} in {program.id}; no dose is given "
            "(a hard stop no override lifts: resume or authorize the patient in the program first)"
        )
    reject, warnings = infusion_findings(program, visit, request)
    if reject:
        raise InfusionRejectedError("infusion record rejected: " + " | ".join(reject), reject)
    if unusual and not request.confirm_unusual:
        raise UnconfirmedError(list(unusual))
    return Judged(request, authorization.dose_number, [*unusual, *warnings])


def record_infusion(session: Session, request: InfusionRequest, *, at: datetime, actor: str) -> Infusion:
    """Store one infusion under its authorization, or return the same one on a retry.

    One read (:func:`rxguard.store.infusions.load`, under the patient's lock), one pure
    decision (:func:`judge`), one write of the infusion with its authorization's move to
    infused, and the schedule refreshed from the dates already read.
    """
    require_aware(at)
    visit = infusions.load(session, request.authorization_id, request.idempotency_key)
    if visit is None:
        existing = _earlier_attempt(session, request)  # the answers the caller got before: a retry first
        if existing is not None:
            return existing
        by_id(session, Authorization, request.authorization_id)  # NotFoundError
        raise AssertionError("an authorization without its enrollment")  # pragma: no cover (a foreign key)
    if visit.earlier_id is not None:  # under the patient's lock: a retry that raced its own first request
        existing = _earlier_attempt(session, request)
        assert existing is not None
        return existing
    authorization = visit.authorization
    program = get_program(authorization.program_id)
    judged = judge(program, visit, request, at=at)
    infusion = _row(authorization, judged, digest=request.digest(), at=at, actor=actor)
    transition(
        authorization, "infused", at=at, actor=actor, reason=f"infusion {infusion.id}",
        along_with=[Write(infusions.table(), _values(infusion))], what="infusion",
    )  # fmt: skip
    stored = judged.request
    audit.record(
        session, at=at, actor=actor, action="infusion.recorded", entity="infusion", entity_id=infusion.id,
        payload={"authorization": authorization.id, "dose_number": infusion.dose_number, "product": stored.product,
                 "lot": stored.lot, "warnings": judged.warnings, "request_sha256": infusion.request_sha256},
    )  # fmt: skip
    _refresh_schedule(session, program, visit, started_at=stored.started_at, at=max(at, stored.started_at))
    return infusion


def _row(authorization: Authorization, judged: Judged, *, digest: str, at: datetime, actor: str) -> Infusion:
    """The infusion as stored (a plain object: it is written with one INSERT, not through the session)."""
    request = judged.request
    return Infusion(
        id=new_id(),
        authorization_id=authorization.id,
        idempotency_key=request.idempotency_key,
        request_sha256=digest,
        patient_id=authorization.patient_id,
        drug=authorization.drug,
        dose_number=judged.dose_number,
        authorization_infusable=True,
        site_id=authorization.site_id,
        product=request.product,
        lot=request.lot,
        dose=request.dose,
        dose_unit=request.dose_unit,
        diluent=request.diluent,
        volume_ml=request.volume_ml,
        prepared_at=request.prepared_at,
        storage=request.storage,
        started_at=request.started_at,
        stopped_at=request.stopped_at,
        observation_end_at=request.observation_end_at,
        reactions=request.reactions,
        product_code=request.product_code or None,
        vial_expires_at=request.vial_expires_at,
        warnings={"warnings": judged.warnings},
        recorded_at=at,
        actor=actor,
    )


def _values(row: Infusion) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in infusions.table().columns}


def _refresh_schedule(
    session: Session, program: Program, visit: InfusionVisit, *, started_at: datetime, at: datetime
) -> None:
    """The enrollment's schedule after this infusion, from the dates read before it (one write, if it changed)."""
    enrollment = visit.enrollment
    events: dict[str, list[date]] = {}
    evidence = monitoring.evidence_of(program.kinds)
    for kind, on in visit.events:
        for key in evidence.get(kind, (kind,)):
            events.setdefault(key, []).append(on)
    items = schedule.due_items(
        program,
        status=enrollment.status,
        authorized_until_on=enrollment.authorized_until_on,
        follow_up_due_on=enrollment.follow_up_due_on,
        followed_up=False,  # an infusion is never recorded for a discontinued patient
        facts=_facts(visit),
        infusions=[*(started.date() for started, _ in visit.infusions), started_at.date()],
        events=events,
        at=at,
    )
    kept_schedule.save(session, enrollment.id, items, current=visit.schedule)


def complete_observation(
    session: Session, *, infusion_id: str, ended_at: datetime, at: datetime, actor: str
) -> Infusion:
    """Record the end of an infusion's post-infusion observation, once it has ended.

    The infusion was recorded while the patient was still observed; the end is
    checked against the program's observation (the first N infusions: at least
    its minutes after the stop), is never in the future, and is recorded once.
    """
    require_aware(at)
    require_aware(ended_at, "observation_end_at")
    found = infusions.for_update(session, infusion_id)
    if found is None:
        raise NotFoundError(f"no infusion {infusion_id}")
    row, program_id = found
    if row.observation_end_at is not None:
        raise ConflictError(
            f"the end of observation of this infusion was already recorded ({row.observation_end_at.isoformat()})"
        )
    validation.clinical_datetime(ended_at, "observation_end_at", now=at, born=None)
    if ended_at > at:
        raise InputError(
            f"the end of observation {ended_at.isoformat()} is in the future (now {at.isoformat()}); "
            "record it once the observation has ended"
        )
    if ended_at < row.stopped_at:
        raise InputError("the observation cannot end before the infusion stops")
    program = get_program(program_id)
    needed = observation_due_at(program, row.dose_number, row.stopped_at)
    if needed is not None and ended_at < needed:
        rule = program.definition.observation
        assert rule is not None
        line = (
            f"{program.id}.post-infusion-observation: infusion {row.dose_number} is one of the first "
            f"{rule.first_infusions}: observe for {rule.minutes} minutes after it stops (until "
            f"{needed:%Y-%m-%d %H:%M} UTC) [{_observation_sources(program)}]"
        )
        raise InfusionRejectedError("end of observation refused: " + line, [line])
    row.observation_end_at = ended_at
    audit.record(
        session, at=at, actor=actor, action="infusion.observation-recorded", entity="infusion", entity_id=row.id,
        payload={"observation_end_at": ended_at.isoformat()},
    )  # fmt: skip
    return row


def observation_pending(program: Program, row: Infusion) -> datetime | None:
    """When the observation of a stored infusion may end, while its end is not recorded (else None)."""
    if row.observation_end_at is not None:
        return None
    return observation_due_at(program, row.dose_number, row.stopped_at)
