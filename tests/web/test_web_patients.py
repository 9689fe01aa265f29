"""The patient list with dates of birth and a search by them; the timeline with who recorded each entry,
filtered by kind and by person."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_demo import NOW, sign_in

from rxguard.program.participants import register_patient
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Patient


def _factory(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _listed(client: TestClient, q: str = "") -> list[tuple[str, str]]:
    html = client.get("/patients", params={"q": q}).text
    return [
        (key, born or "—")
        for key, born in re.findall(
            r'<td><a href="/patients/([\w-]+)">[^<]*</a></td>\s*<td class="nowrap"[^>]*>(?:<time datetime="([^"]*)">[^<]*</time>|—)</td>',
            html,
        )
    ]


def _births(client: TestClient) -> dict[str, date | None]:
    with transaction(_factory(client)) as session:
        return {k: b for k, b in session.execute(select(Patient.key, Patient.birth_on))}


def test_the_list_shows_each_patients_date_of_birth(client: TestClient) -> None:
    sign_in(client, "admin")
    births = _births(client)
    listed = _listed(client)
    assert len(listed) == len(births)
    for key, shown in listed:
        assert shown == (births[key].isoformat() if births[key] else "—")


@pytest.mark.parametrize("user", ["admin", "nina", "paul", "ada"])
def test_a_search_by_date_of_birth_finds_exactly_the_patients_born_then_in_scope(client: TestClient, user: str) -> None:
    """Metamorphic: the day's matches are within the month's, the month's within the year's; each matches."""
    sign_in(client, user)
    in_scope = dict(_listed(client))
    assert in_scope, user
    for key, born in in_scope.items():
        if born == "—":
            continue
        day, month, year = born, born[:7], born[:4]
        by_day, by_month, by_year = (dict(_listed(client, q)) for q in (day, month, year))
        assert key in by_day
        assert set(by_day) <= set(by_month) <= set(by_year) <= set(in_scope)
        assert all(b == day for b in by_day.values())
        assert all(b.startswith(month) for b in by_month.values())
        assert all(b.startswith(year) for b in by_year.values())
    assert _listed(client, "2026-02-30") == []  # not a date: searched as text, matches nobody


def test_two_patients_with_one_name_are_told_apart_by_date_of_birth(client: TestClient) -> None:
    with transaction(_factory(client)) as session:
        register_patient(session, key="pat_amy2", name="Amy Chen", birth_on=date(1979, 11, 3), sex="female", at=NOW,
                         actor="admin")  # fmt: skip
    sign_in(client, "admin")
    same = _listed(client, "amy chen")
    assert len(same) == 2 and len({born for _, born in same}) == 2
    assert [k for k, _ in _listed(client, "1979-11-03")] == ["pat_amy2"]


def _timeline(client: TestClient, key: str, **query: str) -> list[tuple[str, str]]:
    """(kind label, actor) of every timeline entry shown."""
    html = client.get(f"/patients/{key}", params=query).text
    section = html.split('id="h-timeline"')[1]
    return re.findall(r'<span class="tl-kind">([^<]*)</span>.*?(?:<span class="tl-actor">by ([^<]*)</span>)?\s*</li>',
                      section, re.S)  # fmt: skip


def test_every_timeline_entry_says_who_recorded_it(client: TestClient) -> None:
    sign_in(client, "ada")
    entries = _timeline(client, "pat_amy")
    assert entries
    missing = [kind for kind, actor in entries if not actor and kind != "Monitoring"]
    assert missing == []


@pytest.mark.parametrize("key", ["pat_amy", "pat_gus", "pat_eli"])
def test_the_timeline_filters_partition_the_whole_timeline(client: TestClient, key: str) -> None:
    """Filtering by each kind (and by each person) shows only those entries, and together all of them."""
    sign_in(client, "admin")
    html = client.get(f"/patients/{key}").text
    everything = _timeline(client, key)
    kinds = re.findall(r'<select id="tl-kind" name="kind">(.*?)</select>', html, re.S)[0]
    actors = re.findall(r'<select id="tl-actor" name="actor">(.*?)</select>', html, re.S)[0]
    kind_values = [v for v in re.findall(r'<option value="([^"]*)"', kinds) if v]
    actor_values = [v for v in re.findall(r'<option value="([^"]*)"', actors) if v]
    assert kind_values and actor_values
    by_kind = [_timeline(client, key, kind=k) for k in kind_values]
    assert all(len({label for label, _ in part}) == 1 for part in by_kind)
    assert sorted(e for part in by_kind for e in part) == sorted(everything)
    by_actor = [_timeline(client, key, actor=a) for a in actor_values]
    for name, part in zip(actor_values, by_actor, strict=True):
        assert part and all(actor == name for _, actor in part)
    assert sum(len(p) for p in by_actor) == sum(1 for _, a in everything if a)


def test_a_filtered_timeline_of_a_foreign_sites_patient_is_not_found(client: TestClient) -> None:
    sign_in(client, "paul")
    assert client.get("/patients/pat_gus", params={"kind": "infusion"}).status_code == 404
