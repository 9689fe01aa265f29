"""Roles, the signed-in principal, and the rules of who may read or change what.

Deny by default: a capability not granted here is refused. The rules, in
plain words:

* **prescriber** — reads and acts on their own patients only (patients whose
  enrollment names them as prescriber);
* **nurse**, **pharmacist** (site staff) — read and act on the patients of
  their own infusion site only;
* **admin** (program administrator) — registers participants and certifies
  prescribers and sites; reads everything;
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
    "audit",  # read the audit log and verify its chain
]

_GRANTS: dict[str, frozenset[str]] = {
    "prescriber": frozenset({"read", "assess", "prescribe", "report"}),
    "nurse": frozenset({"read", "assess", "infuse", "report"}),
    "pharmacist": frozenset({"read", "assess", "infuse", "report"}),
    "admin": frozenset({"read", "assess", "administer", "audit"}),
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

    def require(self, action: Action) -> None:
        if not self.may(action):
            needed = sorted(role for role, grants in _GRANTS.items() if action in grants)
            raise AccessDeniedError(
                f"user {self.name!r} ({self.role}) may not {action}; this needs one of the roles: " + ", ".join(needed)
            )
