"""Reading form fields into typed values, with messages a person can act on.

Browsers send strings; the program services take numbers and aware
date-times. Each parser returns the value or raises :class:`FormError`
naming the field, so the form is shown again with the message beside that
field and everything the user typed kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rxguard.errors import ImplausibleError
from rxguard.program import validation
from rxguard.program.infusion import InfusionRequest


class FormError(ValueError):
    """One field is missing or malformed; ``field`` names it, the message says what to enter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def required(values: Mapping[str, str], name: str, t: Callable[..., str]) -> str:
    value = (values.get(name) or "").strip()
    if not value:
        raise FormError(name, t("form.required"))
    return value


def number(values: Mapping[str, str], name: str, t: Callable[..., str]) -> float:
    """A finite number greater than zero ("nan", "inf" and "1e400" are not numbers a person records)."""
    text = required(values, name, t).replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        raise FormError(name, t("form.number")) from None
    if not math.isfinite(value):
        raise FormError(name, t("form.number"))
    if value <= 0:
        raise FormError(name, t("form.positive"))
    try:
        return validation.finite_number(value, name, gt=0)
    except ImplausibleError as exc:
        raise FormError(name, str(exc)) from None


def local_datetime(values: Mapping[str, str], name: str, zone: ZoneInfo, t: Callable[..., str]) -> datetime:
    """A ``datetime-local`` field read in the site's time zone, returned as aware UTC."""
    text = required(values, name, t)
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise FormError(name, t("form.datetime")) from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def optional_local_datetime(
    values: Mapping[str, str], name: str, zone: ZoneInfo, t: Callable[..., str]
) -> datetime | None:
    if not (values.get(name) or "").strip():
        return None
    return local_datetime(values, name, zone, t)


def a_date(values: Mapping[str, str], name: str, t: Callable[..., str]) -> date:
    text = required(values, name, t)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormError(name, t("form.date")) from None


def end_of_local_day(values: Mapping[str, str], name: str, zone: ZoneInfo, t: Callable[..., str]) -> datetime:
    """A date field (an expiry day) as the moment that day ends in the site's zone, in UTC."""
    day = a_date(values, name, t)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def infusion_request(
    authorization_id: str, values: Mapping[str, str], zone: ZoneInfo, t: Callable[..., str]
) -> InfusionRequest:
    """The infusion form as the program's request (times read in the site's zone)."""
    storage = required(values, "storage", t)
    if storage not in ("refrigerated", "room_temperature"):
        raise FormError("storage", t("form.choose"))
    return InfusionRequest(
        authorization_id=authorization_id,
        idempotency_key=required(values, "idempotency_key", t),
        product=required(values, "product", t),
        lot=required(values, "lot", t)[:64],
        dose=number(values, "dose", t),
        dose_unit=required(values, "dose_unit", t)[:16],
        diluent=required(values, "diluent", t)[:128],
        volume_ml=number(values, "volume_ml", t),
        prepared_at=local_datetime(values, "prepared_at", zone, t),
        storage=storage,
        started_at=local_datetime(values, "started_at", zone, t),
        stopped_at=local_datetime(values, "stopped_at", zone, t),
        observation_end_at=optional_local_datetime(values, "observation_end_at", zone, t),
        reactions=(values.get("reactions") or "")[:2000],
        confirm_unusual=values.get("confirm_unusual") == "yes",
        product_code=required(values, "product_code", t)[:32],
        vial_expires_at=end_of_local_day(values, "vial_expires_on", zone, t),
    )


def text_fields(form: Mapping[str, object], names: tuple[str, ...]) -> dict[str, str]:
    """The string fields of a submitted form (files and unknown fields ignored), trimmed in length."""
    out: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str):
            out[name] = value[:4000]
    return out
