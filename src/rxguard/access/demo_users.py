"""Sign-ins for the demo program: one user per role, each with the demo password.

The names match the actors the demo data already uses (``nurse_kim`` infused
at site_north, ``nurse_lee`` works at site_south, ``dr_ada`` prescribes), so
what a demo user sees in the audit trail is their own work. Idempotent: users
that exist keep their rows and get the password again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.passwords import set_password
from rxguard.access.users import create_user
from rxguard.store.auth_models import AppUser

#: name -> (role, display name, prescriber key, site key, what they show)
DEMO_USERS: dict[str, tuple[str, str, str | None, str | None, str]] = {
    "dr_ada": ("prescriber", "Dr Ada Lovelace", "dr_ada", None, "prescriber of every demo patient"),
    "dr_ben": ("prescriber", "Dr Ben Carter", "dr_ben", None, "prescriber whose TOUCH training is not attested"),
    "nurse_kim": ("nurse", "Kim Park, RN", None, "site_north", "infusion nurse at North Infusion Centre"),
    "nurse_lee": ("nurse", "Lee Moreau, RN", None, "site_south", "infusion nurse at South Clinic (a foreign site)"),
    "pharm_pia": ("pharmacist", "Pia Santos, PharmD", None, "site_north", "pharmacist at North Infusion Centre"),
    "admin_mo": ("admin", "Mo Farouk", None, None, "program administrator"),
    "auditor_sam": ("auditor", "Sam Idowu", None, None, "auditor (reads everything, changes nothing)"),
}


def create_demo_users(session: Session, *, password: str, at: datetime, actor: str) -> dict[str, str]:
    """Create (or refresh) the demo sign-ins; returns user name -> what the user shows."""
    for name, (role, display, prescriber_key, site_key, _) in DEMO_USERS.items():
        exists = session.execute(select(AppUser.id).where(AppUser.name == name)).first() is not None
        if not exists:
            create_user(
                session,
                name=name,
                role=role,
                display_name=display,
                prescriber_key=prescriber_key,
                site_key=site_key,
                at=at,
                actor=actor,
            )
        set_password(session, user_name=name, password=password, at=at, actor=actor)
    return {name: f"{role}: {shows}" for name, (role, _, _, _, shows) in DEMO_USERS.items()}
