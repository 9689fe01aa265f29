"""Recording monitoring results and program forms: the kinds, measurements and lab tests the pack declares.

One page per patient lists, for each of the patient's programs, the kinds of
monitoring record its pack declares (``record_kinds``), each with the values it
carries (unit and range as declared) and the lab-catalogue entry its result is,
and the program's forms. A result such as a negative antibody test reaches the
next dose check as a fact, so a missing result that stopped a dose is lifted
here. A kind recorded with a companion (an assessment) is the prescriber's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rxguard.access.records import record_read
from rxguard.access.scope import scoped_patient
from rxguard.errors import AccessDeniedError, NotFoundError, RxguardError
from rxguard.knowledge.labs import pack_catalogue
from rxguard.knowledge.loader import Pack
from rxguard.knowledge.program import Measurement, MonitoringKind
from rxguard.program import enrollment, monitoring
from rxguard.program.overview import patient_file
from rxguard.program.registry import get_program
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.forms import FormError, a_date
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]


@dataclass(frozen=True)
class KindView:
    kind: MonitoringKind
    title: str
    measurements: list[tuple[Measurement, str]]  # with its title in the page's language
    lab: str  # the lab test's id in the lab catalogue ("" for none), named in the page's language by the template
    lab_codes: tuple[str, ...]  # its codes (``loinc|70173-0``), shown as codes
    prescriber_only: bool


@dataclass(frozen=True)
class ProgramView:
    id: str
    title: str
    pack: Pack
    kinds: list[KindView]
    forms: list[tuple[str, str]]  # id, title


def _title(titles: Mapping[Any, str], lang: str) -> str:
    return titles.get(lang) or titles["en"]


def _program_view(program_id: str, lang: str) -> ProgramView:
    program = get_program(program_id)
    kinds = program.kinds
    catalogue = pack_catalogue(program.pack)
    measured = {m.id: m for m in kinds.measurements}
    views = []
    for kind in kinds.monitoring:
        carried = list(kind.measurements)
        if kind.companion is not None:
            carried = next((list(k.measurements) for k in kinds.monitoring if k.id == kind.companion), carried)
        lab = catalogue.get(kind.lab) if kind.lab else None
        codes = tuple(lab.codes) if lab else ()
        values = [(measured[m], _title(measured[m].title, lang)) for m in carried]
        views.append(
            KindView(kind, _title(kind.title, lang), values, kind.lab or "", codes, kind.companion is not None)
        )
    forms = [(f.id, f.title) for f in program.definition.forms]
    return ProgramView(program.id, program.definition.title, program.pack, views, forms)


def _page(
    ctx: PageContext, key: str, *, values: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="monitoring")
        file = patient_file(session, found, on=ctx.today)
    active = [e for e in file.enrollments if e.status != "discontinued"] or file.enrollments
    programs = [_program_view(e.program, ctx.lang) for e in active]
    return render(ctx, "records.html", status_code=status, file=file, programs=programs, error=error,
                  values=values or {"on": ctx.today.isoformat()})  # fmt: skip


@router.get("/patients/{key}/records/new")
def new_record(ctx: PageDep, key: Key) -> Response:
    assert ctx.user is not None
    ctx.user.require("report")
    return _page(ctx, key)


@router.post("/patients/{key}/records/monitoring")
async def post_monitoring(request: Request, ctx: PageDep, _: CsrfDep, key: Key) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_record_monitoring, ctx, key, values)


def _record_monitoring(ctx: PageContext, key: str, values: dict[str, str]) -> Response:
    assert ctx.user is not None
    ctx.user.require("report")
    try:
        on = a_date(values, "on", ctx.t)
    except FormError as exc:
        return _page(ctx, key, values=values, error=str(exc), status=400)
    program, _, kind = values.get("kind", "").partition("|")
    try:
        with unit_of_work(ctx.request) as session:
            scoped_patient(session, ctx.user, key)
            enrolled = enrollment.enrollment_of(session, key, program or None, lock=True)
            kinds = monitoring.kinds_of(enrolled)
            declared = monitoring.monitoring_kind(kinds, kind)
            if declared.companion is not None:
                ctx.user.require("prescribe")
            measured: dict[str, object] = {}
            for name, text in values.items():
                if name.startswith("measure.") and text.strip():
                    measured[name.removeprefix("measure.")] = monitoring.parse_measurement(
                        kinds, f"{name.removeprefix('measure.')}={text.strip()}"
                    )[1]
            monitoring.record(session, enrolled, kind=kind, on=on, at=ctx.now, actor=ctx.user.name,
                              result=values.get("result", "")[:2000], note=values.get("note", "")[:2000],
                              measurements=measured)  # fmt: skip
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _page(ctx, key, values=values, error=str(exc), status=400)
    return redirect(ctx.request, f"/patients/{key}?notice=recorded")


@router.post("/patients/{key}/records/forms")
async def post_form(request: Request, ctx: PageDep, _: CsrfDep, key: Key) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_record_form, ctx, key, values)


def _record_form(ctx: PageContext, key: str, values: dict[str, str]) -> Response:
    assert ctx.user is not None
    ctx.user.require("prescribe")
    program, _, form_id = values.get("form", "").partition("|")
    if not program or not form_id:
        return _page(ctx, key, values=values, error=ctx.t("records.form-label"), status=400)
    try:
        with unit_of_work(ctx.request) as session:
            scoped_patient(session, ctx.user, key)
            enrollment.record_form(session, program_id=program, patient_key=key, form_id=form_id,
                                   at=ctx.now, actor=ctx.user.name, note=values.get("note", "")[:2000])  # fmt: skip
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _page(ctx, key, values=values, error=str(exc), status=400)
    return redirect(ctx.request, f"/patients/{key}?notice=recorded")
