"""Before a dose: the authorization check and checklist, the decision with every reason, the infusion record.

The nurse's page says, before every dose, "authorized" or "stop, and here is
why": every check with its outcome, its reason and its citation (source
title, section, evidence tier, verified or not). Only an infusable
authorization shows the infusion form; the bag is checked against the pack
as it is typed (htmx) and again when the record is submitted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rxguard.access.policy import OVERRIDE_ROLE
from rxguard.access.records import record_read
from rxguard.access.scope import own_prescriber_key, own_site_key, scoped_authorization, scoped_patient
from rxguard.engine.model import stratum_of
from rxguard.errors import (
    AccessDeniedError,
    ImplausibleError,
    InfusionRejectedError,
    NotFoundError,
    RxguardError,
    UnconfirmedError,
)
from rxguard.program import authorization, clearance
from rxguard.program.disposal import DisposalRequest, record_disposal
from rxguard.program.infusion import INFUSABLE, complete_observation, observation_pending, record_infusion
from rxguard.program.infusion_preview import preview_infusion
from rxguard.program.overview import authorization_history, patient_file
from rxguard.program.registry import get_program
from rxguard.program.vials import carton_codes
from rxguard.store import infusions
from rxguard.store.models import Authorization, Infusion, Patient, Site
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.forms import FormError, infusion_request, local_datetime, text_fields
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render
from rxguard.web.views import cite_program, cite_rule

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]
AuthId = Annotated[str, Path(min_length=1, max_length=64)]
INFUSION_FIELDS = (
    "idempotency_key",
    "product",
    "lot",
    "dose",
    "dose_unit",
    "diluent",
    "volume_ml",
    "prepared_at",
    "storage",
    "started_at",
    "stopped_at",
    "observation_end_at",
    "reactions",
    "confirm_unusual",
    "product_code",
    "vial_expires_on",
)
DISPOSAL_FIELDS = ("disposal", "product", "lot", "product_code", "reason")


# --------------------------------------------------------------------------- checklist


def _checklist(program_id: str) -> list[Any]:
    return [q for q in get_program(program_id).pack.questions.values() if q.kind == "checklist"]


def _dose_page(
    ctx: PageContext,
    key: str,
    program: str | None,
    *,
    error: str | None = None,
    answers: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="dose")
        file = patient_file(session, found, on=ctx.today)
        candidates = [e for e in file.enrollments if program in (None, e.program)]
        if not candidates:
            raise NotFoundError(f"patient {key} is not enrolled in {program}")
        active = [e for e in candidates if e.status != "discontinued"] or candidates
        chosen = active[-1]
        gate = _gate(session, ctx, key, chosen.program)
    questions = _checklist(chosen.program)
    sources = {q.id: cite_program(chosen.program, [c.model_dump() for c in q.sources]) for q in questions}
    return render(
        ctx,
        "dose.html",
        status_code=status_code,
        file=file,
        enrollment=chosen,
        questions=questions,
        sources=sources,
        answers=answers or {},
        error=error,
        others=[e for e in active if e != chosen],
        gate=gate,
    )


def _gate(session: Any, ctx: PageContext, key: str, program_id: str) -> authorization.GatePreview | None:
    """What the dose gate will say if every answer is "no" (None when it cannot be read for this user)."""
    assert ctx.user is not None
    try:
        site_key = own_site_key(session, ctx.user, None)
        return authorization.preview_gate(session, site_key=site_key, patient_key=key, at=ctx.now,
                                          program_id=program_id)  # fmt: skip
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError:
        return None


@router.get("/patients/{key}/dose")
def dose_page(ctx: PageDep, key: Key, program: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The pre-infusion page: program status first, then the checklist (site staff)."""
    assert ctx.user is not None
    ctx.user.require("infuse")
    return _dose_page(ctx, key, program)


@router.post("/patients/{key}/dose")
async def authorize_dose(request: Request, ctx: PageDep, _: CsrfDep, key: Key) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_authorize, ctx, key, values)


