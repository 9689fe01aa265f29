"""Each persona's whole day, done only in a real browser: a nurse, a prescriber, a pharmacist and a program
administrator sign in and finish their work with no API call and no command line, in English and in
Chinese, at desktop width (1280 px) and phone width (390 px).

Every journey runs over its own server and its own copy of the demo program (fixed clock: 2026-03-02
12:00 UTC), so the journeys run in parallel and in any order. Where a day needs a second person (the
prescriber who clears the nurse's hold), that person works in a browser of their own. Outcomes are read
from what the page shows, and where a page cannot show it, from the database afterwards. Full-page
screenshots of the key steps go to ``test-artifacts/journeys/<persona>-<lang>-<width>-<step>.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from chinese_pages import english_words, name_words, visible_text
from sqlalchemy import create_engine, select
from test_web_chinese import UNITS, _left, page_of
from web_demo import NOW, PASSWORD, watch_csp

from conftest import LiveServer
from rxguard.api.app import create_app
from rxguard.api.settings import ServerSettings
from rxguard.knowledge.loader import load_all
from rxguard.program.registry import get_program
from rxguard.web.i18n import translator
from rxguard.web.wording import Wording

pytestmark = pytest.mark.browser

LANGUAGES = ("en", "zh")
VIEWPORTS = {1280: 900, 390: 844}
ANSWERED = {"en": "en", "zh": "zh-Hans"}


@dataclass
class Served:
    url: str
    database: Path
    clock: list[datetime]  # the server's "now"; the day moves it on as the hours pass


@pytest.fixture
def served(demo_template: Path, tmp_path: Path) -> Iterator[Served]:
    """A server of the journey's own over its own copy of the demo program."""
    database = tmp_path / "journey.db"
    shutil.copy(demo_template, database)
    settings = ServerSettings(database_url=f"sqlite:///{database}", log_level="WARNING")
    clock = [NOW]
    server = LiveServer(create_app(settings, clock=lambda: clock[0]))
    url = server.start()
    yield Served(url, database, clock)
    server.stop()


