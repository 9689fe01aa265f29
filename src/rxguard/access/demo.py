"""Demo users over the demo program: one per role, plus a foreign site's pharmacist.

Used by ``make run`` (through ``rxguard user demo``) so a new user can sign
in to the API at once; never for real data (the tokens are printed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.access.tokens import create_token
from rxguard.access.users import create_user
from rxguard.store.auth_models import AppUser

#: name -> (role, display name, links, what they may see)
DEMO_USERS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "ada": ("prescriber", "Dr Ada Lovelace", {"prescriber_key": "dr_ada"}, "her own patients (all demo patients)"),
    "ben": ("prescriber", "Dr Ben Carter", {"prescriber_key": "dr_ben"}, "no patients (not certified)"),
    "nina": ("nurse", "Nina Park, RN", {"site_key": "site_north"}, "site_north's patients"),
    "paul": ("pharmacist", "Paul Meyer, PharmD", {"site_key": "site_south"}, "site_south's patients"),
    "admin": ("admin", "Program administrator", {}, "everything; certifies, registers"),
    "audrey": ("auditor", "Audrey Auditor", {}, "everything, read-only; audit log"),
}


def create_demo_users(session: Session, *, at: datetime, actor: str) -> list[dict[str, str]]:
    """Create the demo users that do not exist yet, and a fresh token for each."""
    out = []
    for name, (role, display, links, sees) in DEMO_USERS.items():
        if session.execute(select(AppUser.id).where(AppUser.name == name)).first() is None:
            create_user(session, name=name, role=role, display_name=display, at=at, actor=actor, **links)
        token, _ = create_token(session, user_name=name, at=at, actor=actor, label="demo", valid_days=30)
        out.append({"name": name, "role": role, "display_name": display, "sees": sees, "token": token})
    return out