def _authorize(ctx: PageContext, key: str, values: dict[str, str]) -> Response:
    """Every check runs and the decision is stored, whatever it is; then the decision page opens."""
    assert ctx.user is not None
    ctx.user.require("infuse")
    program = values.get("program") or None
    answers: dict[str, bool] = {}
    for question in _checklist(program) if program else []:
        given = values.get(f"q.{question.id}")
        if given not in ("yes", "no"):
            return _dose_page(ctx, key, program, error=ctx.t("dose.answer-all"), answers=values, status_code=400)
        answers[question.id] = given == "yes"
    try:
        with unit_of_work(ctx.request) as session:
            scoped_patient(session, ctx.user, key)
            site_key = own_site_key(session, ctx.user, None)
            row = authorization.authorize_dose(
                session,
                site_key=site_key,
                patient_key=key,
                at=ctx.now,
                answers=answers,
                actor=ctx.user.name,
                program_id=program,
            )
            row_id = row.id
            continued = authorization.notice_of(row) is not None
            notice = ("hold-continued" if row.status == "hold" else "already-authorized") if continued else ""
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _dose_page(ctx, key, program, error=str(exc), answers=values, status_code=400)
    return redirect(ctx.request, f"/authorizations/{row_id}" + (f"?notice={notice}" if notice else ""))


# --------------------------------------------------------------------------- the decision


def _decision(session: Any, ctx: PageContext, authorization_id: str) -> dict[str, Any]:
    assert ctx.user is not None
    row: Authorization = scoped_authorization(session, ctx.user, authorization_id)
    patient = session.get(Patient, row.patient_id)
    site = session.get(Site, row.site_id)
    infusion = session.query(Infusion).filter(Infusion.authorization_id == row.id).one_or_none()
    program = get_program(row.program_id)
    checks = authorization.checks_of(row)
    order = {"do-not-infuse": 0, "hold": 1, "warn": 2, "pass": 3}
    checks = sorted(checks, key=lambda c: order.get(c["outcome"], 9))
    cited = [(c, cite_program(row.program_id, _check_sources(program, row, c))) for c in checks]
    history = authorization_history(session, row.id)
    findings = [f for f in row.assessment.get("findings", []) if f.get("counts_as") != "info"]
    may_infuse = (
        ctx.user.may("infuse")
        and ctx.user.site_id == row.site_id
        and infusion is None
        and row.status in INFUSABLE
        and row.is_infusable
    )
    may_clear = ctx.user.may("prescribe") and ctx.user.prescriber_id == row.prescriber_id and row.status == "hold"
    open_for_override = row.status in ("hold", "do-not-infuse")
    hard_stops = clearance.hard_stops(program, row) if open_for_override else []
    pending = clearance.pending_override(session, row.id) if open_for_override else None
    return {
        "row": row,
        "patient": patient,
        "site": site,
        "infusion": infusion,
        "observation_until": observation_pending(program, infusion) if infusion is not None else None,
        "may_log_bag": ctx.user.may("infuse") and ctx.user.site_id == row.site_id,
        "disposals": infusions.disposals_of(session, row.id),
        "codes": {
            p.id: [c.code for c in carton_codes(p) if not c.former]
            for p in program.pack.identity.products
            if p.id in program.definition.products
        },
        "program": program,
        "checks": cited,
        "findings": findings,
        "history": history,
        "last_event": history[-1] if len(history) > 1 else None,
        "said": _said,
        "may_infuse": may_infuse,
        "may_clear": may_clear,
        "hard_stops": hard_stops,
        "pending_override": pending,
        "override_role": OVERRIDE_ROLE.get(ctx.user.role) if ctx.user.may("override") else None,
        "may_ask_override": open_for_override and not hard_stops and pending is None,
        "failed": [c for c, _ in cited if c["outcome"] in ("hold", "do-not-infuse")],
        "stratum": stratum_of(row.assessment),
        "coverage": row.assessment.get("coverage"),
    }


def _said(reason: str) -> str:
    """A status change's reason as the person wrote it: a clearance's stored ``proceed: ...`` loses the outcome's
    id, which the status beside it already says in the reader's language."""
    outcome, sep, written = reason.partition(": ")
    return written if sep and outcome in clearance.OUTCOMES else reason


