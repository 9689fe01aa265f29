"""The dashboard: what needs doing today for the signed-in role, and four charts."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from rxguard.access.scope import visible_patient_ids
from rxguard.program import reconciliation
from rxguard.program.overview import dashboard
from rxguard.program.participants_overview import site_directory
from rxguard.web.context import PageDep, unit_of_work
from rxguard.web.routing import WebRoute
from rxguard.web.templating import render
from rxguard.web.views import charts
from rxguard.web.wording import Wording

router = APIRouter(route_class=WebRoute)

#: Which panels each role sees first (a nurse starts with today's patients, a prescriber with holds).
PANELS = {
    "nurse": ("today", "holds", "overdue", "adverse-events"),
    "pharmacist": ("today", "holds", "overrides", "overdue", "adverse-events"),
    "prescriber": ("holds", "reauthorizations", "overdue", "adverse-events", "today"),
    "admin": ("overrides", "holds", "overdue", "reauthorizations", "adverse-events", "today"),
    "auditor": ("overrides", "overdue", "adverse-events", "holds", "reauthorizations", "today"),
}


@router.get("/")
def show_dashboard(ctx: PageDep) -> Response:
    assert ctx.user is not None
    with unit_of_work(ctx.request) as session:
        board = dashboard(
            session,
            on=ctx.today,
            within=visible_patient_ids(ctx.user),
            zone=ctx.zone,
            site_id=ctx.user.site_id,
            now=ctx.now,
        )
        reviewer = reconciliation.Reviewer(ctx.user.name, ctx.user.role, ctx.user.site_id)
        may_reconcile = reconciliation.reconcilable(session, [o.id for o in board.overrides], reviewer)
        site_names = {site.key: site.name for site in site_directory(session)}
    shown = charts(board, ctx.t, Wording(ctx.lang, ctx.t, ctx.zone))
    return render(ctx, "dashboard.html", board=board, panels=PANELS[ctx.user.role], charts=shown,
                  may_reconcile=may_reconcile, site_names=site_names)  # fmt: skip
