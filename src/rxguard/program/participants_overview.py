"""Every prescriber and site with its certification in every program: the administrator's board.

Two queries (participants, certifications), whatever the number of programs,
so the administration page stays fast as the program grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from rxguard.store import participants as reads


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
    people = [Participant("prescriber", k, n) for k, n in reads.prescriber_names(session)]
    people += [Participant("site", k, n) for k, n in reads.site_names(session)]
    standings = {
        (cert.program_id, cert.party_kind, doc or site): Standing(cert.status, cert.site_authorization_number)
        for cert, doc, site in reads.certifications(session)
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
    pharmacies = reads.pharmacies_by_site(session)
    return [
        SiteEntry(row.key, row.name, row.timezone, tuple(pharmacies.get(row.id, ()))) for row in reads.sites(session)
    ]
