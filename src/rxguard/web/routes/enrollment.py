"""Enrollment with consent: register and enroll a patient, then the versioned consent, signed by typed name.

The consent page shows the exact version of the program's document in force
today, in English or Chinese (the patient chooses; the text's digest is
stored with the signature). The patient types their name — it must match the
name the patient was registered under — and confirms; the prescriber
countersigns by confirming; both times are recorded and the signed copy can
be printed.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from starlette.responses import Response

from rxguard.access.scope import assign_site, enrollable_patient, own_prescriber_key, scoped_patient
from rxguard.errors import AccessDeniedError, NotFoundError, RxguardError
from rxguard.program import enrollment, participants
from rxguard.program.overview import patient_file
from rxguard.program.registry import all_programs, get_program
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render
from rxguard.web.views import cite_program

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]
Field = Annotated[str, Form(max_length=200)]


def _enroll_page(
    ctx: PageContext, *, values: dict[str, str] | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    from rxguard.access.records import list_sites

    with unit_of_work(ctx.request) as session:
        sites, _ = list_sites(session, 200, 0)
        site_rows = [(s.key, s.name) for s in sites]
    return render(
        ctx,
        "enroll.html",
        status_code=status_code,
        programs=all_programs(),
        sites=site_rows,
        values=values or {},
        error=error,
    )


@router.get("/enroll")
def enroll_page(ctx: PageDep) -> Response:
    assert ctx.user is not None
    ctx.user.require("prescribe")
    return _enroll_page(ctx)


@router.post("/enroll")
def enroll(
    ctx: PageDep,
    _: CsrfDep,
    key: Field = "",
    name: Field = "",
    birth_on: Field = "",
    sex: Field = "",
    program_indication: Field = "",
    site: Field = "",
) -> Response:
    """Register the patient (when new), enroll them with you as prescriber, hand them to an infusion site."""
    assert ctx.user is not None
    ctx.user.require("prescribe")
    values = {
        "key": key,
        "name": name,
        "birth_on": birth_on,
        "sex": sex,
        "program_indication": program_indication,
        "site": site,
    }
    program_id, _sep, indication = program_indication.partition("|")
    if not (key.strip() and name.strip() and program_id and indication and site):
        return _enroll_page(ctx, values=values, error=ctx.t("enroll.fill-all"), status_code=400)
    key = key.strip()
    try:
        born = date.fromisoformat(birth_on) if birth_on else None
    except ValueError:
        return _enroll_page(ctx, values=values, error=ctx.t("form.date"), status_code=400)
    try:
        with unit_of_work(ctx.request) as session:
            prescriber = own_prescriber_key(session, ctx.user, None)
            try:
                enrollable_patient(session, ctx.user, key)
                is_new = False
            except NotFoundError:
                is_new = True
            if is_new:
                participants.register_patient(
                    session, key=key, name=name.strip(), birth_on=born, sex=sex or None, at=ctx.now, actor=ctx.user.name
                )
            enrollment.enroll_patient(
                session,
                program_id=program_id,
                patient_key=key,
                prescriber_key=prescriber,
                indication=indication,
                at=ctx.now,
                actor=ctx.user.name,
            )
            assign_site(session, patient_key=key, site_key=site, at=ctx.now, actor=ctx.user.name)
    except AccessDeniedError:
        raise
    except RxguardError as exc:
        return _enroll_page(ctx, values=values, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/patients/{key}/consent?program={program_id}")


def _same_name(typed: str, registered: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

    return bool(typed.strip()) and norm(typed) == norm(registered)


def _consent_page(
    ctx: PageContext,
    key: str,
    program_id: str,
    doc_lang: str,
    *,
    error: str | None = None,
    typed: str = "",
    status_code: int = 200,
) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        file = patient_file(session, found, on=ctx.today)
    program = get_program(program_id)
    document = program.consent_document(ctx.today)
    doc_lang = doc_lang if doc_lang in ("en", "zh") else ctx.lang
    signed = [c for c in file.consents if c.program == program_id and c.version == document.version]
    sources = cite_program(program_id, [c.model_dump() for c in document.sources])
    return render(
        ctx,
        "consent.html",
        status_code=status_code,
        file=file,
        program=program,
        document=document,
        doc_lang=doc_lang,
        error=error,
        typed=typed,
        signed=signed,
        sources=sources,
    )


@router.get("/patients/{key}/consent")
def consent_page(
    ctx: PageDep,
    key: Key,
    program: Annotated[str, Query(max_length=64)],
    doc_lang: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    assert ctx.user is not None
    ctx.user.require("prescribe")
    return _consent_page(ctx, key, program, doc_lang)


@router.post("/patients/{key}/consent")
def sign_consent(
    ctx: PageDep,
    _: CsrfDep,
    key: Key,
    program: Field,
    version: Field,
    doc_lang: Field = "en",
    typed_name: Field = "",
    patient_confirms: Field = "",
    prescriber_confirms: Field = "",
) -> Response:
    """Record both signatures on the version shown, in the language shown."""
    assert ctx.user is not None
    ctx.user.require("prescribe")
    with unit_of_work(ctx.request) as session:
        registered = scoped_patient(session, ctx.user, key).name
    if not _same_name(typed_name, registered):
        return _consent_page(
            ctx,
            key,
            program,
            doc_lang,
            error=ctx.t("consent.name-mismatch", name=registered),
            typed=typed_name,
            status_code=400,
        )
    if patient_confirms != "yes" or prescriber_confirms != "yes":
        return _consent_page(
            ctx, key, program, doc_lang, error=ctx.t("consent.confirm-both"), typed=typed_name, status_code=400
        )
    try:
        with unit_of_work(ctx.request) as session:
            prescriber = own_prescriber_key(session, ctx.user, None)
            consent = enrollment.record_consent(
                session,
                program_id=program,
                patient_key=key,
                version=version,
                language=doc_lang,
                patient_signed_at=ctx.now,
                prescriber_key=prescriber,
                prescriber_signed_at=ctx.now,
                at=ctx.now,
                actor=ctx.user.name,
            )
            consent_id = consent.id
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _consent_page(ctx, key, program, doc_lang, error=str(exc), typed=typed_name, status_code=400)
    return redirect(ctx.request, f"/patients/{key}/consents/{consent_id}?notice=consent-signed")
