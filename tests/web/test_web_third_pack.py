"""The web pages for a patient of the third pack's program (LEMTRADA REMS), with no page or route of its own.

pat_lou (two courses given, monthly tests recorded, thyroid test overdue) and pat_nia (first
infusion held: no baseline labs) come from the alemtuzumab pack's demo.yaml.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from web_demo import csrf_of, sign_in

NO = {"q.active-infection": "no", "q.hiv-infection": "no"}


def test_the_patient_page_shows_the_program_its_calendar_and_infusions(client: TestClient) -> None:
    sign_in(client, "admin")
    page = client.get("/patients/pat_lou")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert "Lou Martin" in html and "lemtrada-rems" in html
    # The calendar items come from the pack's schedule.yaml, titles and all.
    for title in ("Complete blood count with differential, monthly", "Thyroid function tests (TSH), every 3 months"):
        assert title in html, title
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert set(re.findall(r"Infusion dose (\d)", text)) == set("12345678")  # both courses in the timeline
    # The pack has no risk model, so the page shows no risk-stratum panel (another pack's wording).
    assert 'id="h-stratum"' not in html
    assert 'id="h-stratum"' in client.get("/patients/pat_amy").text


def test_the_dose_page_asks_the_packs_checklist_and_the_gate_holds_without_baseline_labs(client: TestClient) -> None:
    sign_in(client, "nina")  # the certified facility's nurse
    page = client.get("/patients/pat_nia/dose")
    assert page.status_code == 200, page.text[:300]
    assert "human immunodeficiency virus" in page.text and "active infection" in page.text
    token = csrf_of(page.text)
    posted = client.post("/patients/pat_nia/dose", data={"csrf_token": token, "program": "lemtrada-rems", **NO},
                         follow_redirects=False)  # fmt: skip
    assert posted.status_code == 303, posted.text[:400]
    found = re.search(r"/authorizations/([0-9a-f-]{36})", posted.headers["location"])
    assert found
    decision = client.get(f"/authorizations/{found.group(1)}").text
    assert "alemtuzumab.baseline-labs-before-first-infusion" in decision
    assert "HOLD" in decision.upper()


def test_the_drug_page_renders_the_third_packs_monograph_in_both_languages(client: TestClient) -> None:
    sign_in(client, "admin")
    english = client.get("/drugs/alemtuzumab")
    assert english.status_code == 200 and "until 4 years after the last infusion" in english.text
    token = csrf_of(english.text)
    client.post("/language", data={"csrf_token": token, "lang": "zh", "next": "/drugs/alemtuzumab"})
    chinese = client.get("/drugs/alemtuzumab").text
    assert "直至末次输注后" in chinese and "LEMTRADA REMS" in chinese
