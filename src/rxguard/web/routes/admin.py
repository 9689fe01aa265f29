"""Program administration: certify or suspend prescribers and sites, verify the audit log, export,
and the accounts: disable or enable users, change roles, revoke API tokens.

Auditors see the page and may verify and export; only administrators change
certifications and accounts.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from rxguard.access.passwords import set_password
from rxguard.access.policy import SITE_STAFF
from rxguard.access.scope import scoped_authorization
from rxguard.access.tokens import list_tokens, revoke_token, token_state
from rxguard.access.users import change_role, create_user, disable_user, enable_user, list_users
from rxguard.errors import AccessDeniedError, NotFoundError, RxguardError
from rxguard.program import certification, clearance, participants, reconciliation, transfer
from rxguard.program.overview import pending_overrides
from rxguard.program.participants_overview import certification_board, site_directory
from rxguard.program.registry import all_programs
from rxguard.store import audit
from rxguard.web.context import CsrfDep, PageContext, PageDep, unit_of_work
from rxguard.web.routing import WebRoute, error_page, redirect
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)
Field = Annotated[str, Form(max_length=200)]
CHANGES = ("certify", "suspend", "reinstate", "revoke")


def _admin_page(
    ctx: PageContext, *, error: str | None = None, verification: object = None, status_code: int = 200
) -> Response:
    assert ctx.user is not None
    ctx.user.require("administer", "audit")
    with unit_of_work(ctx.request) as session:
        board = certification_board(session)
        sites = site_directory(session)
        overrides = pending_overrides(session, within=None)
        may_reconcile = reconciliation.reconcilable(session, [o.id for o in overrides], reviewer_of(ctx))
        users = [(u.name, u.display_name, u.role, u.disabled_at is None) for u in list_users(session)]
        tokens = [
            (row.id, name, token_state(row, ctx.now), row.expires_at, row.label) for row, name in list_tokens(session)
        ]
    return render(
        ctx,
        "admin.html",
        status_code=status_code,
        board=board,
        sites=sites,
        default_zone=str(ctx.zone),
        programs=all_programs(),
        overrides=overrides,
        may_reconcile=may_reconcile,
        users=users,
        tokens=tokens,
        error=error,
        verification=verification,
    )


@router.get("/admin")
def admin_page(ctx: PageDep) -> Response:
    return _admin_page(ctx)


@router.post("/admin/certifications")
def change_certification(
    ctx: PageDep,
    _: CsrfDep,
    program: Field,
    participant: Field,
    change: Field,
    reason: Field = "",
    site_authorization_number: Field = "",
) -> Response:
    """Enroll-and-certify, suspend, reinstate or revoke one participant in one program, with a reason.

    The participant is chosen as ``kind:key`` from one list (prescribers and
    sites under their own headings), so a prescriber can never be sent as a site.
    """
    assert ctx.user is not None
    ctx.user.require("administer")
    kind, _sep, key = participant.partition(":")
    if change not in CHANGES or kind not in ("prescriber", "site") or not key:
        return _admin_page(ctx, error=ctx.t("admin.unknown-change"), status_code=400)
    if not reason.strip():
        return _admin_page(ctx, error=ctx.t("admin.reason-required"), status_code=400)
    common: dict[str, Any] = {"program_id": program, "kind": kind, "key": key, "at": ctx.now, "actor": ctx.user.name}
    try:
        with unit_of_work(ctx.request) as session:
            if change == "certify":
                if certification_board(session).status(program, kind, key) is None:
                    certification.enroll_participant(session, reason=reason, **common)
                certification.certify(
                    session,
                    training_attested_at=ctx.now,
                    reason=reason,
                    site_authorization_number=site_authorization_number.strip() or None,
                    **common,
                )
            else:
                getattr(certification, change)(session, reason=reason, **common)
    except AccessDeniedError:
        raise
    except RxguardError as exc:
        return _admin_page(ctx, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/admin?notice=certification-{change}#certifications")


def _registration(ctx: PageContext, register: Any, notice: str) -> Response:
    """Register one participant as the signed-in administrator; a refusal is shown on the page."""
    assert ctx.user is not None
    ctx.user.require("administer")
    try:
        with unit_of_work(ctx.request) as session:
            register(session)
    except AccessDeniedError:
        raise
    except RxguardError as exc:
        return _admin_page(ctx, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/admin?notice={notice}#participants")


@router.post("/admin/prescribers")
def register_prescriber(ctx: PageDep, _: CsrfDep, key: Field, name: Field) -> Response:
    """A prescriber exists once; certify them in each program afterwards."""
    assert ctx.user is not None
    actor = ctx.user.name
    return _registration(
        ctx,
        lambda s: participants.register_prescriber(s, key=key.strip(), name=name, at=ctx.now, actor=actor),
        "prescriber-registered",
    )


@router.post("/admin/sites")
def register_site(ctx: PageDep, _: CsrfDep, key: Field, name: Field, timezone: Field = "") -> Response:
    """An infusion site with its own time zone (empty: the installation's)."""
    assert ctx.user is not None
    actor = ctx.user.name
    return _registration(
        ctx,
        lambda s: participants.register_site(s, key=key.strip(), name=name, timezone=timezone, at=ctx.now, actor=actor),
        "site-registered",
    )


@router.post("/admin/sites/{site_key}/timezone")
def change_site_timezone(ctx: PageDep, _: CsrfDep, site_key: str, timezone: Field = "") -> Response:
    assert ctx.user is not None
    actor = ctx.user.name
    return _registration(
        ctx,
        lambda s: participants.set_site_timezone(s, site_key=site_key, timezone=timezone, at=ctx.now, actor=actor),
        "site-timezone-changed",
    )


@router.post("/admin/pharmacies")
def register_pharmacy(ctx: PageDep, _: CsrfDep, site: Field, key: Field, name: Field) -> Response:
    """A pharmacy belongs to one infusion site and dispenses only for it."""
    assert ctx.user is not None
    actor = ctx.user.name
    return _registration(
        ctx,
        lambda s: participants.add_pharmacy(s, site_key=site, key=key.strip(), name=name, at=ctx.now, actor=actor),
        "pharmacy-registered",
    )


@router.post("/admin/audit-verification")
def verify_audit(ctx: PageDep, _: CsrfDep) -> Response:
    """Walk the hash chain now and show the result (which entry broke it, if any)."""
    assert ctx.user is not None
    ctx.user.require("audit")
    with unit_of_work(ctx.request) as session:
        report = audit.verify(session)
    return _admin_page(ctx, verification=report)


def reviewer_of(ctx: PageContext) -> reconciliation.Reviewer:
    assert ctx.user is not None
    return reconciliation.Reviewer(ctx.user.name, ctx.user.role, ctx.user.site_id)


@router.post("/admin/overrides/{override_id}/reconciliation")
@router.post("/overrides/{override_id}/reconciliation")
def reconcile(ctx: PageDep, _: CsrfDep, override_id: str, note: Field = "", back: Field = "") -> Response:
    """Reconcile an override with a note: the administrator, or a pharmacist of the site, who took no part in it."""
    assert ctx.user is not None
    try:
        with unit_of_work(ctx.request) as session:
            if ctx.user.sees_everything is False:  # site staff: the override must be in their scope first
                override = clearance.get_override(session, override_id)
                scoped_authorization(session, ctx.user, override.authorization_id)
            reconciliation.reconcile(session, override_id=override_id, reviewer=reviewer_of(ctx), note=note,
                                     at=ctx.now)  # fmt: skip
    except (AccessDeniedError, NotFoundError):
        raise
    except RxguardError as exc:
        if back == "dashboard":
            return error_page(ctx.request, 400, "error.refused-title", str(exc))
        return _admin_page(ctx, error=str(exc), status_code=400)
    if back == "dashboard":
        return redirect(ctx.request, "/?notice=override-reconciled#panel-overrides")
    return redirect(ctx.request, "/admin?notice=override-reconciled#overrides")


@router.get("/admin/export")
def export(ctx: PageDep) -> Response:
    """The whole program as FHIR NDJSON (history and audit chain included), as a download."""
    assert ctx.user is not None
    ctx.user.require("audit")
    with unit_of_work(ctx.request) as session:
        lines = list(transfer.export_ndjson(session))
        body = "".join(line + "\n" for line in lines)
        transfer.record_export(session, resources=len(lines), digest=hashlib.sha256(body.encode()).hexdigest(),
                               at=ctx.now, actor=ctx.user.name)  # fmt: skip
    name = f"rxguard-program-{ctx.now.strftime('%Y%m%dT%H%M%SZ')}.ndjson"
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _account_change(ctx: PageContext, change: Any, notice: str) -> Response:
    """Run one account change as the signed-in administrator; a refusal is shown on the page."""
    assert ctx.user is not None
    ctx.user.require("administer")
    try:
        with unit_of_work(ctx.request) as session:
            change(session)
    except AccessDeniedError:
        raise
    except RxguardError as exc:
        return _admin_page(ctx, error=str(exc), status_code=400)
    return redirect(ctx.request, f"/admin?notice={notice}#users")


@router.post("/admin/users")
def add_user(
    ctx: PageDep,
    _: CsrfDep,
    name: Field,
    role: Field,
    password: Annotated[str, Form(max_length=256)],
    display_name: Field = "",
    prescriber: Field = "",
    site: Field = "",
) -> Response:
    """Add a user with a first password: a prescriber user is a registered prescriber, site staff work at one site."""
    assert ctx.user is not None
    ctx.user.require("administer")
    if role == "prescriber" and not prescriber.strip():
        return _admin_page(ctx, error=ctx.t("admin.create-needs-prescriber"), status_code=400)
    if role in SITE_STAFF and not site.strip():
        return _admin_page(ctx, error=ctx.t("admin.create-needs-site"), status_code=400)
    actor, user_name = ctx.user.name, name.strip().lower()

    def add(session: Any) -> None:
        create_user(session, name=user_name, role=role, display_name=display_name.strip(), at=ctx.now, actor=actor,
                    prescriber_key=prescriber.strip() if role == "prescriber" else None,
                    site_key=site.strip() if role in SITE_STAFF else None)  # fmt: skip
        set_password(session, user_name=user_name, password=password, at=ctx.now, actor=actor)

    return _account_change(ctx, add, "user-created")


@router.post("/admin/users/{name}/disable")
def disable(ctx: PageDep, _: CsrfDep, name: str) -> Response:
    """Disable a user: sign-in refused, every session and token of theirs revoked for good."""
    assert ctx.user is not None
    actor = ctx.user.name
    return _account_change(ctx, lambda s: disable_user(s, name=name, at=ctx.now, actor=actor), "user-disabled")


@router.post("/admin/users/{name}/enable")
def enable(ctx: PageDep, _: CsrfDep, name: str) -> Response:
    assert ctx.user is not None
    actor = ctx.user.name
    return _account_change(ctx, lambda s: enable_user(s, name=name, at=ctx.now, actor=actor), "user-enabled")


@router.post("/admin/users/role")
def role(ctx: PageDep, _: CsrfDep, name: Field, role: Field, prescriber: Field = "", site: Field = "") -> Response:
    assert ctx.user is not None
    actor = ctx.user.name
    return _account_change(
        ctx,
        lambda s: change_role(
            s,
            name=name,
            role=role,
            prescriber_key=prescriber.strip() or None,
            site_key=site.strip() or None,
            at=ctx.now,
            actor=actor,
        ),
        "role-changed",
    )


@router.post("/admin/tokens/{token_id}/revocation")
def revoke(ctx: PageDep, _: CsrfDep, token_id: str) -> Response:
    assert ctx.user is not None
    actor = ctx.user.name
    return _account_change(ctx, lambda s: revoke_token(s, token_id=token_id, at=ctx.now, actor=actor), "token-revoked")