@dataclass
class Day:
    """One persona's day: the browser people of the day sign in with, their language, width and screenshots."""

    browser: Any
    served: Served
    persona: str
    lang: str
    width: int
    folder: Path
    contexts: list[Any] = field(default_factory=list)
    csp: list[list[str]] = field(default_factory=list)
    residue: set[tuple[str, str]] = field(default_factory=set)  # listed English met on the day's Chinese pages

    @property
    def t(self) -> Callable[..., str]:
        return translator(self.lang)  # type: ignore[arg-type]

    def person(self, name: str, password: str = PASSWORD) -> Any:
        """A new browser (no cookies) at the day's width; signs in as ``name`` in the day's language."""
        page = self.sign_in_page()
        page.get_by_label(self.t("sign-in.name")).fill(name)
        page.get_by_label(self.t("sign-in.password")).fill(password)
        page.get_by_role("button", name=self.t("sign-in.submit")).click()
        page.wait_for_url("**/")
        assert page.get_by_role("heading", name=self.t("dashboard.title"), exact=True).is_visible()
        # At phone width the header folds its menu behind a toggle; at desktop width the menu is always shown.
        assert page.locator("header.top button[aria-controls]").is_visible() == (self.width < 600)
        return page

    def sign_in_page(self) -> Any:
        """A new browser (no cookies) at the day's width, at the sign-in page in the day's language."""
        context = self.browser.new_context(
            base_url=self.served.url,
            viewport={"width": self.width, "height": VIEWPORTS[self.width]},
            locale="en-GB",
        )
        context.set_default_timeout(15_000)
        self.csp.append(watch_csp(context))
        self.contexts.append(context)
        page = context.new_page()
        page.goto("/sign-in")
        if self.lang == "zh":
            self.menu(page)
            page.get_by_role("button", name="简体中文").click()
            page.wait_for_url("**/sign-in**")
        assert page.locator("html").get_attribute("lang") == ANSWERED[self.lang]
        return page

    def shot(self, page: Any, step: str) -> None:
        """A full-page screenshot of a key step; in Chinese, the step's page must show no English."""
        page.screenshot(path=str(self.folder / f"{self.persona}-{self.lang}-{self.width}-{step}.png"), full_page=True)
        if self.lang == "zh":
            english = self.english(page)
            assert not english, f"the Chinese page of step {step!r} ({page.url}) shows English: {english}"

    def english(self, page: Any) -> list[str]:
        """The English words the page shows a reader, beyond names, units and what is listed as left to
        translate on that page (the same reader and list as the crawl of every Chinese page)."""
        texts, _ = visible_text(page.content())
        words = english_words(texts, UNITS | self.names())
        where = page_of(urlsplit(page.url).path)
        listed = _left()
        self.residue.update((where, w) for w in words if (where, w) in listed)
        return [w for w in words if (where, w) not in listed]

    def names(self) -> set[str]:
        """Every word of a name the program holds now (its patients, prescribers, sites and users), and the
        packs' product names: names are written as they are in any language."""
        from rxguard.store.auth_models import AppUser
        from rxguard.store.models import Patient, Prescriber, Site

        names = [str(row[0]) for model in (Patient, Prescriber, Site) for row in self.query(select(model.name))]
        names += [str(row[0]) for row in self.query(select(AppUser.display_name))]
        for pack in load_all().values():
            names += [f"{p.name} {p.proper_name} {p.manufacturer} {p.id}" for p in pack.identity.products]
        return name_words(names)

    def menu(self, page: Any) -> None:
        """Open the header's menu where the width folds it behind its toggle (the phone width)."""
        toggle = page.locator("header.top button[aria-controls]")
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
            toggle.click()
            assert toggle.get_attribute("aria-expanded") == "true"

    def nav(self, page: Any, key: str) -> None:
        """Follow a link of the header's menu, opening the menu first where the width folds it away."""
        self.menu(page)
        page.locator("header.top nav").get_by_role("link", name=self.t(f"nav.{key}"), exact=True).click()
        page.wait_for_load_state()

    def at(self, hour: int, minute: int = 0) -> None:
        """The day moves on: the server's clock shows ``hour:minute`` UTC on 2026-03-02 from now on."""
        moved = NOW.replace(hour=hour, minute=minute)
        assert moved >= self.served.clock[0]
        self.served.clock[0] = moved

    def stratum(self, program_id: str, stratum_id: str, english: str) -> str:
        """A risk stratum's title as the pages write it in the day's language."""
        words = Wording(self.lang, self.t, ZoneInfo("UTC"))
        return words.stratum(get_program(program_id).pack, stratum_id, "title", english)

    def open_infusion(self, page: Any) -> None:
        """From the patient's timeline, open the dose whose infusion is the latest entry."""
        kind = page.locator(".tl-kind").filter(has_text=re.compile(f"^{re.escape(self.t('kind.infusion'))}$"))
        page.locator(".timeline li").filter(has=kind).first.locator("a[href^='/authorizations/']").click()
        page.wait_for_url("**/authorizations/**")

    def say(self, english: str, chinese: str) -> str:
        """What a person types, in the day's language (a Chinese-speaking nurse writes her notes in Chinese)."""
        return chinese if self.lang == "zh" else english

    def notice(self, page: Any, key: str) -> None:
        assert self.t(f"notice.{key}") in page.locator(".notice").inner_text()

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        if self.lang == "zh":  # what the day still met of the English listed as left to translate, for a person
            left = self.folder / f"{self.persona}-{self.lang}-{self.width}-english-left.txt"
            left.write_text("".join(f"{page} {word}\n" for page, word in sorted(self.residue)), encoding="utf-8")
        assert all(v == [] for v in self.csp), f"the Content-Security-Policy blocked something: {self.csp}"

    # ----------------------------------------------------------------- steps more than one persona takes

    def checklist(self, page: Any, *, yes: tuple[str, ...] = ()) -> None:
        """Ask every checklist question (``yes`` names the questions the patient answers yes to) and submit."""
        questions = page.locator("#checklist fieldset.question")
        assert questions.count() > 0
        for question in questions.all():
            question.get_by_text(self.t("dose.answer-no"), exact=True).click()
        for question_id in yes:
            page.locator(f"label[for='q-{question_id}-yes']").click()
        page.get_by_role("button", name=self.t("dose.submit")).click()
        page.wait_for_url("**/authorizations/**")

    def verdict(self, page: Any) -> str:
        return page.locator("#verdict .verdict-word").inner_text().strip()

    def fill_bag(self, form: Any, *, product: str, code: str, lot: str, prepared: str = "2026-03-02T11:30") -> None:
        """The vial from its carton and the bag as prepared; the infusion from 12:00 to 13:00 in the site's time
        (the demo sites keep UTC+0 in March, so the server's 12:00 UTC is 12:00 there)."""
        t = self.t
        form.get_by_label(t("infusion.product"), exact=True).select_option(product)
        form.get_by_label(t("vial.product-code")).fill(code)
        form.get_by_label(t("vial.expires")).fill("2027-06-30")
        form.get_by_label(t("infusion.lot")).fill(lot)
        form.get_by_label(t("infusion.dose"), exact=True).fill("300")
        form.get_by_label(t("infusion.volume")).fill("100")
        form.get_by_label(t("infusion.prepared")).fill(prepared)
        form.get_by_label(t("infusion.started")).fill("2026-03-02T12:00")
        form.get_by_label(t("infusion.stopped")).fill("2026-03-02T13:00")

    def record_infusion(self, page: Any, **bag: str) -> None:
        """Record the infusion while the patient is still observed (the observation's end comes later)."""
        form = page.locator("#infusion")
        self.fill_bag(form, **bag)
        form.locator("#bag-ok").wait_for()  # the live check passed before anything is sent
        form.get_by_role("button", name=self.t("infusion.submit")).click()
        page.wait_for_url("**/patients/*?notice=infused")
        self.notice(page, "infused")

    def query(self, statement: Any) -> list[Any]:
        engine = create_engine(f"sqlite:///{self.served.database}")
        try:
            with engine.connect() as connection:
                return list(connection.execute(statement))
        finally:
            engine.dispose()


