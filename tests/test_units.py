"""Units: UCUM codes and the unit texts records really carry convert, or are refused with a reason."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxguard.facts import units
from rxguard.facts.units import UnitError, convert, parse


@pytest.mark.parametrize(
    ("code", "text", "ucum"),
    [
        ("mg", "milligram", "mg"),
        (None, "milligram", "mg"),
        (None, "milligrams", "mg"),
        (None, "MG", "mg"),
        (None, "MG/ML", "mg/mL"),
        (None, "mg/m²", "mg/m2"),
        ("mg/m2", None, "mg/m2"),
        (None, "milligrams per square metre", "mg/m2"),
        (None, "µkat/L", "ukat/L"),
        (None, "μkat/L", "ukat/L"),
        ("ukat/L", None, "ukat/L"),
        (None, "K/uL", "10*3/uL"),
        (None, "x10^9/L", "10*9/L"),
        (None, "10⁹/L", "10*9/L"),
        (None, "mL/min/1.73m2", "mL/min/{1.73_m2}"),
        ("mL/min/{1.73_m2}", None, "mL/min/{1.73_m2}"),
        ("{score}", None, "{score}"),
        (None, "mcg", "ug"),
    ],
)
def test_it_reads_ucum_codes_and_the_unit_texts_records_use(code: str | None, text: str | None, ucum: str) -> None:
    assert parse(code, text).ucum == ucum


def test_the_ucum_code_wins_over_the_unit_text() -> None:
    unit = parse("ukat/L", "U/L")
    assert unit.ucum == "ukat/L"
    assert not unit.from_text


def test_an_invalid_code_falls_back_to_a_readable_text() -> None:
    assert parse("not-a-unit", "mg").ucum == "mg"


def test_an_unreadable_unit_is_refused_with_what_was_given() -> None:
    with pytest.raises(UnitError, match="'cells per bucket'"):
        parse(None, "cells per bucket")
    with pytest.raises(UnitError, match="no unit"):
        parse(None, None)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1, "ukat/L", "U/L", 60.0),
        (2.5, parse(None, "µkat/L"), "U/L", 150.0),
        (300, parse(None, "milligram"), "mg", 300.0),
        (0.3, "g", "mg", 300.0),
        (5, "10*9/L", "10*3/uL", 5.0),
        (1.2, "mg/dL", "g/L", 0.012),
        (2, parse(None, "mg/m²"), "mg/m2", 2.0),
    ],
)
def test_it_converts_commensurable_units(value: float, source: object, target: str, expected: float) -> None:
    assert convert(value, source, target) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "target"),
    [("mg/m2", "mg"), ("[IU]/L", "U/L"), ("mg/dL", "umol/L"), ("U/L", "mg/dL")],
)
def test_it_refuses_to_convert_different_quantities_and_says_why(source: str, target: str) -> None:
    with pytest.raises(UnitError, match="cannot be converted"):
        convert(1.0, source, target)
    assert not units.is_convertible(source, target)


def test_an_iu_text_on_an_enzyme_activity_is_the_enzyme_unit() -> None:
    assert parse("IU/L", "IU/L", enzyme_activity=True).ucum == "U/L"
    assert parse("IU/L", "IU/L").ucum == "[IU]/L"
    assert parse("[IU]/L", enzyme_activity=True).ucum == "[IU]/L"


@given(
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
    st.sampled_from([("ukat/L", "U/L"), ("g", "mg"), ("10*9/L", "10*3/uL"), ("mg/dL", "g/L"), ("h", "min")]),
)
def test_converting_there_and_back_gives_the_value(value: float, pair: tuple[str, str]) -> None:
    there = convert(value, *pair)
    back = convert(there, pair[1], pair[0])
    assert math.isclose(back, value, rel_tol=1e-9)


@pytest.mark.parametrize("code", sorted(units.KNOWN_UCUM))
def test_every_code_read_without_the_registry_is_ucum_to_the_registry(code: str) -> None:
    """The fast path's table cannot hold a code the UCUM registry would refuse."""
    units._quantity.cache_clear()
    assert units._quantity(code) is not None
    assert parse(code).ucum == code


def test_a_record_in_the_labs_own_unit_reads_the_same_as_one_converted() -> None:
    assert convert(2.5, parse("mg/dL"), "mg/dL") == 2.5
    assert math.isclose(convert(25.0, parse("g/L"), "g/dL"), 2.5)


def test_square_metres_written_in_capitals_are_read_as_square_metres() -> None:
    from rxguard.facts import units

    for text in ("MG/M2", "mg/M2", "Mg/M2", "MG/M^2", "mg/m2"):
        assert units.parse(None, text).ucum == "mg/m2", text
    assert units.convert(2.0, units.parse(None, "MG/M2"), units.parse(None, "ug/m2")) == 2000.0