def _check_sources(program: Any, row: Authorization, check: dict[str, Any]) -> list[dict[str, Any]]:
    """A checklist hold cites the questions answered yes; every other check cites what it carries."""
    if check["id"] != "checklist":
        return list(check.get("sources", []))
    yes = [q for q, answer in row.answers.items() if answer is True and q in program.pack.questions]
    if not yes:
        return list(check.get("sources", []))
    return [c.model_dump() for q in yes for c in program.pack.questions[q].sources]


def _decision_page(ctx: PageContext, authorization_id: str, *, status_code: int = 200, **extra: Any) -> Response:
    with unit_of_work(ctx.request) as session:
        data = _decision(session, ctx, authorization_id)
    form = extra.pop("form", None) or _blank_infusion(data["program"])
    return render(
        ctx,
        "decision.html",
        status_code=status_code,
        form=form,
        form_error=extra.pop("form_error", None),
        refusals=extra.pop("refusals", []),
        clear_error=extra.pop("clear_error", None),
        unusual=extra.pop("unusual", []),
        override_error=extra.pop("override_error", None),
        observation_error=extra.pop("observation_error", None),
        bag_error=extra.pop("bag_error", None),
        bag_form=extra.pop("bag_form", {}),
        **data,
    )


def _blank_infusion(program: Any) -> dict[str, str]:
    """A fresh form: the program's only product and, from its pack, the labelled dose, unit and volume."""
    products = program.definition.products
    form = {
        "idempotency_key": uuid.uuid4().hex,
        "product": products[0] if len(products) == 1 else "",
        "dose_unit": "mg",
        "diluent": "0.9% sodium chloride",
        "storage": "refrigerated",
    }
    product = next((p for p in program.pack.identity.products if p.id == form["product"]), None)
    if product is not None and product.dose is not None:
        form["dose"] = f"{product.dose.labelled:g}"
        form["dose_unit"] = product.dose.unit
        if product.dose.volume_ml is not None:
            form["volume_ml"] = f"{product.dose.volume_ml:g}"
    return form


@router.get("/authorizations/{authorization_id}")
def show_decision(ctx: PageDep, authorization_id: AuthId) -> Response:
    return _decision_page(ctx, authorization_id)


# --------------------------------------------------------------------------- the infusion record


@router.post("/authorizations/{authorization_id}/infusion")
async def record(request: Request, ctx: PageDep, _: CsrfDep, authorization_id: AuthId) -> Response:
    values = text_fields(await request.form(), INFUSION_FIELDS)
    return await run_in_threadpool(_record, ctx, authorization_id, values)


def _refusal_views(program_id: str, lines: list[str]) -> list[tuple[str, str, list[Any]]]:
    return [cite_rule(program_id, line) for line in lines]


def _record(ctx: PageContext, authorization_id: str, values: dict[str, str]) -> Response:
    """Store the infusion, or show the form again with the refusal, its rule and its source."""
    assert ctx.user is not None
    ctx.user.require("infuse")
    try:
        request = infusion_request(authorization_id, values, ctx.zone, ctx.t)
    except FormError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, form=values, form_error=(exc.field, str(exc)))
    try:
        with unit_of_work(ctx.request) as session:
            row = scoped_authorization(session, ctx.user, authorization_id)
            if row.site_id != ctx.user.site_id:
                raise AccessDeniedError(ctx.t("dose.other-site"))
            program_id = row.program_id
            patient = session.get(Patient, row.patient_id)
            key = patient.key if patient else ""
            record_infusion(session, request, at=ctx.now, actor=ctx.user.name)
    except InfusionRejectedError as exc:
        refusals = _refusal_views(program_id, exc.reasons)
        return _decision_page(ctx, authorization_id, status_code=422, form=values, refusals=refusals)
    except UnconfirmedError as exc:
        return _decision_page(
            ctx, authorization_id, status_code=422, form=values, unusual=exc.warnings, form_error=("", str(exc))
        )
    except ImplausibleError as exc:
        return _decision_page(ctx, authorization_id, status_code=422, form=values, form_error=(exc.field, str(exc)))
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, form=values, form_error=("", str(exc)))
    return redirect(ctx.request, f"/patients/{key}?notice=infused")