@pytest.fixture(params=[(lang, width) for lang in LANGUAGES for width in VIEWPORTS], ids=lambda p: f"{p[0]}-{p[1]}")
def day(request: pytest.FixtureRequest, browser: Any, served: Served, artifacts: Path) -> Iterator[Day]:
    lang, width = request.param
    folder = artifacts / "journeys"
    folder.mkdir(exist_ok=True)
    persona = request.node.originalname.removeprefix("test_the_").split("_")[0]
    journey = Day(browser, served, persona, lang, width, folder)
    yield journey
    journey.close()


def infusions_of(day: Day, patient_key: str) -> list[tuple[str, str]]:
    """(lot, actor) of every infusion the database holds for one patient today."""
    from rxguard.store.models import Infusion, Patient

    rows = day.query(
        select(Infusion.lot, Infusion.actor)
        .join(Patient, Patient.id == Infusion.patient_id)
        .where(Patient.key == patient_key, Infusion.started_at >= NOW.replace(hour=0))
    )
    return [(row[0], row[1]) for row in rows]


# --------------------------------------------------------------------------- the nurse


def test_the_nurse_checks_her_patients_through_a_stop_and_a_hold_and_records_both_infusions(day: Day) -> None:
    """Nina at the North Infusion Centre: today's list, a patient found by date of birth, a STOP lifted by the
    prescriber's form, a clear checklist and an infusion with its observation; a HOLD cleared by the
    prescriber, then the dose is under "ready to infuse" and she records it."""
    t = day.t
    nina = day.person("nina")
    today = nina.locator("#panel-today")
    due = today.locator("li", has_text="Hana Kowalska")
    assert due.count() == 1 and today.locator("li", has_text="Gus Wang").count() == 1
    assert "Amy Chen" not in today.inner_text()  # dosed three days ago: not due today
    assert "Gus Wang" in nina.locator("#panel-holds").inner_text()  # the visit two days ago still waits
    day.shot(nina, "dashboard")

    day.nav(nina, "patients")
    nina.get_by_placeholder(t("patients.search")).fill("1986-04-21")
    nina.get_by_role("button", name=t("patients.search-button")).click()
    rows = nina.locator("main table tbody tr")
    assert rows.count() == 1 and "Hana Kowalska" in rows.inner_text()
    rows.get_by_role("link", name="Hana Kowalska").click()
    nina.get_by_role("link", name=t("patient.before-dose")).click()
    day.checklist(nina)
    assert day.verdict(nina) == t("verdict.do-not-infuse")
    assert nina.locator("#hard-stops").is_visible()  # no one may override a missing program form
    assert nina.locator("#infusion").count() == 0
    day.shot(nina, "stop")

    # She calls the prescriber, who records the continuation form in her own browser.
    ada = day.person("ada")
    ada.goto("/patients/pat_hana")
    ada.get_by_role("link", name=t("patient.record")).click()
    ada.get_by_label(t("records.form-label")).select_option(value="natalizumab-eu|treatment-continuation")
    ada.locator("form[action$='/records/forms']").get_by_label(t("records.note")).fill(
        day.say("re-informed about PML", "已再次告知 PML 风险")
    )
    ada.get_by_role("button", name=t("records.form-submit")).click()
    day.notice(ada, "recorded")

    nina.goto("/patients/pat_hana")
    nina.get_by_role("link", name=t("patient.before-dose")).click()
    day.checklist(nina)
    assert day.verdict(nina) == t("verdict.authorized")
    day.shot(nina, "authorized")
    day.record_infusion(nina, product="tysabri", code="64406-008-01", lot="TY2026-101")
    day.open_infusion(nina)
    assert nina.locator("#infusion-recorded").is_visible()
    assert nina.locator("#observation-pending").count() == 0  # her 28th dose: no observation is required

    day.nav(nina, "dashboard")
    nina.locator("#panel-today li", has_text="Gus Wang").get_by_role("link", name=t("today.start")).click()
    day.checklist(nina)
    assert day.verdict(nina) == t("verdict.hold")
    assert nina.locator(".reasons").is_visible()
    assert nina.locator("#infusion").count() == 0
    hold_url = nina.url
    day.shot(nina, "hold")

    day.nav(ada, "queue")
    card = ada.locator("article.hold-card", has=ada.locator(f"a[href='{hold_url.split(day.served.url)[1]}']"))
    card.get_by_text(t("clear.proceed"), exact=True).click()
    card.get_by_placeholder(t("clear.reason")).fill(
        day.say("infection treated and resolved; no PML signs", "感染已治愈；无 PML 征象")
    )
    card.get_by_role("button", name=t("clear.submit")).click()
    day.notice(ada, "cleared")

    day.nav(nina, "dashboard")
    ready = nina.locator("#panel-today .ready-list li", has_text="Gus Wang")
    assert ready.count() == 1
    day.at(13, 5)  # the infusion ran from 12:00 to 13:00; she records it as he is observed
    ready.get_by_role("link", name=t("today.record")).click()
    assert day.verdict(nina) == t("verdict.cleared")
    day.record_infusion(nina, product="tyruko", code="EU/1/23/1745/001", lot="TK2026-007")
    # His fourth dose: he is observed for an hour after it; the infusion's page asks for the end, which she records.
    day.open_infusion(nina)
    assert nina.locator("#observation-pending").is_visible()
    observation = nina.locator("#observation-form")
    day.at(14, 5)
    observation.get_by_label(t("observe.ended")).fill("2026-03-02T14:00")
    observation.get_by_role("button", name=t("observe.submit")).click()
    assert nina.locator("#observation-done").is_visible()
    assert nina.locator("#observation-pending").count() == 0
    day.shot(nina, "observed")
    day.nav(nina, "dashboard")
    assert nina.locator("#panel-today .ready-list li", has_text="Gus Wang").count() == 0
    day.shot(nina, "done")

    assert infusions_of(day, "pat_hana") == [("TY2026-101", "nina")]
    assert infusions_of(day, "pat_gus") == [("TK2026-007", "nina")]


