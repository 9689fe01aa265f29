"""Recording monitoring results and program forms in the web app: the pack's kinds, units and lab tests.

Server tests check the page and its refusals in English and Chinese; the browser test
lifts a STOP in real Chromium: a patient whose continuation form is missing and whose
anti-JCV status is unknown is refused at the dose check, her prescriber records the form
and the result on the new page, and the next dose check passes that stop and reads the result.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_demo import NOW, PASSWORD, sign_in, watch_csp

from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.program.registry import get_program
from rxguard.store import make_engine, session_factory, transaction
from rxguard.store.models import Enrollment, MonitoringEvent, Patient
from rxguard.web.wording import Wording

PATIENT = "pat_hana"  # the demo's EU patient: continuation form due, anti-JCV status unknown


def _events(client: TestClient, key: str) -> list[tuple[str, dict[str, Any], str]]:
    url = str(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    engine = make_engine(url=url)
    try:
        with transaction(session_factory(engine)) as s:
            rows = s.execute(
                select(MonitoringEvent.kind, MonitoringEvent.measurements, MonitoringEvent.result)
                .join(Enrollment, Enrollment.id == MonitoringEvent.enrollment_id)
                .join(Patient, Patient.id == Enrollment.patient_id)
                .where(Patient.key == key)
                .order_by(MonitoringEvent.recorded_at)
            )
            return [(k, dict(m), r) for k, m, r in rows]
    finally:
        engine.dispose()


def test_the_page_lists_the_packs_kinds_with_units_ranges_and_lab_tests_in_both_languages(client: TestClient) -> None:
    sign_in(client, "ada")
    kinds = get_program("touch").kinds
    english = client.get("/patients/pat_amy/records/new")
    assert english.status_code == 200
    for kind in kinds.monitoring:
        assert kind.title["en"] in english.text
    for measurement in kinds.measurements:  # a unit as a person reads it: a count or a UCUM annotation is no unit
        shown = Wording.unit(measurement.unit)
        assert (shown in english.text) if shown else f"({measurement.unit}" not in english.text, measurement.unit
    assert "70173-0" in english.text  # the lab catalogue's code of a declared result's test
    client.cookies.set("rxguard_lang", "zh")
    chinese = client.get("/patients/pat_amy/records/new")
    for kind in kinds.monitoring:
        assert kind.title["zh"] in chinese.text
    assert "记录结果或表单" in chinese.text and "Record a result or form" not in chinese.text


@pytest.mark.parametrize(("ucum", "shown"), [("{score}", ""), ("{lesions}", ""), ("1", ""), ("mg/dL", "mg/dL"),
                                            ("10*9/L", "10*9/L"), ("", "")])  # fmt: skip
def test_a_unit_is_shown_as_a_person_reads_it_and_an_annotation_or_a_count_is_no_unit(ucum: str, shown: str) -> None:
    assert Wording.unit(ucum) == shown


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"kind": "touch|prescriber-assessment", "measure.edss": "10.5"}, "edss: 10.5 is outside the range"),
        ({"kind": "touch|prescriber-assessment", "measure.relapses": "1.5"}, "relapses: &#39;1.5&#39; is not a whole"),
        ({"kind": "touch|prescriber-assessment", "measure.height": "170"}, "measurement &#39;height&#39; is not one"),
        ({"kind": "touch|blood-pressure"}, "monitoring kind &#39;blood-pressure&#39; is not one this program keeps"),
        ({"kind": "touch|anti-jcv", "on": "2026-03-09"}, "cannot be dated after it is recorded"),
    ],
)
def test_a_value_the_pack_does_not_allow_is_refused_in_one_line_and_nothing_is_stored(
    client: TestClient, fields: dict[str, str], says: str
) -> None:
    csrf = sign_in(client, "ada")
    before = _events(client, "pat_amy")
    response = client.post(
        "/patients/pat_amy/records/monitoring", data={"csrf_token": csrf, "on": "2026-03-02", **fields}
    )
    assert response.status_code == 400
    assert says in response.text
    assert _events(client, "pat_amy") == before


def test_an_assessment_with_its_values_is_stored_typed_and_a_nurse_may_not_record_it(client: TestClient) -> None:
    csrf = sign_in(client, "ada")
    data = {"csrf_token": csrf, "on": "2026-03-02", "kind": "touch|prescriber-assessment", "measure.edss": "3.5",
            "measure.relapses": "0", "measure.t1_gd_lesions": "", "measure.new_t2_lesions": "1"}  # fmt: skip
    response = client.post("/patients/pat_amy/records/monitoring", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("notice=recorded")
    stored = _events(client, "pat_amy")[-1]
    assert stored[0] == "disease-activity-assessment"
    assert stored[1] == {"edss": 3.5, "relapses": 0, "new_t2_lesions": 1}
    assert isinstance(stored[1]["relapses"], int)
    client.post("/sign-out", data={"csrf_token": csrf})
    csrf = sign_in(client, "nina")
    count = len(_events(client, "pat_amy"))
    refused = client.post("/patients/pat_amy/records/monitoring", data={**data, "csrf_token": csrf})
    assert refused.status_code == 403
    assert len(_events(client, "pat_amy")) == count


# --------------------------------------------------------------------------- browser


@pytest.fixture
def own_live_url(demo_template: Path, tmp_path: Path) -> Iterator[str]:
    """A server over its own copy of the demo: this test changes a patient others read."""
    from conftest import LiveServer  # the browser fixtures' server

    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(demo_template, path)
    app = create_app(ServerSettings(database_url=f"sqlite:///{path}", log_level="WARNING"), clock=lambda: NOW)
    server = LiveServer(app)
    url = server.start()
    yield url
    server.stop()


def _sign_in(page: Any, name: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def _dose_check(page: Any) -> str:
    page.goto(f"/patients/{PATIENT}")
    page.get_by_role("link", name="Before a dose").first.click()
    questions = page.locator("fieldset.question")
    for i in range(questions.count()):
        questions.nth(i).get_by_text("No", exact=True).click()
    page.get_by_role("button", name="Check and record the decision").click()
    page.wait_for_url("**/authorizations/**")
    return str(page.locator("main").inner_text())


@pytest.mark.browser
def test_a_stop_for_a_missing_form_and_an_unknown_antibody_status_is_lifted_in_the_browser(
    browser: Any, own_live_url: str, artifacts: Path
) -> None:
    nurse = browser.new_context(base_url=own_live_url, viewport={"width": 1180, "height": 900}, locale="en-GB")
    doctor = browser.new_context(base_url=own_live_url, viewport={"width": 1180, "height": 900}, locale="en-GB")
    violations = [watch_csp(nurse), watch_csp(doctor)]
    nina, ada = nurse.new_page(), doctor.new_page()

    _sign_in(nina, "nina")
    before = _dose_check(nina)
    assert "DO NOT INFUSE" in nina.locator("#verdict").inner_text().upper()
    assert "Anti-JCV status unknown" in before
    nina.screenshot(path=str(artifacts / "records-before-stop.png"), full_page=True)

    _sign_in(ada, "ada")
    ada.goto(f"/patients/{PATIENT}")
    ada.get_by_role("link", name="Record a result or form").click()
    ada.wait_for_url(f"**/patients/{PATIENT}/records/new")
    ada.get_by_label("Form completed").select_option(label=next(
        f.title for f in get_program("natalizumab-eu").definition.forms if f.moment == "continuation"))  # fmt: skip
    ada.get_by_role("button", name="Record the form as completed").click()
    ada.wait_for_url(f"**/patients/{PATIENT}?notice=recorded")
    assert "Recorded" in ada.locator(".notice").inner_text()

    ada.get_by_role("link", name="Record a result or form").click()
    test = ada.locator("details.record-kind[data-kind='anti-jcv']")
    test.locator("summary").click()
    assert "Lab test: Anti-JCV antibody" in test.inner_text()
    test.get_by_label("Result", exact=True).select_option("negative")
    test.get_by_label("Anti-JCV antibody index").fill("0.2")
    ada.screenshot(path=str(artifacts / "records-anti-jcv-form.png"), full_page=True)
    test.get_by_role("button", name="Record: Anti-JCV antibody test").click()
    ada.wait_for_url(f"**/patients/{PATIENT}?notice=recorded")

    after = _dose_check(nina)
    assert "DO NOT INFUSE" not in nina.locator("#verdict").inner_text().upper()
    assert "Anti-JCV status unknown" not in after
    assert "Anti-JCV negative" in after
    nina.screenshot(path=str(artifacts / "records-after-cleared.png"), full_page=True)
    nurse.close()
    doctor.close()
    assert violations == [[], []]
