"""Prescribers, infusion sites (with their pharmacies) and patients.

Participants exist once per instance; their standing in each program is a
certification (prescribers, sites) or an enrollment (patients).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from rxguard.errors import InputError
from rxguard.program import validation
from rxguard.program.common import flush_or_conflict, require_aware, site
from rxguard.store import audit, lookups
from rxguard.store.models import Patient, Pharmacy, Prescriber, Site


def _check_key(key: str) -> str:
    key = validation.clean_text(key, "key", max_length=64)
    if not key or not key.replace("_", "").replace("-", "").isalnum() or len(key) > 64:
        raise InputError(f"key {key!r} must be 1-64 letters, digits, '_' or '-' (e.g. dr_ada)")
    return key


def _check_name(name: str) -> str:
    return validation.clean_text(name, "name", max_length=200, required=True)


def _exists(session: Session, model: type[Prescriber | Site | Patient | Pharmacy], key: str) -> bool:
    return lookups.key_exists(session, model, key)


def _refuse_duplicate(session: Session, model: type[Prescriber | Site | Patient | Pharmacy], key: str) -> None:
    if _exists(session, model, key):
        raise InputError(f"{model.__tablename__} {key!r} already exists; keys are unique")


def register_prescriber(session: Session, *, key: str, name: str, at: datetime, actor: str) -> Prescriber:
    require_aware(at)
    key, name = _check_key(key), _check_name(name)
    _refuse_duplicate(session, Prescriber, key)
    row = Prescriber(key=key, name=name, created_at=at)
    session.add(row)
    flush_or_conflict(session, f"prescriber {key}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action="prescriber.registered",
        entity="prescriber",
        entity_id=row.id,
        payload={"key": key, "name": name},
    )
    return row


def check_timezone(value: str | None) -> str | None:
    """An IANA time zone name (e.g. Europe/Berlin), or None for the installation's zone."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"time zone {value!r} is not an IANA time zone name; give one such as Europe/Berlin") from None
    return value


def register_site(
    session: Session, *, key: str, name: str, at: datetime, actor: str, timezone: str | None = None
) -> Site:
    require_aware(at)
    key, name, timezone = _check_key(key), _check_name(name), check_timezone(timezone)
    _refuse_duplicate(session, Site, key)
    row = Site(key=key, name=name, created_at=at, timezone=timezone)
    session.add(row)
    flush_or_conflict(session, f"site {key}")
    payload: dict[str, str] = {"key": key, "name": name}
    if timezone:
        payload["timezone"] = timezone
    audit.record(
        session, at=at, actor=actor, action="site.registered", entity="site", entity_id=row.id, payload=payload
    )
    return row


def set_site_timezone(session: Session, *, site_key: str, timezone: str | None, at: datetime, actor: str) -> Site:
    """Change the zone a site's pages show times in and count "today" in (stored times stay UTC)."""
    require_aware(at)
    row = site(session, site_key)
    zone = check_timezone(timezone)
    if row.timezone == zone:
        return row
    before, row.timezone = row.timezone, zone
    audit.record(session, at=at, actor=actor, action="site.timezone-changed", entity="site", entity_id=row.id,
                 payload={"key": site_key, "from": before, "to": zone})  # fmt: skip
    return row


def site_timezone(session: Session, site_id: str | None) -> str | None:
    """The site's own time zone name, or None (no site, or the installation's zone)."""
    if site_id is None:
        return None
    return lookups.site_timezone(session, site_id)


def add_pharmacy(session: Session, *, site_key: str, key: str, name: str, at: datetime, actor: str) -> Pharmacy:
    """A pharmacy belongs to one infusion site and dispenses only for it."""
    require_aware(at)
    key, name = _check_key(key), _check_name(name)
    owner = site(session, site_key)
    _refuse_duplicate(session, Pharmacy, key)
    row = Pharmacy(site_id=owner.id, key=key, name=name, created_at=at)
    session.add(row)
    flush_or_conflict(session, f"pharmacy {key}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action="pharmacy.registered",
        entity="pharmacy",
        entity_id=row.id,
        payload={"key": key, "site": site_key},
    )
    return row


def register_patient(
    session: Session,
    *,
    key: str,
    name: str,
    at: datetime,
    actor: str,
    birth_on: date | None = None,
    sex: str | None = None,
) -> Patient:
    require_aware(at)
    key, name = _check_key(key), _check_name(name)
    birth_on = validation.birth_date(birth_on, "birth_on", today=at.date())
    _refuse_duplicate(session, Patient, key)
    if sex is not None and sex not in ("female", "male", "other", "unknown"):
        raise InputError(f"sex {sex!r} must be female, male, other or unknown")
    row = Patient(key=key, name=name, birth_on=birth_on, sex=sex, created_at=at)
    session.add(row)
    flush_or_conflict(session, f"patient {key}")
    audit.record(
        session,
        at=at,
        actor=actor,
        action="patient.registered",
        entity="patient",
        entity_id=row.id,
        payload={"key": key},
    )
    return row
