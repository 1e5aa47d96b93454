"""The offices file: ids, names, time zones, deadlines, quiet hours, alert addresses, key hashes."""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

DEMO_OFFICES_FILE = Path(__file__).resolve().parent.parent / "deploy" / "offices.demo.toml"

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def hash_key(key: str) -> str:
    """The form in which an office key or token is stored in the offices file."""
    return hashlib.sha256(key.encode()).hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaTargets(_Strict):
    """Deadlines (defaults of docs/DOMAIN.md); working-day targets count office hours."""

    first_response_working_days: float = Field(2, gt=0)
    u1_hours: float = Field(4, gt=0)
    u2_hours: float = Field(24, gt=0)
    u3_working_days: float = Field(5, gt=0)
    neighbourhood_working_days: float = Field(10, gt=0)
    administrative_working_days: float = Field(10, gt=0)
    transfer_working_days: float = Field(30, gt=0)
    #: a complaint (``request.opened`` with ``complaint: true``) is answered within this
    complaint_answer_working_days: float = Field(10, gt=0)
    at_risk_ratio: float = Field(0.8, gt=0, lt=1)
    day_start: time = time(8, 0)
    day_end: time = time(18, 0)

    @model_validator(mode="after")
    def _day(self) -> SlaTargets:
        if self.day_end <= self.day_start:
            raise ValueError("day_end must be after day_start")
        return self


class QuietHours(_Strict):
    """When SMS may reach tenants (office local time)."""

    start: time = time(8, 0)
    end: time = time(20, 0)
    #: ISO weekdays on which sending is allowed (1 = Monday … 7 = Sunday)
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    public_holidays: bool = False

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("days must be ISO weekdays 1..7")
        return value


class Office(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    timezone: str = "Europe/Paris"
    #: public holidays of a region on top of the national ones (``holidays`` subdivision or alias,
    #: e.g. "Moselle" or "Alsace": Good Friday and 26 December)
    holiday_region: str | None = None
    #: name shown as the SMS sender and in e-mails
    sender_name: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "Canopee"
    #: SHA-256 hex of each key this office may use (gateway key and API token), scope
    #: ``office-operator``; two during a rotation (shared/auth.py)
    api_key_sha256: tuple[Sha256Hex, ...] = ()
    #: SHA-256 hex of the office's read-only API tokens (scope ``office-read``)
    read_key_sha256: tuple[Sha256Hex, ...] = ()
    alert_emails: tuple[str, ...] = ()
    manager_emails: tuple[str, ...] = ()
    sla: SlaTargets = SlaTargets()
    quiet_hours: QuietHours = QuietHours()
    #: tutorial links for repairs that fall to the tenant, by subject (e.g. "repair")
    tutorials: dict[str, str] = {}
    #: a cause older than this when it arrives is history: recorded and counted, but it sends
    #: nothing to anyone (no tenant message, no survey, no office alert, no manager e-mail)
    history_horizon_hours: float = Field(48, gt=0)
    #: how tenants reach a person, printed in messages and pages when given
    phone: Annotated[str, StringConstraints(min_length=4, max_length=30)] | None = None
    #: e.g. "du lundi au vendredi, 8 h 30 – 12 h et 13 h 30 – 17 h"
    opening_hours: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    #: homes the office manages (its housing stock): indicators per 1,000 homes compare offices
    #: of different sizes (absent: those figures are not given)
    housing_stock: int | None = Field(None, gt=0, le=10_000_000)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("holiday_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            holidays.country_holidays("FR", subdiv=value)
        except NotImplementedError:
            raise ValueError(f"unknown holiday region {value!r} (e.g. Moselle, Alsace, 974)") from None
        return value

    @property
    def history_horizon(self) -> timedelta:
        return timedelta(hours=self.history_horizon_hours)

    def is_history(self, cause_time: datetime, now: datetime) -> bool:
        """A cause older than the office's horizon when it arrives (a backfill, an import, a replay,
        a fresh database): recorded and counted, never acted on towards people."""
        return now - cause_time > self.history_horizon

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Offices(_Strict):
    office: tuple[Office, ...] = Field(min_length=1)
    #: SHA-256 hex of the network administrators' API tokens (scope ``network-admin``; the
    #: ``CANOPEE_ADMIN_TOKEN`` setting is one too)
    admin_key_sha256: tuple[Sha256Hex, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Offices:
        ids = [o.id for o in self.office]
        if len(set(ids)) != len(ids):
            raise ValueError("office ids must be unique")
        return self

    @property
    def ids(self) -> list[str]:
        return [o.id for o in self.office]

    def get(self, office_id: str) -> Office | None:
        for office in self.office:
            if office.id == office_id:
                return office
        return None

    def __contains__(self, office_id: object) -> bool:
        return any(o.id == office_id for o in self.office)

    def office_for_key(self, key: str) -> Office | None:
        """The office whose key hash matches ``key`` (constant-time comparison)."""
        digest = hash_key(key)
        found = None
        for office in self.office:
            for stored in office.api_key_sha256:
                if hmac.compare_digest(stored, digest):
                    found = office
        return found


def load_offices(path: Path) -> Offices:
    """Read and validate an offices file (TOML); errors name the file and the field."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    return Offices.model_validate(raw)