# --------------------------------------------------------------------------- the prescriber


def test_the_prescriber_lifts_a_stop_clears_holds_and_reauthorizes_with_the_status_report(day: Day) -> None:
    """Dr Ada: a held visit of two days ago deferred from her queue; the nurse's STOP for a missing form lifted
    by recording the form and an anti-JCV result; a new hold cleared on its decision page; a lapsed patient
    reauthorized with the status report questionnaire."""
    t = day.t
    ada = day.person("ada")
    assert "Gus Wang" in ada.locator("#panel-holds").inner_text()
    assert "Bob Okafor" in ada.locator("#panel-reauthorizations").inner_text()
    day.shot(ada, "dashboard")

    day.nav(ada, "queue")
    old = ada.locator("article.hold-card", has_text="Gus Wang")  # the visit of two days ago
    assert old.count() == 1
    old.get_by_text(t("clear.defer"), exact=True).click()
    old.get_by_placeholder(t("clear.reason")).fill(
        day.say("infection under treatment; see again at the next visit", "感染仍在治疗中；下次就诊时再评估")
    )
    old.get_by_role("button", name=t("clear.submit")).click()
    day.notice(ada, "cleared")
    # What is left is the LEMTRADA patient whose clinic sent no baseline labs (the alemtuzumab demo).
    left = ada.locator("#holds article.hold-card")
    assert left.count() == 1 and "Nia Zhou" in left.inner_text()

    # The nurse checks two patients: a STOP for a missing form, and a HOLD on a "yes".
    nina = day.person("nina")
    nina.goto("/patients/pat_hana/dose")
    day.checklist(nina)
    assert day.verdict(nina) == t("verdict.do-not-infuse")
    nina.goto("/patients/pat_gus/dose")
    day.checklist(nina, yes=("steroid-use",))
    assert day.verdict(nina) == t("verdict.hold")

    day.nav(ada, "dashboard")
    ada.locator("#panel-today a[href^='/authorizations/']", has_text="Hana Kowalska").click()  # checked today
    assert day.verdict(ada) == t("verdict.do-not-infuse")
    stops = ada.locator("#hard-stops")
    day.shot(ada, "stop")
    stops.get_by_role("link", name=t("patient.record")).click()
    ada.wait_for_url("**/records/new**")
    ada.get_by_label(t("records.form-label")).select_option(value="natalizumab-eu|treatment-continuation")
    ada.get_by_role("button", name=t("records.form-submit")).click()
    day.notice(ada, "recorded")
    ada.get_by_role("link", name=t("patient.record")).click()
    jcv = ada.locator("details.record-kind[data-kind='anti-jcv']")
    jcv.locator("summary").click()
    jcv.locator("select[name=result]").select_option("negative")
    jcv.locator("input[name='measure.anti-jcv-index']").fill("0.18")
    day.shot(ada, "record-result")
    jcv.get_by_role("button").click()
    day.notice(ada, "recorded")
    calendar = ada.locator("#h-calendar").locator("xpath=..")
    assert calendar.locator("tr", has_text=t("item.re-information-at-2-years")).locator(".badge-stop").count() == 0

    nina.goto("/patients/pat_hana/dose")
    day.checklist(nina)
    assert day.verdict(nina) == t("verdict.authorized")  # the stop is lifted
    findings = nina.locator("#h-findings").locator("xpath=..").inner_text()
    assert day.stratum("natalizumab-eu", "anti-jcv-negative", "Anti-JCV negative") in findings

    day.nav(ada, "dashboard")
    ada.locator("#panel-holds li", has_text="Gus Wang").get_by_role("link", name="Gus Wang").click()
    clearance = ada.locator("#clearance")
    clearance.get_by_text(t("clear.proceed"), exact=True).click()
    clearance.get_by_label(t("clear.reason")).fill(
        day.say(
            "short steroid course for a rash ended 4 weeks ago; no PML signs",
            "因皮疹短期使用激素，4 周前已停用；无 PML 征象",
        )
    )
    clearance.get_by_role("button", name=t("clear.submit")).click()
    assert day.verdict(ada) == t("verdict.cleared")

    day.nav(ada, "queue")
    ada.locator("#h-reauth").locator("xpath=..").get_by_role("link", name=t("patient.reauthorize")).click()
    form = ada.locator("#decide-form")
    for question in form.locator("fieldset.question").all():
        question.get_by_text(t("dose.answer-yes"), exact=True).click()
    form.locator("textarea").first.fill(
        day.say("EDSS stable; no new lesions; no PML signs", "EDSS 稳定；无新病灶；无 PML 征象")
    )
    form.get_by_label(t("decide.confirm-reauthorize", patient="Bob Okafor")).check()
    day.shot(ada, "reauthorize")
    form.get_by_role("button", name=t("decide.submit-reauthorize")).click()
    ada.wait_for_url("**/patients/pat_bob?notice=reauthorize")
    day.notice(ada, "reauthorize")
    assert t("status.authorized") in ada.locator(".enrollment .status-large").inner_text()
    day.nav(ada, "dashboard")
    assert "Bob Okafor" not in ada.locator("#panel-reauthorizations").inner_text()
    holds = ada.locator("#panel-holds").inner_text()
    assert "Nia Zhou" in holds  # waits for her baseline labs; every other hold is answered
    assert not any(name in holds for name in ("Gus Wang", "Amy Chen", "Hana Kowalska", "Bob Okafor", "Ivy Zhang"))
    day.shot(ada, "done")