@router.post("/authorizations/{authorization_id}/observation")
def record_observation_end(
    ctx: PageDep, _: CsrfDep, authorization_id: AuthId, observation_end_at: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    """The end of the post-infusion observation, recorded after the infusion (the site of the visit)."""
    assert ctx.user is not None
    ctx.user.require("infuse")
    try:
        ended = local_datetime({"observation_end_at": observation_end_at}, "observation_end_at", ctx.zone, ctx.t)
    except FormError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, observation_error=str(exc))
    try:
        with unit_of_work(ctx.request) as session:
            row = scoped_authorization(session, ctx.user, authorization_id)
            if row.site_id != ctx.user.site_id:
                raise AccessDeniedError(ctx.t("dose.other-site"))
            infusion = session.query(Infusion).filter(Infusion.authorization_id == row.id).one_or_none()
            if infusion is None:
                raise NotFoundError(f"no infusion is recorded under authorization {authorization_id}")
            complete_observation(session, infusion_id=infusion.id, ended_at=ended, at=ctx.now, actor=ctx.user.name)
    except (NotFoundError, AccessDeniedError):
        raise
    except InfusionRejectedError as exc:
        return _decision_page(ctx, authorization_id, status_code=422, observation_error=" ".join(exc.reasons))
    except RxguardError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, observation_error=str(exc))
    return redirect(ctx.request, f"/authorizations/{authorization_id}?notice=observation-recorded")


@router.post("/authorizations/{authorization_id}/bags")
async def log_bag(request: Request, ctx: PageDep, _: CsrfDep, authorization_id: AuthId) -> Response:
    """Log a refused or wasted bag under this visit (the site of the visit)."""
    values = text_fields(await request.form(), DISPOSAL_FIELDS)
    return await run_in_threadpool(_log_bag, ctx, authorization_id, values)


def _log_bag(ctx: PageContext, authorization_id: str, values: dict[str, str]) -> Response:
    assert ctx.user is not None
    ctx.user.require("infuse")
    if values.get("disposal") not in ("refused", "wasted") or not all(
        (values.get(k) or "").strip() for k in ("product", "lot", "reason")
    ):
        return _decision_page(ctx, authorization_id, status_code=400, bag_error=ctx.t("bag-log.need-all"),
                              bag_form=values)  # fmt: skip
    try:
        with unit_of_work(ctx.request) as session:
            scoped_authorization(session, ctx.user, authorization_id)
            record_disposal(
                session,
                DisposalRequest(authorization_id=authorization_id, disposal=values["disposal"],
                                product=values["product"], lot=values["lot"],
                                product_code=values.get("product_code", ""), reason=values["reason"]),
                at=ctx.now, actor=ctx.user.name, site_id=ctx.user.site_id,
            )  # fmt: skip
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, bag_error=str(exc), bag_form=values)
    return redirect(ctx.request, f"/authorizations/{authorization_id}?notice=bag-logged#bags")


@router.post("/authorizations/{authorization_id}/infusion/check")
async def check_bag(request: Request, ctx: PageDep, _: CsrfDep, authorization_id: AuthId) -> Response:
    """htmx: what the pack says about the bag as typed so far (nothing is stored)."""
    values = text_fields(await request.form(), INFUSION_FIELDS)
    return await run_in_threadpool(_check_bag, ctx, authorization_id, values)


def _check_bag(ctx: PageContext, authorization_id: str, values: dict[str, str]) -> Response:
    assert ctx.user is not None
    try:
        request = infusion_request(authorization_id, values, ctx.zone, ctx.t)
    except FormError:
        return render(ctx, "_bag_check.html", preview=None, refusals=[], incomplete=True)
    with unit_of_work(ctx.request) as session:
        row = scoped_authorization(session, ctx.user, authorization_id)
        program_id = row.program_id
        preview = preview_infusion(session, request, at=ctx.now)
    refusals = _refusal_views(program_id, list(preview.refusals))
    return render(ctx, "_bag_check.html", preview=preview, refusals=refusals, incomplete=False,
                  program=get_program(program_id))  # fmt: skip


