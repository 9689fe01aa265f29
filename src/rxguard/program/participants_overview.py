"""Every prescriber and site with its certification in every program: the administrator's board.

Two queries (participants, certifications), whatever the number of programs,
so the administration page stays fast as the program grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store.models import Certification, Pharmacy, Prescriber, Site


@dataclass(frozen=True)
class Participant:
    kind: str  # prescriber | site
    key: str
    name: str


@dataclass(frozen=True)
class Standing:
    status: str
    site_authorization_number: str | None


@dataclass(frozen=True)
class CertificationBoard:
    participants: list[Participant]
    standings: dict[tuple[str, str, str], Standing]  # (program, kind, key) -> standing

    def status(self, program: str, kind: str, key: str) -> str | None:
        found = self.standings.get((program, kind, key))
        return found.status if found else None


def certification_board(session: Session) -> CertificationBoard:
    people = [
        Participant("prescriber", k, n)
        for k, n in session.execute(select(Prescriber.key, Prescriber.name).order_by(Prescriber.key))
    ]
    people += [Participant("site", k, n) for k, n in session.execute(select(Site.key, Site.name).order_by(Site.key))]
    rows = session.execute(
        select(Certification, Prescriber.key, Site.key)
        .outerjoin(Prescriber, Prescriber.id == Certification.prescriber_id)
        .outerjoin(Site, Site.id == Certification.site_id)
    )
    standings = {
        (cert.program_id, cert.party_kind, doc or site): Standing(cert.status, cert.site_authorization_number)
        for cert, doc, site in rows
    }
    return CertificationBoard(people, standings)


@dataclass(frozen=True)
class SiteEntry:
    key: str
    name: str
    timezone: str | None  # None: the installation's zone
    pharmacies: tuple[tuple[str, str], ...]  # (key, name)


def site_directory(session: Session) -> list[SiteEntry]:
    """Every infusion site with its time zone and its pharmacies (two queries)."""
    pharmacies: dict[str, list[tuple[str, str]]] = {}
    for site_id, key, name in session.execute(
        select(Pharmacy.site_id, Pharmacy.key, Pharmacy.name).order_by(Pharmacy.key)
    ):
        pharmacies.setdefault(site_id, []).append((key, name))
    return [
        SiteEntry(row.key, row.name, row.timezone, tuple(pharmacies.get(row.id, ())))
        for row in session.scalars(select(Site).order_by(Site.key))
    ]
