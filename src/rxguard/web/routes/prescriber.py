"""The prescriber's queue: holds to clear, reauthorizations coming due, suspensions and discontinuations."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from rxguard.access.scope import visible_patient_ids
from rxguard.program.overview import dashboard, patient_list
from rxguard.program.participants_overview import site_directory
from rxguard.web.context import PageDep, unit_of_work
from rxguard.web.routing import WebRoute
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)


@router.get("/queue")
def queue(ctx: PageDep) -> Response:
    """One page per working session: each hold with its reasons and the three answers, inline."""
    assert ctx.user is not None
    ctx.user.require("prescribe", "administer", "audit")
    on = ctx.today
    with unit_of_work(ctx.request) as session:
        within = visible_patient_ids(ctx.user)
        board = dashboard(session, on=on, within=within)
        patients = patient_list(session, on=on, within=within)
        site_names = {site.key: site.name for site in site_directory(session)}
    suspended = [p for p in patients if any(status == "suspended" for _, status in p.programs)]
    stopped = [p for p in patients if any(status == "discontinued" for _, status in p.programs)]
    return render(ctx, "queue.html", board=board, suspended=suspended, stopped=stopped, site_names=site_names)