# --------------------------------------------------------------------------- prescriber clearance


@router.post("/authorizations/{authorization_id}/clearance")
def clear(
    ctx: PageDep,
    _: CsrfDep,
    authorization_id: AuthId,
    outcome: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The patient's prescriber answers a HOLD: proceed, defer or discontinue, always with a reason."""
    assert ctx.user is not None
    ctx.user.require("prescribe")
    if outcome not in clearance.OUTCOMES or not reason.strip():
        message = ctx.t("clear.need-outcome-and-reason")
        return _decision_page(ctx, authorization_id, status_code=400, clear_error=message)
    try:
        with unit_of_work(ctx.request) as session:
            scoped_authorization(session, ctx.user, authorization_id)
            prescriber = own_prescriber_key(session, ctx.user, None)
            clearance.clear_hold(
                session,
                authorization_id=authorization_id,
                prescriber_key=prescriber,
                outcome=outcome,
                reason=reason,
                at=ctx.now,
            )
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _decision_page(ctx, authorization_id, status_code=400, clear_error=str(exc))
    target = "/queue?notice=cleared" if back == "queue" else f"/authorizations/{authorization_id}?notice=cleared"
    return redirect(ctx.request, target)


# --------------------------------------------------------------------------- emergency override (two people)


def _signer(ctx: PageContext) -> clearance.Signer:
    assert ctx.user is not None
    ctx.user.require("override")
    role = OVERRIDE_ROLE.get(ctx.user.role)
    if role is None:
        raise AccessDeniedError(ctx.t("override-form.no-role"))
    return clearance.Signer(ctx.user.name, role, site_id=ctx.user.site_id, prescriber_id=ctx.user.prescriber_id)


@router.post("/authorizations/{authorization_id}/override")
def ask_override(
    ctx: PageDep, _: CsrfDep, authorization_id: AuthId, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    """The first person asks to bypass every failed (overridable) check of this visit, with a reason."""
    signer = _signer(ctx)
    if not reason.strip():
        return _decision_page(ctx, authorization_id, status_code=400, override_error=ctx.t("override-form.need-reason"))
    try:
        with unit_of_work(ctx.request) as session:
            row = scoped_authorization(session, ctx.user, authorization_id)  # type: ignore[arg-type]
            bypassed = [c["id"] for c in authorization.failed_checks(row)]
            clearance.request_override(session, authorization_id=authorization_id, requester=signer, reason=reason,
                                       bypassed=bypassed, at=ctx.now)  # fmt: skip
    except NotFoundError:
        raise
    except RxguardError as exc:  # a hard stop, a role or site that may not, the visit over
        return _decision_page(ctx, authorization_id, status_code=409, override_error=str(exc))
    return redirect(ctx.request, f"/authorizations/{authorization_id}?notice=override-asked")


@router.post("/overrides/{override_id}/confirmation")
def confirm_override(
    ctx: PageDep, _: CsrfDep, override_id: AuthId, reason: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    """The second person confirms: someone other than the one who asked, of this site or the patient's prescriber."""
    signer = _signer(ctx)
    with unit_of_work(ctx.request) as session:
        authorization_id = clearance.get_override(session, override_id).authorization_id
        scoped_authorization(session, ctx.user, authorization_id)  # type: ignore[arg-type]
    if not reason.strip():
        return _decision_page(ctx, authorization_id, status_code=400, override_error=ctx.t("override-form.need-reason"))
    try:
        with unit_of_work(ctx.request) as session:
            clearance.confirm_override(session, override_id=override_id, confirmer=signer, reason=reason, at=ctx.now)
    except NotFoundError:
        raise
    except RxguardError as exc:
        return _decision_page(ctx, authorization_id, status_code=409, override_error=str(exc))
    return redirect(ctx.request, f"/authorizations/{authorization_id}?notice=override-confirmed")
