"""Who reconciles an emergency override: a reviewer who took no part in it, of a role that may review.

An override is asked by one person and confirmed by a second; afterwards it
stays on the list until someone reviews what was done and writes a note.
That review is done by the program administrator (any override) or by a
pharmacist of the site where the dose was overridden (the pharmacist in
charge of what the site dispensed), never by the person who asked for or
confirmed it: no single person both passes a check and closes the file on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from rxguard.errors import AccessDeniedError
from rxguard.program import clearance
from rxguard.program.common import by_id
from rxguard.store.models import Authorization, Override

#: The user roles that may reconcile overrides (a pharmacist: only at their own site).
RECONCILE_ROLES = ("admin", "pharmacist")


@dataclass(frozen=True)
class Reviewer:
    name: str
    role: str
    site_id: str | None = None


def refusal(record: Override, site_id: str, reviewer: Reviewer) -> str | None:
    """Why ``reviewer`` may not reconcile this override (given at ``site_id``), or None when they may."""
    if reviewer.role not in RECONCILE_ROLES:
        return (
            f"a {reviewer.role} does not reconcile overrides; the program administrator or the site's pharmacist does"
        )
    if reviewer.role == "pharmacist" and reviewer.site_id != site_id:
        return "a pharmacist reconciles only the overrides given at their own site"
    if reviewer.name in (record.actor, record.confirmed_by):
        return "you asked for or confirmed this override; another reviewer reconciles it"
    return None


def reconcile(session: Session, *, override_id: str, reviewer: Reviewer, note: str, at: datetime) -> Override:
    """Reconcile one override with a note, as ``reviewer`` (refused with the reason when they may not)."""
    record = by_id(session, Override, override_id, lock=True)
    site_id = by_id(session, Authorization, record.authorization_id).site_id
    why = refusal(record, site_id, reviewer)
    if why is not None:
        raise AccessDeniedError(why)
    return clearance.reconcile_override(session, override_id=override_id, actor=reviewer.name, note=note, at=at)


def reconcilable(session: Session, override_ids: list[str], reviewer: Reviewer) -> set[str]:
    """The overrides among ``override_ids`` that ``reviewer`` may reconcile (to offer the form only there)."""
    out: set[str] = set()
    for override_id in override_ids:
        record = by_id(session, Override, override_id)
        site_id = by_id(session, Authorization, record.authorization_id).site_id
        if refusal(record, site_id, reviewer) is None:
            out.add(override_id)
    return out
