"""Web sign-ins for the demo users: each demo user (``rxguard.access.demo``) gets the demo password.

The API's demo users get tokens; the same people sign in to the web
application with a password, so ``make run`` prints one set of names for
both. Idempotent: users that exist keep their rows and get the password again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.demo import DEMO_USERS
from rxguard.access.passwords import set_password
from rxguard.access.users import create_user
from rxguard.store.auth_models import AppUser


def create_demo_users(session: Session, *, password: str, at: datetime, actor: str) -> dict[str, str]:
    """Create the demo users that are missing and set the demo password; returns name -> what they see."""
    for name, (role, display, links, _) in DEMO_USERS.items():
        if session.execute(select(AppUser.id).where(AppUser.name == name)).first() is None:
            create_user(session, name=name, role=role, display_name=display, at=at, actor=actor, **links)
        set_password(session, user_name=name, password=password, at=at, actor=actor, published_demo=True)
    return {name: f"{role}, {display}: {sees}" for name, (role, display, _, sees) in DEMO_USERS.items()}
