"""Settings of the web application, read once from ``RXGUARD_WEB_*`` environment variables."""

from __future__ import annotations

from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    """How the pages show and read times; everything else comes from the server settings."""

    model_config = SettingsConfigDict(env_prefix="RXGUARD_WEB_", extra="ignore")

    #: IANA time zone the pages show times in and read form times in (e.g. Europe/Berlin).
    #: Stored times stay UTC; this is only how people see and type them.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"RXGUARD_WEB_TIMEZONE {value!r} is not an IANA time zone (e.g. Europe/Berlin)") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
