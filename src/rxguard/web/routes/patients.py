"""Patients: the list in scope, one patient's page, the printable consent, prescriber decisions.

A patient outside the user's scope answers 404 — the same page as a patient
who does not exist — so a foreign site learns nothing about who is enrolled.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query
from starlette.responses import Response

from rxguard.access.records import record_read
from rxguard.access.scope import own_prescriber_key, scoped_patient, visible_patient_ids
from rxguard.errors import NotFoundError, RxguardError
from rxguard.program import enrollment
from rxguard.program.overview import patient_file, patient_list
from rxguard.program.registry import get_program
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render
from rxguard.web.views import cite_program

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, Form(max_length=2000)]


@router.get("/patients")
def list_patients(ctx: PageDep, q: Annotated[str, Query(max_length=100)] = "") -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        rows = patient_list(session, on=ctx.today, within=visible_patient_ids(ctx.user), search=q)
    return render(ctx, "patients.html", rows=rows, q=q)


def _patient_page(ctx: PageContext, key: str, *, error: str | None = None, status_code: int = 200) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="file")
        file = patient_file(session, found, on=ctx.today)
    stratum_sources = []
    if file.stratum:
        stratum_sources = file.stratum.get("sources", [])
    programs = {e.program: get_program(e.program) for e in file.enrollments}
    return render(
        ctx,
        "patient.html",
        status_code=status_code,
        file=file,
        programs=programs,
        stratum_sources=stratum_sources,
        error=error,
    )


@router.get("/patients/{key}")
def show_patient(ctx: PageDep, key: Key) -> Response:
    return _patient_page(ctx, key)


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


def _decide(ctx: PageContext, key: str, action: str, program_id: str, reason: str) -> Response:
    """Run one prescriber decision in its own transaction; on refusal show why on the patient page."""
    assert ctx.user is not None
    try:
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
            elif action == "reauthorize":
                enrollment.reauthorize(session, prescriber_key=prescriber, **common)
            elif action == "resume":
                enrollment.resume(session, prescriber_key=prescriber, reason=reason, **common)
            else:
                enrollment.discontinue(session, reason=reason, **common)
    except NotFoundError:
        raise
    except RxguardError as exc:
        return _patient_page(ctx, key, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/patients/{key}?notice={action}")


@router.post("/patients/{key}/decisions/{action}")
def prescriber_decision(
    ctx: PageDep,
    _: CsrfDep,
    key: Key,
    action: Annotated[str, Path(pattern="^(authorize|reauthorize|resume|discontinue)$")],
    program: Annotated[str, Form(max_length=64)],
    reason: Text = "",
) -> Response:
    """Authorize treatment, reauthorize, resume after a suspension, or discontinue (with a reason)."""
    return _decide(ctx, key, action, program, reason)
