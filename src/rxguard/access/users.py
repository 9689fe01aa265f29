"""Users: a name, one role, and the prescriber or site that scopes them."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rxguard.access.policy import ROLES, SITE_STAFF, Principal
from rxguard.errors import InputError, NotFoundError
from rxguard.store import audit
from rxguard.store.auth_models import ApiToken, AppUser
from rxguard.store.credential_models import WebSession
from rxguard.store.models import Prescriber, Site

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _row_by_key(session: Session, model: type[Prescriber] | type[Site], key: str) -> str:
    row_id = session.execute(select(model.id).where(model.key == key)).scalar_one_or_none()
    if row_id is None:
        raise NotFoundError(f"no {model.__tablename__} with key {key!r}; register it first")
    return row_id


def create_user(
    session: Session, *, name: str, role: str, at: datetime, actor: str,
    display_name: str = "", prescriber_key: str | None = None, site_key: str | None = None,
) -> AppUser:  # fmt: skip
    """Add a user. A prescriber names their prescriber key; a nurse or pharmacist their site."""
    if not _NAME.match(name):
        raise InputError(f"user name {name!r} must be 1-64 lower-case letters, digits, '_', '.' or '-'")
    if role not in ROLES:
        raise InputError(f"role {role!r} is not known; use one of {', '.join(ROLES)}")
    if role == "prescriber" and not prescriber_key:
        raise InputError("a prescriber user needs --prescriber KEY (the program's prescriber)")
    if role in SITE_STAFF and not site_key:
        raise InputError(f"a {role} user needs --site KEY (the infusion site they work at)")
    if session.execute(select(AppUser.id).where(AppUser.name == name)).first() is not None:
        raise InputError(f"user {name!r} already exists; pick another name")
    user = AppUser(
        name=name,
        display_name=display_name or name,
        role=role,
        prescriber_id=_row_by_key(session, Prescriber, prescriber_key) if prescriber_key else None,
        site_id=_row_by_key(session, Site, site_key) if site_key else None,
        created_at=at,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, at=at, actor=actor, action="user.created", entity="app_user", entity_id=user.id,
        payload={"name": name, "role": role, "prescriber": prescriber_key, "site": site_key},
    )  # fmt: skip
    return user


def _links_for(
    session: Session, role: str, prescriber_key: str | None, site_key: str | None
) -> tuple[str | None, str | None]:
    if role not in ROLES:
        raise InputError(f"role {role!r} is not known; use one of {', '.join(ROLES)}")
    if role == "prescriber" and not prescriber_key:
        raise InputError("a prescriber user needs --prescriber KEY (the program's prescriber)")
    if role in SITE_STAFF and not site_key:
        raise InputError(f"a {role} user needs --site KEY (the infusion site they work at)")
    prescriber_id = (
        _row_by_key(session, Prescriber, prescriber_key) if role == "prescriber" and prescriber_key else None
    )
    site_id = _row_by_key(session, Site, site_key) if role in SITE_STAFF and site_key else None
    return prescriber_id, site_id


def disable_user(session: Session, *, name: str, at: datetime, actor: str) -> AppUser:
    """Stop a user at once: no sign-in, and every browser session and API token ends for good.

    Re-enabling the user does not bring them back: they sign in again and get new tokens."""
    user = get_user(session, name)
    if actor == user.name:
        raise InputError("you cannot disable your own account; ask another administrator")
    sessions = session.execute(
        update(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None)).values(revoked_at=at)
    ).rowcount  # type: ignore[attr-defined]
    tokens = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=at)
    ).rowcount  # type: ignore[attr-defined]
    if user.disabled_at is None:
        user.disabled_at = at
    session.flush()
    audit.record(
        session, at=at, actor=actor, action="user.disabled", entity="app_user", entity_id=user.id,
        payload={"name": user.name, "sessions_ended": sessions, "tokens_revoked": tokens},
    )  # fmt: skip
    return user


def enable_user(session: Session, *, name: str, at: datetime, actor: str) -> AppUser:
    """Let a disabled user sign in again (their old sessions and tokens stay revoked)."""
    user = get_user(session, name)
    if user.disabled_at is not None:
        user.disabled_at = None
        audit.record(session, at=at, actor=actor, action="user.enabled", entity="app_user", entity_id=user.id,
                     payload={"name": user.name})  # fmt: skip
    return user


def change_role(
    session: Session, *, name: str, role: str, at: datetime, actor: str,
    prescriber_key: str | None = None, site_key: str | None = None,
) -> AppUser:  # fmt: skip
    """Give a user another role (and the prescriber or site it needs); takes effect on their next request."""
    user = get_user(session, name)
    if actor == user.name:
        raise InputError("you cannot change your own role; ask another administrator")
    user.prescriber_id, user.site_id = _links_for(session, role, prescriber_key, site_key)
    before, user.role = user.role, role
    session.flush()
    audit.record(
        session, at=at, actor=actor, action="user.role-changed", entity="app_user", entity_id=user.id,
        payload={"name": user.name, "from": before, "to": role, "prescriber": prescriber_key, "site": site_key},
    )  # fmt: skip
    return user


def get_user(session: Session, name: str) -> AppUser:
    user = session.execute(select(AppUser).where(AppUser.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {name!r}; create it with 'rxguard user create'")
    return user


def list_users(session: Session) -> list[AppUser]:
    return list(session.execute(select(AppUser).order_by(AppUser.name)).scalars())


def principal_of(user: AppUser) -> Principal:
    return Principal(
        user_id=user.id,
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        prescriber_id=user.prescriber_id,
        site_id=user.site_id,
    )
