"""Patients: the list in scope, one patient's page, the printable consent, prescriber decisions.

A patient outside the user's scope answers 404 — the same page as a patient
who does not exist — so a foreign site learns nothing about who is enrolled.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rxguard.access.records import record_read
from rxguard.access.scope import own_prescriber_key, scoped_patient, visible_patient_ids
from rxguard.errors import InputError, NotFoundError, RxguardError
from rxguard.fhir.questionnaires import questionnaire_response, submit_response
from rxguard.program import enrollment, monitoring
from rxguard.program.overview import patient_file, patient_list
from rxguard.program.questionnaires import answers_from_fields, check_complete, prescriber_form
from rxguard.program.registry import get_program
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.forms import text_fields
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render
from rxguard.web.views import cite_program, trend_charts
from rxguard.web.wording import Wording

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/patients")
def list_patients(ctx: PageDep, q: Annotated[str, Query(max_length=100)] = "") -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        rows = patient_list(session, on=ctx.today, within=visible_patient_ids(ctx.user), search=q)
    return render(ctx, "patients.html", rows=rows, q=q)


def _patient_page(
    ctx: PageContext,
    key: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    kind: str = "",
    actor: str = "",
) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="file")
        file = patient_file(session, found, on=ctx.today)
        trends = {
            e.id: monitoring.trend_of(session, enrollment_id=e.id, program_id=e.program) for e in file.enrollments
        }
    stratum_sources = []
    if file.stratum:
        stratum_sources = file.stratum.get("sources", [])
    programs = {e.program: get_program(e.program) for e in file.enrollments}
    stratum_pack = next((p.pack for p in programs.values() if p.pack.risk is not None), None)
    kinds = sorted({e.kind for e in file.timeline})
    actors = sorted({e.actor for e in file.timeline if e.actor})
    timeline = [e for e in file.timeline if kind in ("", e.kind) and actor in ("", e.actor)]
    words = Wording(ctx.lang, ctx.t, ctx.zone)
    charts = {
        e.id: trend_charts(programs[e.program], trends[e.id], lang=ctx.lang, t=ctx.t, day=words.day)
        for e in file.enrollments
    }
    return render(
        ctx,
        "patient.html",
        status_code=status_code,
        file=file,
        timeline=timeline,
        timeline_kinds=kinds,
        timeline_actors=actors,
        kind=kind,
        actor=actor,
        programs=programs,
        stratum_sources=stratum_sources,
        stratum_pack=stratum_pack,
        error=error,
        trend_charts=charts,
    )


@router.get("/patients/{key}")
def show_patient(
    ctx: PageDep,
    key: Key,
    kind: Annotated[str, Query(max_length=32)] = "",
    actor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """One patient; the timeline filtered by kind of entry and by who recorded it."""
    return _patient_page(ctx, key, kind=kind, actor=actor)


@router.get("/patients/{key}/consents/{consent_id}")
def printable_consent(ctx: PageDep, key: Key, consent_id: Annotated[str, Path(max_length=64)]) -> Response:
    """The signed consent as a printable page: the exact text version, both signatures, times, digest."""
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="consent")
        file = patient_file(session, found, on=ctx.today)
    consent = next((c for c in file.consents if c.id == consent_id), None)
    if consent is None:
        raise NotFoundError(f"no consent {consent_id!r} for patient {key}")
    program = get_program(consent.program)
    document = program.find_consent_version(consent.version)
    sources = cite_program(program.id, [c.model_dump() for c in document.sources])
    return render(
        ctx, "consent_print.html", file=file, consent=consent, document=document, program=program, sources=sources
    )


#: The decisions that open a page first: what it does, the pack's form where the program has one, a confirmation.
CONFIRMED = ("authorize", "reauthorize", "discontinue")
FORM_OF = {"reauthorize": "reauthorization", "discontinue": "discontinuation"}


def _decision_form(
    ctx: PageContext,
    key: str,
    action: str,
    program_id: str,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The confirmation page of one prescriber decision, with the pack's form when the decision has one."""
    assert ctx.user is not None
    ctx.user.require("prescribe")
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        file = patient_file(session, found, on=ctx.today)
    enrollment = next((e for e in file.enrollments if e.program == program_id), None)
    if enrollment is None:
        raise NotFoundError(f"patient {key} is not enrolled in {program_id}")
    program = get_program(program_id)
    form = prescriber_form(program, FORM_OF[action], language=ctx.lang) if action in FORM_OF else None
    sources = {i.link_id: cite_program(program_id, [{"source": s, "section": c} for s, c in i.sources])
               for i in form.items} if form else {}  # fmt: skip
    return render(ctx, "decision_form.html", status_code=status_code, file=file, enrollment=enrollment,
                  program=program, action=action, form=form, sources=sources, values=values or {}, error=error)  # fmt: skip


