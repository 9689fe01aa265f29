"""Units of measure: every unit question rxguard asks goes through this module.

Records carry units two ways: a UCUM code (FHIR ``Quantity.code`` with
``system`` http://unitsofmeasure.org) and a human text (``Quantity.unit``).
The code wins; the text is read only when there is no usable code, after
rewriting the spellings records really use ("milligram", "mg/m²", "µkat/L",
"MG/ML", "x10^9/L", "mL/min/1.73m2") to UCUM. The UCUM grammar and unit
table come from ``ucumvert`` (the official ucum-essence definitions) with
``pint`` doing the arithmetic, so no conversion factor is written here.

The API is three names:

- :func:`parse` reads a unit (code and/or text) into a :class:`Unit`,
- :func:`convert` moves a number from one unit to another,
- :class:`UnitError` says why a unit could not be read or converted
  (not valid UCUM; different dimensions such as mg vs mg/m², enzyme units
  vs international units, mass vs substance amount).

Never compare two numbers without converting one to the other's unit: a
comparison that cannot be converted is reported, never guessed.

The UCUM registry is built on first use (about half a second, once per
process); parses and conversion factors are cached, so reading a bundle
costs a dictionary look-up per quantity.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

from rxguard.errors import FactsError

UCUM_SYSTEM = "http://unitsofmeasure.org"

__all__ = ["UCUM_SYSTEM", "Unit", "UnitError", "convert", "is_convertible", "parse"]


class UnitError(FactsError):
    """A unit that could not be read, or two units that cannot be converted; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit read from a record: the UCUM expression used, and what the record said."""

    ucum: str
    given: str = ""
    from_text: bool = False

    def __str__(self) -> str:
        return self.given or self.ucum


# ------------------------------------------------------------------ reading unit texts

_SUPERSCRIPTS = str.maketrans(
    {
        "⁰": "0",
        "¹": "1",
        "²": "2",
        "³": "3",
        "⁴": "4",
        "⁵": "5",
        "⁶": "6",
        "⁷": "7",
        "⁸": "8",
        "⁹": "9",
        "⁻": "-",
        "·": ".",
    }
)
# Words and symbols that human unit texts use, as UCUM atoms (matched case-insensitively, whole words).
_WORDS: dict[str, str] = {
    "milligram": "mg", "milligrams": "mg", "mg": "mg", "mgs": "mg",
    "microgram": "ug", "micrograms": "ug", "mcg": "ug", "ug": "ug",
    "nanogram": "ng", "nanograms": "ng", "ng": "ng",
    "picogram": "pg", "picograms": "pg", "pg": "pg",
    "gram": "g", "grams": "g", "g": "g", "gm": "g",
    "kilogram": "kg", "kilograms": "kg", "kg": "kg",
    "milliliter": "mL", "millilitre": "mL", "milliliters": "mL", "millilitres": "mL", "ml": "mL",
    "deciliter": "dL", "decilitre": "dL", "deciliters": "dL", "decilitres": "dL", "dl": "dL",
    "microliter": "uL", "microlitre": "uL", "microliters": "uL", "microlitres": "uL", "ul": "uL",
    "liter": "L", "litre": "L", "liters": "L", "litres": "L", "l": "L",
    "millimole": "mmol", "millimoles": "mmol", "mmol": "mmol",
    "micromole": "umol", "micromoles": "umol", "umol": "umol",
    "unit": "U", "units": "U", "u": "U",
    "iu": "[IU]", "miu": "m[IU]",
    "ukat": "ukat", "microkatal": "ukat", "mkat": "mkat", "nkat": "nkat", "kat": "kat",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h", "h": "h",
    "minute": "min", "minutes": "min", "min": "min",
    "day": "d", "days": "d", "week": "wk", "weeks": "wk",
    "cells": "{cells}", "cell": "{cells}",
}  # fmt: skip
_TEN_TO_THE = re.compile(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_TOKEN = re.compile(r"[A-Za-z]+")
_PER_AREA = re.compile(r"/\s*1\.73\s*\.?\s*(?:m2|m\^2|sq\.?\s*m)\b", re.IGNORECASE)
_SQUARE_METRE = re.compile(r"\b(?:square\s+met(?:er|re)s?|sq\.?\s*m|m\^2|m2)\b", re.IGNORECASE)  # "MG/M2" is mg/m2
_POWER_OF_TEN = re.compile(r"^\s*(?:x|×)?\s*10\s*(?:\^|\*|e|E)\s*(\d+)\s*/\s*")
_ANNOTATION_ONLY = re.compile(r"^\{[^{}]*\}$")
_THOUSANDS = {"k": "10*3", "K": "10*3", "M": "10*6"}


def _ucum_from_text(text: str) -> str:
    """A human unit text rewritten to a UCUM expression (best effort; the UCUM parser judges the result)."""
    out = _TEN_TO_THE.sub(lambda m: "10*" + m.group(1), text.strip()).replace("µ", "u").replace("μ", "u")
    out = out.translate(_SUPERSCRIPTS)
    out = _PER_AREA.sub("/{1.73_m2}", out)
    out = _SQUARE_METRE.sub("m2", out)
    out = re.sub(r"\s+per\s+", "/", out, flags=re.IGNORECASE)
    match = _POWER_OF_TEN.match(out)
    if match:
        out = f"10*{match.group(1)}/{out[match.end() :]}"
    head, sep, tail = out.partition("/")
    if sep and head in _THOUSANDS and tail:
        out = f"{_THOUSANDS[head]}/{tail}"
    out = _TOKEN.sub(lambda m: _WORDS.get(m.group(0).casefold(), m.group(0)), out)
    return re.sub(r"\s+", "", out)


# ------------------------------------------------------------------ UCUM through ucumvert/pint


_PARSING = threading.RLock()


@functools.cache
def _registry() -> Any:
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


@functools.lru_cache(maxsize=4096)
def _quantity(ucum: str) -> Any:
    """The pint quantity of one UCUM expression, or UnitError."""
    if not ucum or any(ch.isspace() for ch in ucum):
        raise UnitError(f"unit {ucum!r} is not a UCUM unit code")
    if _ANNOTATION_ONLY.match(ucum):
        ucum = "1"  # "{score}", "{count}": an annotation alone is the unit one
    try:
        with _PARSING:  # one parse at a time: the server reads units from a thread pool
            quantity = _registry().from_ucum(ucum)
        quantity.dimensionality  # noqa: B018 - an annotation-only code parses to a bare token
    except Exception:  # ucumvert raises lark, pint and attribute errors alike for what it cannot read
        raise UnitError(f"unit {ucum!r} is not a valid UCUM unit") from None
    return quantity


#: UCUM codes records and packs use most, known valid without building the UCUM registry
#: (which takes seconds): a record whose units are all here, in the unit the rule wants, is
#: read with no registry at all. tests/test_units.py parses each one with the registry.
KNOWN_UCUM = frozenset(
    (
        "1", "%", "U", "U/L", "[IU]", "m[IU]/L", "[IU]/L", "mg", "g", "ug", "kg", "mL", "L",
        "mg/m2", "mg/kg", "m2", "cm", "mg/dL", "g/dL", "g/L", "ng/dL", "ng/mL", "umol/L",
        "mmol/L", "10*3/uL", "10*9/L", "10*6/uL", "mL/min/{1.73_m2}", "min", "h", "d", "wk", "mo", "a",
    )
)  # fmt: skip


def _readable(ucum: str) -> bool:
    if ucum in KNOWN_UCUM or _ANNOTATION_ONLY.match(ucum):
        return True
    try:
        _quantity(ucum)
    except UnitError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def parse(code: str | None = None, text: str | None = None, *, enzyme_activity: bool = False) -> Unit:
    """The unit of a record: its UCUM ``code`` when that is valid UCUM, else its ``text`` read as a unit.

    ``enzyme_activity`` says the quantity is a catalytic activity (ALT, AST): there a text "IU"
    means the enzyme unit U (1 µmol/min, once named the international unit of enzyme activity),
    not UCUM's arbitrary WHO unit [IU], which cannot be converted to anything. A valid UCUM
    code ``[IU]`` is left as it is. Raises :class:`UnitError` naming what was given when
    neither code nor text can be read.
    """
    code = (code or "").strip()
    text = (text or "").strip()
    if code and _readable(code):
        return Unit(code, text or code, False)
    for raw in (code, text):
        if not raw:
            continue
        # The rewritten text first: "MG" in a record means milligram, although as UCUM it reads megagauss.
        rewritten = _ucum_from_text(raw)
        if enzyme_activity:
            rewritten = rewritten.replace("[IU]", "U")
        for candidate in (rewritten, raw):
            if _readable(candidate):
                return Unit(candidate, text or code, True)
    given = " / ".join(repr(s) for s in (code, text) if s) or "no unit"
    raise UnitError(f"unit {given} could not be read as a UCUM unit")


def _as_unit(unit: Unit | str) -> Unit:
    return unit if isinstance(unit, Unit) else parse(unit, unit)


@functools.lru_cache(maxsize=4096)
def _factor(source: str, target: str) -> float:
    src, dst = _quantity(source), _quantity(target)
    if src.dimensionality != dst.dimensionality:
        raise UnitError(
            f"{source} cannot be converted to {target}: they measure different things "
            f"({_dimension(src)} vs {_dimension(dst)})"
        )
    with _PARSING:
        return float(src.to(dst.units).magnitude / dst.magnitude)


def _dimension(quantity: Any) -> str:
    dims = str(quantity.dimensionality)
    return "a pure number" if dims == "dimensionless" else dims.replace("[", "").replace("]", "")


def convert(value: float, source: Unit | str, target: Unit | str) -> float:
    """``value`` in ``source`` expressed in ``target``; :class:`UnitError` when they do not convert."""
    src, dst = _as_unit(source), _as_unit(target)
    if src.ucum == dst.ucum:
        return value
    return value * _factor(src.ucum, dst.ucum)


def is_convertible(source: Unit | str, target: Unit | str) -> bool:
    try:
        convert(1.0, source, target)
    except UnitError:
        return False
    return True
