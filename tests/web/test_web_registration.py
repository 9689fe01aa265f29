"""Registering prescribers, sites and pharmacies on the administration page; each site's own time zone.

Every registration is refused to every role but the administrator (and then
nothing is stored); a refused value comes back as one line on the page; the
certification form takes one participant choice, so a prescriber can never
be certified as a site. A site's zone moves its staff's "today".
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_demo import NOW, sign_in

from rxguard.access.scope import assign_site
from rxguard.program import authorization
from rxguard.program.overview import visits_on
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, Certification, Pharmacy, Prescriber, Site

ROLES = {"ada": "prescriber", "nina": "nurse", "paul": "pharmacist", "admin": "admin", "audrey": "auditor"}
REGISTRATIONS = (
    ("/admin/prescribers", {"key": "dr_cho", "name": "Dr Mei Cho"}, Prescriber),
    ("/admin/sites", {"key": "site_east", "name": "East Infusion Unit", "timezone": "Asia/Shanghai"}, Site),
    ("/admin/pharmacies", {"site": "site_north", "key": "pharm_north_2", "name": "North Satellite Pharmacy"},
     Pharmacy),
)  # fmt: skip


def _factory(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _count(client: TestClient, model: type, key: str) -> int:
    with transaction(_factory(client)) as session:
        return int(session.execute(select(func.count()).select_from(model).where(model.key == key)).scalar_one())


@pytest.mark.parametrize("user", sorted(ROLES))
@pytest.mark.parametrize(("path", "fields", "model"), REGISTRATIONS, ids=[r[0] for r in REGISTRATIONS])
def test_only_an_administrator_registers_and_nothing_is_stored_otherwise(
    client: TestClient, user: str, path: str, fields: dict[str, str], model: type
) -> None:
    token = sign_in(client, user)
    response = client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)
    if ROLES[user] == "admin":
        assert response.status_code == 303, response.text[:400]
        assert _count(client, model, fields["key"]) == 1
        page = client.get("/admin").text
        assert fields["name"] in page
    else:
        assert response.status_code == 403
        assert _count(client, model, fields["key"]) == 0


@pytest.mark.parametrize(
    ("path", "fields", "says"),
    [
        ("/admin/sites", {"key": "site_x", "name": "X", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ("/admin/sites", {"key": "site_north", "name": "Again"}, "already exists"),
        ("/admin/prescribers", {"key": "dr ada", "name": "Space"}, "must be 1-64 letters"),
        ("/admin/pharmacies", {"site": "site_nowhere", "key": "pharm_x", "name": "X"}, "site_nowhere"),
        ("/admin/sites/site_north/timezone", {"timezone": "Europe/Nowhere"}, "not an IANA time zone"),
    ],
)
def test_a_refused_registration_says_why_in_one_line_and_stores_nothing(
    client: TestClient, path: str, fields: dict[str, str], says: str
) -> None:
    token = sign_in(client, "admin")
    with transaction(_factory(client)) as session:
        before = [(s.key, s.name, s.timezone) for s in session.scalars(select(Site).order_by(Site.key))]
    response = client.post(path, data={"csrf_token": token, **fields})
    assert response.status_code == 400
    alert = re.search(r'<div class="alert alert-stop" role="alert">([^<]*)</div>', response.text)
    assert alert and says in alert.group(1) and "\n" not in alert.group(1).strip()
    with transaction(_factory(client)) as session:
        after = [(s.key, s.name, s.timezone) for s in session.scalars(select(Site).order_by(Site.key))]
    assert after == before


def test_the_certification_form_has_one_participant_choice_and_certifies_the_kind_chosen(client: TestClient) -> None:
    token = sign_in(client, "admin")
    page = client.get("/admin").text
    assert 'id="c-kind"' not in page  # no separate "Kind" menu to mismatch
    assert 'value="prescriber:dr_ben"' in page and 'value="site:site_north"' in page
    done = client.post("/admin/certifications", data={"csrf_token": token, "program": "touch",
                       "participant": "prescriber:dr_ben", "change": "certify", "reason": "training attested"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    with transaction(_factory(client)) as session:
        status = session.execute(
            select(Certification.status).join(Prescriber, Prescriber.id == Certification.prescriber_id)
            .where(Prescriber.key == "dr_ben", Certification.program_id == "touch")
        ).scalar_one()  # fmt: skip
    assert status == "certified"
    for broken in ("dr_ben", "nurse:nina", "site:"):
        refused = client.post("/admin/certifications", data={"csrf_token": token, "program": "touch",
                              "participant": broken, "change": "suspend", "reason": "x"})  # fmt: skip
        assert refused.status_code == 400 and "Choose a participant" in refused.text


def test_a_registered_site_is_certified_with_its_own_authorization_number(client: TestClient) -> None:
    token = sign_in(client, "admin")
    client.post("/admin/sites", data={"csrf_token": token, "key": "site_west", "name": "West Unit"})
    client.post("/admin/pharmacies", data={"csrf_token": token, "site": "site_west", "key": "pharm_west",
                                           "name": "West Pharmacy"})  # fmt: skip
    done = client.post("/admin/certifications", data={"csrf_token": token, "program": "touch",
                       "participant": "site:site_west", "change": "certify", "reason": "training attested",
                       "site_authorization_number": "SAN-W-77"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    page = client.get("/admin").text
    assert "SAN-W-77" in page and "West Pharmacy" in page


def test_every_certified_site_has_its_own_authorization_number_in_each_program(client: TestClient) -> None:
    with transaction(_factory(client)) as session:
        rows = session.execute(
            select(Certification.program_id, Certification.site_authorization_number)
            .where(Certification.party_kind == "site", Certification.site_authorization_number.is_not(None))
        ).all()  # fmt: skip
    assert len(rows) >= 2
    numbers = [n for _, n in rows]
    assert len(set(numbers)) == len(numbers), numbers


def _local_date(client: TestClient, user: str) -> str:
    sign_in(client, user)
    html = client.get("/").text
    found = re.search(r"(?:Your site today|Your patients|The whole program), (\d{1,2} \w{3} \d{4})", html)
    assert found, html[:2000]
    return found.group(1)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Shanghai", "UTC"])
def test_a_sites_zone_moves_its_staffs_today_and_no_one_elses(client: TestClient, zone: str) -> None:
    token = sign_in(client, "admin")
    saved = client.post("/admin/sites/site_north/timezone", data={"csrf_token": token, "timezone": zone},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    client.cookies.clear()
    expected = NOW.astimezone(ZoneInfo(zone)).date()
    assert _local_date(client, "nina") == f"{expected:%-d %b %Y}"  # site_north's nurse
    client.cookies.clear()
    assert _local_date(client, "paul") == f"{NOW:%-d %b %Y}"  # site_south keeps its own (UTC+0 in March)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "UTC"])
def test_a_checklist_counts_on_the_day_it_was_made_where_the_site_is(client: TestClient, zone: str) -> None:
    """Metamorphic: shifting the zone moves each visit to its local date and off both neighbouring dates."""
    tz = ZoneInfo(zone)
    with transaction(_factory(client)) as session:
        visits = session.execute(select(Authorization.id, Authorization.visit_at)).all()
        assert visits
        for visit_id, at in visits:
            local: date = at.astimezone(tz).date()
            assert visit_id in {v.authorization_id for v in visits_on(session, on=local, within=None, zone=tz)}
            for other in (local - timedelta(days=1), local + timedelta(days=1)):
                assert visit_id not in {v.authorization_id for v in visits_on(session, on=other, within=None, zone=tz)}


def test_checked_today_for_site_staff_lists_only_their_sites_checklists(client: TestClient) -> None:
    """pat_ivy, checked at site_north today, is also cared for at site_south: its pharmacist sees her, not
    the north checklist (whatever its decision)."""
    with transaction(_factory(client)) as session:
        north = authorization.authorize_dose(session, site_key="site_north", patient_key="pat_ivy", at=NOW,
                                             answers={}, actor="nina")  # fmt: skip
        north_id = north.id
        assign_site(session, patient_key="pat_ivy", site_key="site_south", at=NOW, actor="admin")
    for user, sees_north in (("paul", False), ("nina", True), ("admin", True)):
        client.cookies.clear()
        sign_in(client, user)
        today = client.get("/").text.split('id="panel-today"')[1].split("</section>")[0]
        assert (north_id in today) is sees_north, user
        if user == "paul":
            assert "site_north" not in today and "site_south" in today
            assert "Ivy Zhang" in client.get("/patients").text  # she is in paul's scope
