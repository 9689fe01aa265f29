"""Plausible records: what cannot be meant is refused before anything is stored, on both engines.

The checks live in one place (``rxguard.program.validation``) and every
service passes its input through them, so these tests call the services the
API, the web forms and the CLI all call; the interface tests check each
interface's answer to the same inputs.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from personas import NO, World
from sqlalchemy import func, select
from test_infusion import request_for

from rxguard.errors import ImplausibleError, InfusionRejectedError, UnconfirmedError
from rxguard.knowledge.loader import get_pack
from rxguard.program import adverse_events, authorization, enrollment, monitoring, participants, validation
from rxguard.program.infusion import record_infusion
from rxguard.store.models import AuditEntry, Infusion, MonitoringEvent, Patient

REFUSED = ["\x00", "\x01", "\x1b", "\x7f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202d",
           "\u2066", "\u2067", "\u2069", "\u200e", "\u200f", "\u2028"]  # fmt: skip


def audit_count(world: World) -> int:
    with world.tx() as s:
        return int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


# --------------------------------------------------------------------------- text (pure)

text_without_refused = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=40
)


@given(text_without_refused, st.sampled_from(REFUSED), st.integers(min_value=0, max_value=40))
def test_any_text_with_a_hidden_or_control_character_is_refused_wherever_it_sits(text: str, bad: str, at: int) -> None:
    spliced = text[:at] + bad + text[at:]
    with pytest.raises(ImplausibleError, match=r"name: character \d+ is U\+") as caught:
        validation.clean_text(spliced, "name", max_length=200)
    assert caught.value.field == "name"


@given(text_without_refused)
def test_text_is_stored_nfc_so_the_composed_and_decomposed_spellings_are_one_name(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    if len(unicodedata.normalize("NFC", decomposed)) > 200:
        return
    assert validation.clean_text(decomposed, "name", max_length=200) == unicodedata.normalize("NFC", text)
    assert validation.clean_text(text, "name", max_length=200) == validation.clean_text(
        decomposed, "name", max_length=200
    )


def test_line_breaks_are_text_only_in_multiline_fields() -> None:
    assert validation.clean_text("first\nsecond\tthird", "reason", max_length=100, multiline=True)
    with pytest.raises(ImplausibleError, match="U\\+000A"):
        validation.clean_text("first\nsecond", "name", max_length=100)
    with pytest.raises(ImplausibleError, match="U\\+0000"):
        validation.clean_text("first\x00", "reason", max_length=100, multiline=True)


# --------------------------------------------------------------------------- numbers and dates (pure)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300, 10**30])
def test_numbers_that_are_not_finite_or_do_not_fit_are_refused(value: float) -> None:
    with pytest.raises(ImplausibleError, match="volume_ml"):
        validation.finite_number(value, "volume_ml", gt=0)


@pytest.mark.parametrize("value", [-1, 2**31, 2**62, 2**70])
def test_counts_fit_a_32_bit_integer_column_on_every_engine(value: int) -> None:
    with pytest.raises(ImplausibleError, match="relapses"):
        validation.count(value, "relapses")
    assert validation.count(validation.MAX_COUNT, "relapses") == validation.MAX_COUNT


@pytest.mark.parametrize("born", [date(1, 1, 1), date(1850, 1, 1), date(2999, 1, 1), date(2026, 1, 6)])
def test_birth_dates_in_the_future_or_beyond_a_lifetime_are_refused(born: date) -> None:
    with pytest.raises(ImplausibleError, match="birth_on"):
        validation.birth_date(born, "birth_on", today=date(2026, 1, 5))


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31), date(1900, 1, 1), date(2200, 1, 1)])
def test_days_asked_about_lie_within_a_century_of_today(day: date) -> None:
    with pytest.raises(ImplausibleError, match="on: "):
        validation.query_day(day, "on", today=date(2026, 1, 5))


# --------------------------------------------------------------------------- doses against the pack


def product(drug: str, product_id: str):  # type: ignore[no-untyped-def]
    (found,) = [p for p in get_pack(drug).identity.products if p.id == product_id]
    return found


@pytest.mark.parametrize(
    ("dose", "unit", "field"),
    [
        (3000, "mg", "dose"),  # ten vials
        (3000, "g", "dose"),  # a million times the dose
        (0.5, "g", "dose"),  # 500 mg, in grams
        (300, "mL", "dose_unit"),  # a volume is not a dose
        (300, "mg/m2", "dose_unit"),  # per area, for a flat-dosed product
        (300, "bananas", "dose_unit"),
        (math.nan, "mg", "dose"),
        (-300, "mg", "dose"),
    ],
)
def test_an_implausible_natalizumab_dose_is_refused_naming_the_field(dose: float, unit: str, field: str) -> None:
    with pytest.raises(ImplausibleError) as caught:
        validation.check_dose(product("natalizumab", "tysabri"), dose, unit, 100)
    assert caught.value.field == field


@pytest.mark.parametrize(("dose", "unit"), [(300, "mg"), (0.3, "g"), (300000, "ug")])
def test_the_labelled_dose_in_any_mass_unit_is_stored_in_mg_without_warnings(dose: float, unit: str) -> None:
    checked = validation.check_dose(product("natalizumab", "tysabri"), dose, unit, 100)
    assert (checked.dose, checked.unit, checked.warnings) == (300, "mg", ())


def test_a_partial_dose_or_another_volume_is_unusual_not_refused() -> None:
    checked = validation.check_dose(product("natalizumab", "tysabri"), 150, "mg", 250)
    assert len(checked.warnings) == 2 and "labelled 300 mg" in checked.warnings[0] and "S6" in checked.warnings[0]


def test_a_per_area_product_takes_its_dose_per_area_and_refuses_a_flat_mg_dose() -> None:
    mepact = product("mifamurtide", "mepact")
    assert validation.check_dose(mepact, 2, "mg/m2", 50).warnings == ()
    with pytest.raises(ImplausibleError, match="mg/m2"):
        validation.check_dose(mepact, 4, "mg", 50)


# --------------------------------------------------------------------------- the services: nothing is stored


def authorized(world: World):  # type: ignore[no-untyped-def]
    with world.tx() as s:
        return authorization.authorize_dose(
            s, site_key="site_north", patient_key="pat_amy", at=world.at, answers=NO, actor="nurse_kim"
        )


@pytest.mark.parametrize(
    "change",
    [
        {"dose": math.nan},
        {"dose": 3000.0, "dose_unit": "g"},
        {"dose": 3000.0},
        {"dose_unit": "mL"},
        {"volume_ml": math.inf},
        {"lot": "LOT\x0042"},
        {"diluent": "0.9% sodium\u202e chloride"},
        {"reactions": "none\u200b"},
    ],
)
def test_an_implausible_infusion_record_is_refused_and_nothing_is_stored(world: World, change: dict) -> None:  # type: ignore[type-arg]
    row = authorized(world)
    request = replace(request_for(row), **change)
    before = audit_count(world)
    with pytest.raises(ImplausibleError), world.tx() as s:
        record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse_kim")
    with world.tx() as s:
        assert s.execute(select(func.count()).select_from(Infusion)).scalar_one() == 0
    assert audit_count(world) == before


def test_an_unusual_volume_is_stored_only_once_confirmed_and_the_warning_is_kept(world: World) -> None:
    row = authorized(world)
    request = replace(request_for(row), volume_ml=250.0)
    at = request.stopped_at + timedelta(hours=2)
    with pytest.raises(UnconfirmedError, match="volume 250 mL"), world.tx() as s:
        record_infusion(s, request, at=at, actor="nurse_kim")
    with world.tx() as s:
        stored = record_infusion(s, replace(request, confirm_unusual=True), at=at, actor="nurse_kim")
        assert any("volume 250 mL" in w for w in stored.warnings["warnings"])


def test_a_dose_in_grams_is_stored_in_the_label_unit_so_the_pack_rule_reads_it(world: World) -> None:
    row = authorized(world)
    request = replace(request_for(row), dose=0.3, dose_unit="g")
    with world.tx() as s:
        stored = record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse_kim")
        assert (stored.dose, stored.dose_unit) == (300, "mg")


def test_a_confirmed_partial_dose_still_meets_the_pack_rule(world: World) -> None:
    row = authorized(world)
    request = replace(request_for(row), dose=150.0, confirm_unusual=True)
    with pytest.raises(InfusionRejectedError, match="dose-not-300-mg"), world.tx() as s:
        record_infusion(s, request, at=request.stopped_at + timedelta(hours=2), actor="nurse_kim")


@pytest.mark.parametrize(
    ("name", "born"),
    [("Amy\x00", None), ("A\u202egnes", None), ("Zero\u200bwidth", None), ("Old", date(1, 1, 1)),
     ("Unborn", date(2999, 1, 1))],
)  # fmt: skip
def test_a_patient_with_a_hidden_character_or_an_impossible_birth_is_not_registered(
    world: World, name: str, born: date | None
) -> None:
    before = audit_count(world)
    with pytest.raises(ImplausibleError), world.tx() as s:
        participants.register_patient(s, key="pat_new", name=name, birth_on=born, at=world.at, actor="admin")
    with world.tx() as s:
        assert s.execute(select(Patient).where(Patient.key == "pat_new")).first() is None
    assert audit_count(world) == before


def test_a_name_is_stored_nfc(world: World) -> None:
    with world.tx() as s:
        row = participants.register_patient(s, key="pat_zoe", name="Zoe\u0301", at=world.at, actor="admin")
        assert row.name == "Zo\u00e9"


@pytest.mark.parametrize(
    "values",
    [{"relapses": 2**62}, {"relapses": 2**70}, {"t1_gd_lesions": -1}, {"edss": math.nan}, {"edss": 11.0},
     {"on": date(1, 1, 1)}, {"on": date(1989, 12, 31)}],
)  # fmt: skip
def test_an_implausible_assessment_is_refused_and_nothing_is_stored(world: World, values: dict) -> None:  # type: ignore[type-arg]
    values = dict(values)
    on = values.pop("on", world.at.date())
    with pytest.raises(ImplausibleError), world.tx() as s:
        enrolled = enrollment.enrollment_of(s, "pat_amy", "touch", lock=True)
        monitoring.record(s, enrolled, kind="prescriber-assessment", on=on, at=world.at, actor="dr_ada",
                          measurements=values)  # fmt: skip
    with world.tx() as s:
        assert s.execute(select(func.count()).select_from(MonitoringEvent)).scalar_one() == 0


def test_an_adverse_event_before_birth_or_with_a_nul_is_refused(world: World) -> None:
    for onset, description in ((date(1, 1, 1), "weakness"), (world.at.date(), "weak\x00ness")):
        with pytest.raises(ImplausibleError), world.tx() as s:
            adverse_events.report_adverse_event(
                s, program_id="touch", patient_key="pat_amy", kind="other", serious=False, seriousness=[],
                onset_on=onset, outcome="unknown", description=description, at=world.at, actor="dr_ada",
            )  # fmt: skip


def test_the_due_list_refuses_a_day_it_cannot_count_from(world: World) -> None:
    with pytest.raises(ImplausibleError, match="9999-12-31"), world.tx() as s:
        monitoring.population_due(s, on=date(9999, 12, 31))