# --------------------------------------------------------------------------- the pharmacist


def test_the_pharmacist_checks_the_bag_of_a_dose_and_reconciles_the_override_at_her_site_only(day: Day) -> None:
    """Paul at the South Clinic: his dashboard shows his site only (the North nurse's checks of the morning
    are not his); the overridden dose's bag is refused as prepared too early, then passes and is recorded;
    he reconciles the override; another site's patient is not reachable."""
    t = day.t
    nina = day.person("nina")
    nina.goto("/patients/pat_hana/dose")
    day.checklist(nina)

    paul = day.person("paul")
    today = paul.locator("#panel-today")
    assert "Hana Kowalska" not in today.inner_text() and "Gus Wang" not in paul.locator("main").inner_text()
    ready = today.locator(".ready-list li", has_text="Amy Chen")
    assert ready.count() == 1
    assert paul.locator("#panel-overrides li", has_text="Amy Chen").count() == 1
    day.shot(paul, "dashboard")
    day.nav(paul, "patients")
    assert paul.locator("main table tbody tr").count() == 1

    day.nav(paul, "dashboard")
    paul.locator("#panel-today .ready-list li", has_text="Amy Chen").get_by_role("link", name=t("today.record")).click()
    assert day.verdict(paul) == t("verdict.overridden")
    form = paul.locator("#infusion")
    # Four days in the fridge since dilution: the live check refuses the bag before anything is sent.
    day.fill_bag(form, product="tysabri", code="64406-008-01", lot="TY2026-044", prepared="2026-02-27T09:00")
    form.get_by_label(t("infusion.observation")).fill("2026-03-02T14:00")
    form.locator("#bag-refused").wait_for()
    assert t("infusion.will-refuse") in form.locator("#bag-check").inner_text()
    day.shot(paul, "bag-refused")
    form.get_by_label(t("infusion.prepared")).fill("2026-03-02T11:30")
    form.locator("#bag-ok").wait_for()
    form.get_by_role("button", name=t("infusion.submit")).click()
    paul.wait_for_url("**/patients/pat_amy?notice=infused")
    day.notice(paul, "infused")

    day.nav(paul, "dashboard")
    panel = paul.locator("#panel-overrides")
    panel.get_by_placeholder(t("admin.reconcile-note")).fill(
        day.say("steroid history reviewed with the prescriber", "已与处方医生核对激素用药史")
    )
    panel.get_by_role("button", name=t("admin.reconcile")).click()
    paul.wait_for_url("**/?notice=override-reconciled**")
    day.notice(paul, "override-reconciled")
    assert paul.locator("#panel-overrides form").count() == 0
    assert paul.locator("#panel-today .ready-list li", has_text="Amy Chen").count() == 0
    day.shot(paul, "done")

    assert paul.goto("/patients/pat_hana").status == 404  # the North Infusion Centre's patient
    assert infusions_of(day, "pat_amy") == [("TY2026-044", "paul")]
    from rxguard.store.models import Override

    assert [row[0] for row in day.query(select(Override.reconciled_by))] == ["paul"]


