"""What the pages say: dashboard and charts, the pre-infusion decision, the infusion record, consent, languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from web_demo import csrf_of, sign_in

from rxguard.druginfo.monograph import CONFLICTS_SECTION, build_monograph
from rxguard.knowledge.loader import load_all
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Authorization, Infusion, Patient
from rxguard.web.i18n import strings
from rxguard.web.security import LANG_COOKIE

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "rxguard" / "web" / "templates"


def _db(client: TestClient):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(url=str(client.app.state.settings.database_url)))  # type: ignore[attr-defined]


def _overridden_amy(client: TestClient) -> str:
    """The demo's overridden (infusable, not infused) authorization of pat_amy at site_south."""
    with transaction(_db(client)) as session:
        return str(session.execute(
            select(Authorization.id).join(Patient, Patient.id == Authorization.patient_id)
            .where(Patient.key == "pat_amy", Authorization.status == "overridden")
        ).scalar_one())  # fmt: skip


def _infusions(client: TestClient) -> int:
    with transaction(_db(client)) as session:
        return int(session.execute(select(func.count(Infusion.id))).scalar_one())


def _bag(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token, "idempotency_key": "web-test-bag-1", "product": "tysabri", "lot": "LOT77",
        "dose": "300", "dose_unit": "mg", "diluent": "0.9% sodium chloride", "volume_ml": "100",
        "prepared_at": "2026-03-02T09:00", "storage": "refrigerated", "started_at": "2026-03-02T10:00",
        "stopped_at": "2026-03-02T11:00", "observation_end_at": "2026-03-02T12:00",
        "product_code": "64406-008-01", "vial_expires_on": "2027-06-30",
    }  # fmt: skip
    form.update(changes)
    return form


def test_the_dashboard_shows_every_panel_and_four_charts_with_data(client: TestClient) -> None:
    sign_in(client, "admin")
    html = client.get("/").text
    for panel in ("panel-overrides", "panel-holds", "panel-overdue", "panel-reauthorizations", "panel-adverse-events",
                  "panel-today"):  # fmt: skip
        assert f'id="{panel}"' in html
    charts = re.findall(r'<figure class="panel chart-panel" id="chart-(\w+)">.*?</figure>', html, re.S)
    assert charts == ["infusions", "decisions", "strata", "overdue"]
    assert html.count('<svg class="chart"') == 4
    heights = [float(h) for h in re.findall(r'class="bar[^"]*"|height="([0-9.]+)"', html) if h]
    assert any(h > 0 for h in heights)
    assert "Gus Wang" in html  # the hold
    assert "Suspected PML" in html  # the open adverse event


def test_a_hold_shows_every_reason_with_its_source_title_section_tier_and_verification(client: TestClient) -> None:
    sign_in(client, "ada")
    html = client.get("/queue").text
    hold = re.search(r'href="/authorizations/([0-9a-f-]{36})">Gus Wang', html)
    assert hold
    page = client.get(f"/authorizations/{hold.group(1)}").text
    assert "HOLD" in page and "Pre-infusion checklist" in page
    assert "Answered yes: Does the patient have an infection now" in page  # the question, not its id
    assert re.search(
        r'class="cite-title" lang="en">[^<]+</span>\s*<span class="cite-meta" lang="en">\w[\w-]* · [^<]+</span>', page
    )
    assert "tier " in page and ("verified" in page)
    assert 'name="outcome" value="proceed"' in page  # the prescriber can clear it here
    assert re.search(r"data-coverage>Coverage: \d+ rule\(s\) checked", page), "the decision says what was checked"


def test_an_expired_diluted_bag_is_refused_with_the_rule_and_its_source_and_nothing_is_written(
    client: TestClient,
) -> None:
    authorization = _overridden_amy(client)
    token = sign_in(client, "paul")
    before = _infusions(client)
    response = client.post(f"/authorizations/{authorization}/infusion",
                           data=_bag(token, prepared_at="2026-02-27T09:00"))  # fmt: skip
    assert response.status_code == 422
    assert "The infusion record was refused" in response.text
    assert re.search(r"natalizumab\.[a-z-]+", response.text)
    assert 'class="cite-title"' in response.text
    assert _infusions(client) == before
    warm = client.post(f"/authorizations/{authorization}/infusion",
                       data=_bag(token, storage="room_temperature", prepared_at="2026-03-01T20:00"))  # fmt: skip
    assert warm.status_code == 422 and _infusions(client) == before


def test_the_bag_is_checked_as_it_is_typed_without_storing_anything(client: TestClient) -> None:
    authorization = _overridden_amy(client)
    token = sign_in(client, "paul")
    refused = client.post(f"/authorizations/{authorization}/infusion/check",
                          data=_bag(token, prepared_at="2026-02-27T09:00"), headers={"hx-request": "true"})  # fmt: skip
    assert "This bag will be refused" in refused.text and "<html" not in refused.text
    fine = client.post(f"/authorizations/{authorization}/infusion/check", data=_bag(token))
    assert "pass the drug" in fine.text
    partial = client.post(f"/authorizations/{authorization}/infusion/check", data=_bag(token, dose=""))
    assert "Complete the product" in partial.text


