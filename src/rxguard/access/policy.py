"""Roles, the signed-in principal, and the rules of who may read or change what.

Deny by default: a capability not granted here is refused. The rules, in
plain words:

* **prescriber** — reads and acts on their own patients only (patients whose
  enrollment names them as prescriber);
* **nurse**, **pharmacist** (site staff) — read and act on the patients of
  their own infusion site only;
* **admin** (program administrator) — registers participants and certifies
  prescribers and sites; reads everything; may override as medical director;
* **auditor** — reads everything, including the audit log; changes nothing.

Which patients belong to a site or a prescriber is a question for the
program's data (see :mod:`rxguard.access.scope`); this module only says which
role may take which kind of action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rxguard.errors import AccessDeniedError

Role = Literal["prescriber", "nurse", "pharmacist", "admin", "auditor"]
ROLES: tuple[Role, ...] = ("prescriber", "nurse", "pharmacist", "admin", "auditor")
SITE_STAFF: frozenset[str] = frozenset({"nurse", "pharmacist"})

#: Kinds of action. ``read`` is scoped by patient; the others are writes.
Action = Literal[
    "read",  # see records (scoped)
    "assess",  # run the engine on submitted data (no record read or written)
    "administer",  # participants, certification, users (program administrator)
    "prescribe",  # enrollment, consent, clearances, overrides, reauthorization, discontinuation
    "infuse",  # pre-infusion authorization, infusion records (site staff)
    "report",  # adverse events, monitoring events (any clinician in scope)
    "audit",  # read the audit log, verify its chain, export the program
    "override",  # emergency bypass of failed checks by a role the program names
]

_GRANTS: dict[str, frozenset[str]] = {
    "prescriber": frozenset({"read", "assess", "prescribe", "report", "override"}),
    "nurse": frozenset({"read", "assess", "infuse", "report"}),
    "pharmacist": frozenset({"read", "assess", "infuse", "report", "override"}),
    "admin": frozenset({"read", "assess", "administer", "audit", "override"}),
    "auditor": frozenset({"read", "assess", "audit"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request, with the program rows that scope them."""

    user_id: str
    name: str
    role: Role
    prescriber_id: str | None = None
    site_id: str | None = None

    @property
    def sees_everything(self) -> bool:
        """Administrators and auditors read across every site and prescriber."""
        return self.role in ("admin", "auditor")

    def may(self, action: Action) -> bool:
        return action in _GRANTS.get(self.role, frozenset())

    def require(self, *actions: Action) -> None:
        """Pass when the role grants any of ``actions``; otherwise name the roles that would."""
        if any(self.may(action) for action in actions):
            return
        needed = sorted(role for role, grants in _GRANTS.items() if grants & set(actions))
        raise AccessDeniedError(
            f"user {self.name!r} ({self.role}) may not {' or '.join(actions)}; "
            f"this needs one of the roles: {', '.join(needed)}"
        )


#: The program role (``override_roles`` in program.yaml) each user role may claim when overriding.
OVERRIDE_ROLE: dict[str, str] = {
    "prescriber": "prescriber",
    "pharmacist": "pharmacist-in-charge",
    "admin": "medical-director",
}
