"""Reporting an adverse event; an event the pack marks as suspending (suspected or confirmed) suspends treatment and the page says so."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rxguard.access.records import record_read
from rxguard.access.scope import scoped_patient
from rxguard.errors import AccessDeniedError, NotFoundError, RxguardError
from rxguard.program import adverse_events
from rxguard.program.adverse_events import SERIOUSNESS, adverse_event_kinds, suspending_kinds
from rxguard.program.overview import patient_file
from rxguard.store.models import ADVERSE_EVENT_OUTCOMES
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.forms import FormError, a_date
from rxguard.web.routing import WebRoute, redirect
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)
Key = Annotated[str, Path(min_length=1, max_length=64)]


def _form_page(
    ctx: PageContext,
    key: str,
    *,
    values: dict[str, object] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        found = scoped_patient(session, ctx.user, key)
        record_read(session, ctx.user, found, at=ctx.now, what="adverse-event")
        file = patient_file(session, found, on=ctx.today)
    active = [e for e in file.enrollments if e.status != "discontinued"] or file.enrollments
    kinds: dict[str, str] = {}
    suspends: set[str] = set()
    for enrolled in active:
        for kind in adverse_event_kinds(enrolled.program):
            kinds.setdefault(kind.id, kind.title.get(ctx.lang) or kind.title["en"])
        suspends |= suspending_kinds(enrolled.program)
    return render(
        ctx,
        "adverse_event.html",
        status_code=status_code,
        file=file,
        enrollments=active,
        kinds=kinds,
        outcomes=ADVERSE_EVENT_OUTCOMES,
        seriousness=SERIOUSNESS,
        suspends=suspends,
        values=values or {"onset_on": ctx.today.isoformat()},
        error=error,
    )


@router.get("/patients/{key}/adverse-events/new")
def new_adverse_event(ctx: PageDep, key: Key) -> Response:
    assert ctx.user is not None
    ctx.user.require("report")
    return _form_page(ctx, key)


@router.post("/patients/{key}/adverse-events")
async def report(request: Request, ctx: PageDep, _: CsrfDep, key: Key) -> Response:
    form = await request.form()
    values: dict[str, object] = {k: v for k, v in form.items() if isinstance(v, str) and k != "seriousness"}
    values["seriousness"] = [v for v in form.getlist("seriousness") if isinstance(v, str)]
    return await run_in_threadpool(_report, ctx, key, values)


def _report(ctx: PageContext, key: str, values: dict[str, object]) -> Response:
    assert ctx.user is not None
    ctx.user.require("report")
    text = {k: v for k, v in values.items() if isinstance(v, str)}
    given = values.get("seriousness")
    criteria = [str(v) for v in given] if isinstance(given, list) else []
    kind = text.get("kind", "")
    suspended = False
    try:
        onset = a_date(text, "onset_on", ctx.t)
    except FormError as exc:
        return _form_page(ctx, key, values=values, error=str(exc), status_code=400)
    try:
        with unit_of_work(ctx.request) as session:
            scoped_patient(session, ctx.user, key)
            event = adverse_events.report_adverse_event(
                session,
                program_id=text.get("program") or None,
                patient_key=key,
                kind=kind,
                serious=text.get("serious") == "yes" or bool(criteria),
                seriousness=criteria,
                onset_on=onset,
                outcome=text.get("outcome", "unknown"),
                description=text.get("description", "")[:4000],
                at=ctx.now,
                actor=ctx.user.name,
            )
            suspended = kind in suspending_kinds(adverse_events.enrollment_program(session, event))
    except (NotFoundError, AccessDeniedError):
        raise
    except RxguardError as exc:
        return _form_page(ctx, key, values=values, error=str(exc), status_code=400)
    notice = "suspended" if suspended else "ae-reported"
    return redirect(ctx.request, f"/patients/{key}?notice={notice}")
