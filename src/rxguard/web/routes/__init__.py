"""The web application's routers, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from rxguard.web.routes import (
    admin,
    adverse_events,
    auth,
    dashboard,
    doses,
    druginfo,
    enrollment,
    patients,
    prescriber,
    records,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    dashboard.router,
    patients.router,
    enrollment.router,
    doses.router,
    prescriber.router,
    adverse_events.router,
    records.router,
    admin.router,
    druginfo.router,
)