# --------------------------------------------------------------------------- the administrator


def test_the_administrator_registers_certifies_and_manages_the_users_of_a_new_site(day: Day) -> None:
    """The program administrator opens a new infusion site: registers its prescriber, the site in its own time
    zone and its pharmacy, certifies both, adds the site's nurse and the prescriber's user with a first
    password (the nurse signs in and sees her empty site), disables a prescriber who left, verifies the audit
    log and reconciles the morning's override."""
    t = day.t
    admin = day.person("admin")
    assert "Amy Chen" in admin.locator("#panel-overrides").inner_text()
    day.shot(admin, "dashboard")
    day.nav(admin, "admin")

    prescriber = admin.locator("form[action='/admin/prescribers']")
    prescriber.get_by_label(t("register.prescriber-key")).fill("dr_cho")
    prescriber.get_by_label(t("register.prescriber-name")).fill("Dr Mei Cho")
    prescriber.get_by_role("button", name=t("register.prescriber-submit")).click()
    day.notice(admin, "prescriber-registered")
    site = admin.locator("form[action='/admin/sites']")
    site.get_by_label(t("register.site-key")).fill("site_east")
    site.get_by_label(t("register.site-name")).fill("East Infusion Unit")
    site.get_by_label(t("register.timezone")).fill("Asia/Shanghai")
    site.get_by_role("button", name=t("register.site-submit")).click()
    day.notice(admin, "site-registered")
    pharmacy = admin.locator("form[action='/admin/pharmacies']")
    pharmacy.get_by_label(t("register.pharmacy-site")).select_option("site_east")
    pharmacy.get_by_label(t("register.pharmacy-key")).fill("pharm_east")
    pharmacy.get_by_label(t("register.pharmacy-name")).fill("East Unit Pharmacy")
    pharmacy.get_by_role("button", name=t("register.pharmacy-submit")).click()
    day.notice(admin, "pharmacy-registered")
    row = admin.locator(".sites-table tr", has_text="East Infusion Unit")
    assert row.locator("input[name=timezone]").input_value() == "Asia/Shanghai"
    assert "East Unit Pharmacy" in row.inner_text()

    for participant, number in (("site:site_east", "SAN-9-EAST"), ("prescriber:dr_cho", "")):
        certify = admin.locator("form[action='/admin/certifications']")
        certify.get_by_label(t("admin.participant")).select_option(participant)
        certify.get_by_label(t("patient.program")).select_option("touch")
        certify.get_by_label(t("admin.change-label")).select_option("certify")
        certify.get_by_label(t("admin.san")).fill(number)
        certify.get_by_label(t("admin.reason")).fill(
            day.say("training attested on the site visit", "现场访视时已确认完成培训")
        )
        certify.get_by_role("button", name=t("admin.apply")).click()
        day.notice(admin, "certification-certify")
    assert "SAN-9-EAST" in admin.locator(".cert-table tr", has_text="East Infusion Unit").inner_text()
    assert admin.locator(".cert-table tr", has_text="Dr Mei Cho").locator(".badge").count() >= 1
    day.shot(admin, "registered")

    for name, display, role, link in (
        ("lin", "Lin Zhou, RN", "nurse", ("site", "site_east")),
        ("mei", "Dr Mei Cho", "prescriber", ("prescriber", "dr_cho")),
    ):
        add = admin.locator("#add-user")
        add.get_by_label(t("admin.create-name")).fill(name)
        add.get_by_label(t("admin.create-display")).fill(display)
        add.get_by_label(t("admin.role"), exact=True).select_option(role)
        add.get_by_label(t(f"admin.create-{link[0]}")).select_option(link[1])
        add.get_by_label(t("admin.create-password")).fill("amber kettle under moss")
        add.get_by_role("button", name=t("admin.create-submit")).click()
        day.notice(admin, "user-created")
    users = admin.locator(".users-table")
    assert "Lin Zhou, RN" in users.inner_text() and "Dr Mei Cho" in users.inner_text()

    lin = day.person("lin", "amber kettle under moss")
    assert lin.locator(".who-name").inner_text() == "Lin Zhou, RN"
    assert t("today.none-due") in lin.locator("#panel-today").inner_text()  # a new site: nobody is due yet
    day.nav(lin, "patients")
    assert lin.locator("main table tbody tr").count() == 0
    day.shot(lin, "new-nurse")

    users.locator("tr", has_text="Dr Ben Carter").get_by_role("button", name=t("admin.disable")).click()
    day.notice(admin, "user-disabled")
    assert t("admin.state-disabled") in admin.locator(".users-table tr", has_text="Dr Ben Carter").inner_text()
    ben = day.sign_in_page()
    ben.get_by_label(t("sign-in.name")).fill("ben")
    ben.get_by_label(t("sign-in.password")).fill(PASSWORD)
    ben.get_by_role("button", name=t("sign-in.submit")).click()
    assert t("sign-in.wrong") in ben.locator("#sign-in-error").inner_text()

    admin.get_by_role("button", name=t("admin.audit-run")).click()
    assert t("admin.audit-ok") in admin.locator("#audit-result").inner_text()
    overrides = admin.locator("#overrides")
    overrides.get_by_placeholder(t("admin.reconcile-note")).fill(
        day.say("reviewed with the medical director and Dr Ada", "已与医务主任及处方医生核对")
    )
    overrides.get_by_role("button", name=t("admin.reconcile")).click()
    day.notice(admin, "override-reconciled")
    assert admin.locator("#overrides form").count() == 0
    day.shot(admin, "done")

    from rxguard.store.auth_models import AppUser
    from rxguard.store.models import Site

    accounts = {
        row[0]: (row[1], row[2] is None) for row in day.query(select(AppUser.name, AppUser.role, AppUser.disabled_at))
    }
    assert accounts["lin"] == ("nurse", True) and accounts["mei"] == ("prescriber", True)
    assert accounts["ben"] == ("prescriber", False)
    assert day.query(select(Site.timezone).where(Site.key == "site_east")) == [("Asia/Shanghai",)]