@router.get("/patients/{key}/decisions/{action}")
def decision_form(
    ctx: PageDep,
    key: Key,
    action: Annotated[str, Path(pattern="^(authorize|reauthorize|discontinue)$")],
    program: Annotated[str, Query(max_length=64)],
) -> Response:
    """Before authorizing, reauthorizing or discontinuing: what it does, the form it needs, a confirmation."""
    return _decision_form(ctx, key, action, program)


def _decide(ctx: PageContext, key: str, action: str, program_id: str, values: dict[str, str]) -> Response:
    """Run one prescriber decision in its own transaction; on refusal show why on its page."""
    assert ctx.user is not None
    reason = values.get("reason", "")
    try:
        if action in CONFIRMED and values.get("confirm") != "yes":
            raise InputError(ctx.t("decide.confirm-needed"))
        form = prescriber_form(get_program(program_id), FORM_OF[action]) if action in FORM_OF else None
        answers = answers_from_fields(form, values) if form else {}
        if form is not None:
            check_complete(form, answers)
        with unit_of_work(ctx.request) as session:
            scoped_patient(session, ctx.user, key)
            ctx.user.require("prescribe")
            prescriber = own_prescriber_key(session, ctx.user, None)
            common: dict[str, Any] = {
                "program_id": program_id,
                "patient_key": key,
                "at": ctx.now,
                "actor": ctx.user.name,
            }
            if action == "authorize":
                enrollment.authorize_treatment(session, prescriber_key=prescriber, **common)
            elif action == "resume":
                enrollment.resume(session, prescriber_key=prescriber, reason=reason, **common)
            else:
                assert form is not None
                # The same path as a FHIR QuestionnaireResponse: checked, applied and kept with its answers.
                response = questionnaire_response(form, key, answers, base=_base(ctx), at=ctx.now)
                submit_response(session, ctx.user, response, now=ctx.now)
    except NotFoundError:
        raise
    except RxguardError as exc:
        if action in CONFIRMED:
            return _decision_form(ctx, key, action, program_id, values=values, error=str(exc), status_code=400)
        return _patient_page(ctx, key, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/patients/{key}?notice={action}")


def _base(ctx: PageContext) -> str:
    return str(ctx.request.app.state.settings.public_base())


@router.post("/patients/{key}/decisions/{action}")
async def prescriber_decision(
    request: Request,
    ctx: PageDep,
    _: CsrfDep,
    key: Key,
    action: Annotated[str, Path(pattern="^(authorize|reauthorize|resume|discontinue)$")],
) -> Response:
    """Authorize treatment, reauthorize (the pack's form), resume after a suspension, or discontinue (the
    pack's form), each confirmed by the prescriber."""
    submitted = await request.form()
    fields = text_fields(submitted, ("program", "reason", "confirm", *_item_fields(submitted)))
    program = fields.get("program", "")
    if not program:
        raise InputError("choose the program this decision is for")
    return await run_in_threadpool(_decide, ctx, key, action, program, fields)


def _item_fields(form: Any) -> tuple[str, ...]:
    return tuple(str(name) for name in form if str(name).startswith("item.") and len(str(name)) <= 80)
