"""The reads behind the administrator's board: participants, certifications, sites with their pharmacies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxguard.store.models import Certification, Pharmacy, Prescriber, Site


def prescriber_names(session: Session) -> list[tuple[str, str]]:
    """(key, name) of every prescriber, by key."""
    return [(k, n) for k, n in session.execute(select(Prescriber.key, Prescriber.name).order_by(Prescriber.key))]


def site_names(session: Session) -> list[tuple[str, str]]:
    """(key, name) of every infusion site, by key."""
    return [(k, n) for k, n in session.execute(select(Site.key, Site.name).order_by(Site.key))]


def certifications(session: Session) -> list[Any]:
    """(certification, prescriber key, site key) of every certification; the key of the other party is None."""
    rows = session.execute(
        select(Certification, Prescriber.key, Site.key)
        .outerjoin(Prescriber, Prescriber.id == Certification.prescriber_id)
        .outerjoin(Site, Site.id == Certification.site_id)
    )
    return [(cert, doc, site) for cert, doc, site in rows]


def pharmacies_by_site(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Site id -> (key, name) of its pharmacies, by key."""
    found: dict[str, list[tuple[str, str]]] = {}
    for site_id, key, name in session.execute(
        select(Pharmacy.site_id, Pharmacy.key, Pharmacy.name).order_by(Pharmacy.key)
    ):
        found.setdefault(site_id, []).append((key, name))
    return found


def sites(session: Session) -> list[Site]:
    """Every infusion site, by key."""
    return list(session.scalars(select(Site).order_by(Site.key)))
