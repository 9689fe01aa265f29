"""Plausible records: the one place that decides whether a value may be stored.

Every interface (REST API, web forms, CLI) reaches the program through its
services, and the services pass what they are given through these checks
before anything is written, so the three interfaces cannot drift apart:

* **text** is NFC-normalised and refused when it holds a control character
  (NUL included), a format character (text-direction overrides and
  isolates, zero-width characters, the byte-order mark) or a surrogate, or
  when it is longer than its column;
* **numbers** are finite and fit their column (a count is a whole number
  from 0 to the largest 32-bit integer; a measurement is a finite float);
* **dates** fall in sane bounds relative to now and to the patient's birth:
  a birth date within the last :data:`MAX_AGE_YEARS` years and not in the
  future; a clinical record not before the patient's birth and not more than
  :data:`FUTURE_SKEW` after the time it is recorded; a date asked about (the
  monitoring list "on" a day) within :data:`QUERY_YEARS` years of today;
* **doses** are read against the product's ``dose`` in the pack
  (``pack.yaml``): the unit must convert to the label's unit by UCUM, the
  amount must not exceed the most one dose can be (implausible: refused), and
  a dose or diluent volume other than the labelled one is *unusual*: a warning
  the user must confirm before the record is stored.

Refusals are :class:`ImplausibleError` (HTTP 422 ``implausible-input``);
an unusual value not yet confirmed is :class:`UnconfirmedError` (HTTP 422
``confirmation-needed``, listing the warnings). Both name the field.

These bounds are data-entry limits, not clinical thresholds: the clinical
judgement stays in the pack's rules, which run after these checks.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rxguard.errors import FactsError, ImplausibleError
from rxguard.knowledge.schema import Product

#: Oldest birth date accepted, in years before today (a data-entry bound: older is a typing error).
MAX_AGE_YEARS = 150
#: How far after the recording time a clinical date-time may lie (clock skew and time zones).
FUTURE_SKEW = timedelta(days=1)
#: A date asked about (due lists, calendars) lies within this many years of today.
QUERY_YEARS = 100
#: The largest whole number a count column holds on every engine (PostgreSQL ``integer``).
MAX_COUNT = 2**31 - 1
#: The largest magnitude accepted for a measured quantity (mL, mg): finite and far beyond any bag.
MAX_QUANTITY = 1e9

_ALLOWED_IN_MULTILINE = frozenset("\n\r\t")
_REFUSED_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


# --------------------------------------------------------------------------- text


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if not name:
        name = {"\x00": "NUL"}.get(ch, "a control character")
    return f"U+{ord(ch):04X} ({name})"


def clean_text(value: str, field: str, *, max_length: int, multiline: bool = False, required: bool = False) -> str:
    """``value`` NFC-normalised; refused when it holds invisible or control characters or is too long.

    Line breaks and tabs are accepted only in ``multiline`` fields (notes, reasons, descriptions).
    """
    if not isinstance(value, str):
        raise ImplausibleError(field, f"expected text, got {type(value).__name__}")
    text = unicodedata.normalize("NFC", value)
    for position, ch in enumerate(text, start=1):
        if unicodedata.category(ch) in _REFUSED_CATEGORIES and not (multiline and ch in _ALLOWED_IN_MULTILINE):
            raise ImplausibleError(
                field,
                f"character {position} is {_describe(ch)}, which is not accepted (control, zero-width and "
                "text-direction characters hide what a record says); retype the text without it",
            )
    if len(text) > max_length:
        raise ImplausibleError(field, f"is {len(text)} characters long; at most {max_length} fit")
    if required and not text.strip():
        raise ImplausibleError(field, "is empty; enter a value")
    return text


def clean_optional_text(value: str | None, field: str, *, max_length: int, multiline: bool = False) -> str | None:
    return None if value is None else clean_text(value, field, max_length=max_length, multiline=multiline)


# --------------------------------------------------------------------------- numbers


def finite_number(
    value: float, field: str, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> float:
    """A finite float within the bounds given (and within :data:`MAX_QUANTITY`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ImplausibleError(field, f"expected a number, got {type(value).__name__}")
    number = float(value) if not isinstance(value, float) else value
    if isinstance(value, int) and abs(value) > MAX_QUANTITY:
        raise ImplausibleError(field, f"{value} is out of range; at most {MAX_QUANTITY:g}")
    if not math.isfinite(number):
        raise ImplausibleError(field, f"{number} is not a number that can be recorded; enter a finite number")
    if abs(number) > MAX_QUANTITY:
        raise ImplausibleError(field, f"{number:g} is out of range; at most {MAX_QUANTITY:g}")
    if gt is not None and not number > gt:
        raise ImplausibleError(field, f"{number:g} must be greater than {gt:g}")
    if ge is not None and number < ge:
        raise ImplausibleError(field, f"{number:g} must be at least {ge:g}")
    if le is not None and number > le:
        raise ImplausibleError(field, f"{number:g} must be at most {le:g}")
    return number


def optional_number(value: float | None, field: str, **bounds: float) -> float | None:
    return None if value is None else finite_number(value, field, **bounds)


def count(value: int | None, field: str) -> int | None:
    """A whole number from 0 to :data:`MAX_COUNT` (what an integer column holds on every engine)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImplausibleError(field, f"expected a whole number, got {type(value).__name__}")
    if not 0 <= value <= MAX_COUNT:
        raise ImplausibleError(field, f"{value} is out of range; a count is from 0 to {MAX_COUNT}")
    return value


# --------------------------------------------------------------------------- dates


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def birth_date(value: date | None, field: str, *, today: date) -> date | None:
    """A birth date not in the future and within the last :data:`MAX_AGE_YEARS` years."""
    if value is None:
        return None
    earliest = _years_before(today, MAX_AGE_YEARS)
    if value > today:
        raise ImplausibleError(field, f"{value.isoformat()} is in the future; enter the date of birth")
    if value < earliest:
        raise ImplausibleError(
            field, f"{value.isoformat()} is more than {MAX_AGE_YEARS} years ago; check the year of birth"
        )
    return value


def clinical_date(value: date, field: str, *, now: datetime, born: date | None) -> date:
    """A date something happened: not before the patient's birth (or the oldest birth), not in the future."""
    earliest = born or _years_before(now.date(), MAX_AGE_YEARS)
    latest = (now + FUTURE_SKEW).date()
    if value < earliest:
        what = "the patient's birth" if born else f"{MAX_AGE_YEARS} years ago"
        raise ImplausibleError(field, f"{value.isoformat()} is before {what} ({earliest.isoformat()}); check the year")
    if value > latest:
        raise ImplausibleError(field, f"{value.isoformat()} is in the future; enter the date it happened")
    return value


def clinical_datetime(value: datetime, field: str, *, now: datetime, born: date | None) -> datetime:
    """A date-time something happened (aware): the same bounds as :func:`clinical_date`."""
    if value.tzinfo is None:
        raise ImplausibleError(field, "has no time zone; give an offset, e.g. 2026-01-05T09:00+00:00")
    earliest = born or _years_before(now.date(), MAX_AGE_YEARS)
    if value.date() < earliest:
        what = "the patient's birth" if born else f"{MAX_AGE_YEARS} years ago"
        raise ImplausibleError(field, f"{value.isoformat()} is before {what} ({earliest.isoformat()}); check the year")
    if value > now + FUTURE_SKEW:
        raise ImplausibleError(field, f"{value.isoformat()} is in the future; enter the time it happened")
    return value


def query_day(value: date, field: str, *, today: date) -> date:
    """A day asked about (due lists, calendars): within :data:`QUERY_YEARS` years of today."""
    earliest, latest = _years_before(today, QUERY_YEARS), _years_before(today, -QUERY_YEARS)
    if not earliest <= value <= latest:
        raise ImplausibleError(
            field,
            f"{value.isoformat()} is out of range; ask about a day from {earliest.isoformat()} to {latest.isoformat()}",
        )
    return value


def recording_time(value: datetime, field: str = "at") -> datetime:
    """The time a record is made (``--at``): aware and within the years a date column can hold safely."""
    if value.tzinfo is None:
        raise ImplausibleError(field, "has no time zone; give an offset, e.g. 2026-01-05T09:00+00:00")
    today = datetime.now(UTC).date()
    earliest, latest = _years_before(today, QUERY_YEARS), _years_before(today, -QUERY_YEARS)
    if not earliest <= value.date() <= latest:
        raise ImplausibleError(
            field,
            f"{value.isoformat()} is out of range; give a time from {earliest.isoformat()} to {latest.isoformat()}",
        )
    return value


# --------------------------------------------------------------------------- doses


@dataclass(frozen=True)
class CheckedDose:
    """A dose read against its product: the amount in the label's unit, and what is unusual about it."""

    dose: float
    unit: str
    warnings: tuple[str, ...]


def check_dose(product: Product, dose: float, unit: str, volume_ml: float) -> CheckedDose:
    """The dose in the product's labelled unit; implausible is refused, unusual is a warning.

    A product without ``dose`` data in its pack is checked for finite, positive numbers only.
    """
    from rxguard.facts import units

    dose = finite_number(dose, "dose", gt=0)
    volume_ml = finite_number(volume_ml, "volume_ml", gt=0)
    unit = clean_text(unit, "dose_unit", max_length=16, required=True).strip()
    spec = product.dose
    if spec is None:
        return CheckedDose(dose, unit, ())
    try:
        amount = units.convert(dose, unit, spec.unit)
    except (units.UnitError, FactsError) as exc:
        raise ImplausibleError(
            "dose_unit", f"{unit!r} does not measure a {product.name} dose ({exc}); record the dose in {spec.unit}"
        ) from None
    amount = round(amount, 9)
    if not math.isfinite(amount) or amount <= 0:
        raise ImplausibleError("dose", f"{dose:g} {unit} is not a dose that can be recorded")
    cited = "; ".join(f"{c.source} {c.section}" for c in spec.sources)
    if spec.most is not None and amount > spec.most:
        raise ImplausibleError(
            "dose",
            f"{dose:g} {unit} is more than one {product.name} dose can be ({spec.most:g} {spec.unit}; "
            f"labelled dose {spec.labelled:g} {spec.unit}) [{cited}]; check the amount and its unit",
        )
    warnings = []
    if abs(amount - spec.labelled) > 1e-9:
        warnings.append(
            f"dose {amount:g} {spec.unit} is not the labelled {spec.labelled:g} {spec.unit} of {product.name} [{cited}]"
        )
    if spec.volume_ml is not None and abs(volume_ml - spec.volume_ml) > 1e-9:
        warnings.append(f"volume {volume_ml:g} mL is not the labelled {spec.volume_ml:g} mL [{cited}]")
    return CheckedDose(amount, spec.unit, tuple(warnings))