def test_a_malformed_number_is_shown_beside_its_field_not_as_an_error_page(client: TestClient) -> None:
    authorization = _overridden_amy(client)
    token = sign_in(client, "paul")
    response = client.post(f"/authorizations/{authorization}/infusion", data=_bag(token, dose="three hundred"))
    assert response.status_code == 400
    assert 'id="dose-error"' in response.text and "Enter a number" in response.text
    assert 'value="three hundred"' in response.text  # what was typed is kept
    ok = client.post(f"/authorizations/{authorization}/infusion", data=_bag(token), follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/patients/pat_amy?notice=infused"


def test_enrollment_takes_a_typed_name_signature_and_prints_the_signed_version(client: TestClient) -> None:
    token = sign_in(client, "ada")
    enrolled = client.post("/enroll", data={"csrf_token": token, "key": "pat_zed", "name": "Zed Ekwueme",
                                            "birth_on": "1991-05-04", "sex": "male",
                                            "program_indication": "touch|multiple-sclerosis", "site": "site_north"},
                           follow_redirects=False)  # fmt: skip
    assert enrolled.headers["location"] == "/patients/pat_zed/consent?program=touch"
    consent = client.get("/patients/pat_zed/consent?program=touch&doc_lang=zh").text
    assert "TOUCH 患者登记及风险知情确认书" in consent
    form = {"csrf_token": token, "program": "touch", "version": "1.0", "doc_lang": "zh",
            "patient_confirms": "yes", "prescriber_confirms": "yes"}  # fmt: skip
    wrong = client.post("/patients/pat_zed/consent", data={**form, "typed_name": "Zed E."})
    assert wrong.status_code == 400 and "does not match" in wrong.text
    signed = client.post("/patients/pat_zed/consent", data={**form, "typed_name": "  zed  ekwueme "},
                         follow_redirects=False)  # fmt: skip
    printable = client.get(signed.headers["location"]).text
    assert "Signed by typed name" in printable and "Zed Ekwueme" in printable
    assert re.search(r"[0-9a-f]{64}", printable)  # the digest of the text signed
    assert "2 Mar 2026, 12:00 (UTC)" in printable  # the signing time, as a reader writes it, with its zone
    page = client.get("/patients/pat_zed").text
    assert "Authorize treatment" in page


def test_the_language_switch_changes_every_page_and_is_remembered(client: TestClient) -> None:
    sign_in(client, "nina")
    token = csrf_of(client.get("/").text)
    client.post("/language", data={"csrf_token": token, "lang": "zh", "next": "/patients"})
    html = client.get("/").text
    assert 'lang="zh-Hans"' in html and "工作台" in html and "今日输注" in html
    monograph = client.get("/drugs/natalizumab").text
    assert "资料分歧" in monograph
    assert 'id="conflicts"' in monograph


@pytest.mark.parametrize("drug", sorted(load_all()))
def test_a_chinese_monograph_quotes_each_disagreeing_source_by_its_english_title(client: TestClient, drug: str) -> None:
    """The cited document's title and section are quoted as English (lang="en"), its id kept in the tooltip;
    what the source says is the Chinese wording. The English document, opened from a Chinese page, is English
    down to its window title."""
    sign_in(client, "nina")
    client.cookies.set(LANG_COOKIE, "zh")
    pack = load_all()[drug]
    page = client.get(f"/drugs/{drug}").text
    doc = build_monograph(pack, "zh")
    section = doc.section(CONFLICTS_SECTION)
    assert section is not None
    for statement in section.statements:
        for claim in statement.claims:
            quoted = f'<span lang="en" title="{escape(claim.source)}">{escape(claim.title)}</span>'
            assert f'{quoted}（<span lang="en">{escape(claim.section)}</span>；{claim.tier}）' in page
            assert escape(claim.says) in page
    english = client.get(f"/drugs/{drug}?lang=en").text
    assert f'<title lang="en">{escape(build_monograph(pack, "en").title)}' in english
    assert '<title lang="zh-Hans">' in page


def test_both_languages_have_every_interface_string() -> None:
    english, chinese = strings("en"), strings("zh")
    assert set(english) == set(chinese)
    assert all(value.strip() for value in chinese.values())
    literal = set()
    for template in TEMPLATES.glob("*.html"):
        literal |= set(re.findall(r"\bt\('([a-z0-9.-]+)'\)", template.read_text()))
    missing = sorted(key for key in literal if key not in english)
    assert missing == []


def test_a_typed_value_stays_marked_in_a_sentence_and_every_other_value_is_escaped() -> None:
    from markupsafe import Markup

    from rxguard.web.i18n import translator

    for lang in ("en", "zh"):
        t = translator(lang)
        typed = Markup('<span class="typed" translate="no">stopped &amp; restarted</span>')
        said = t("override-form.asked", who="<dr_mo>", role="r", at="09:00", reason=typed)
        assert isinstance(said, Markup)
        assert str(typed) in said and "&lt;dr_mo&gt;" in said and "<dr_mo>" not in said
        plain = t("override-form.asked", who="<dr_mo>", role="r", at="09:00", reason="x")
        assert not isinstance(plain, Markup) and "<dr_mo>" in plain  # escaped where the page shows it
