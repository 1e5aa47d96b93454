"""Office calendars for tenant SMS: the quiet-hours window and dates written in French."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from shared.offices import QuietHours

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", years=year).keys())


def is_public_holiday(day: date) -> bool:
    """A French (metropolitan) public holiday."""
    return day in _french_holidays(day.year)


def next_opening(when: datetime, window: QuietHours, tz: ZoneInfo) -> datetime:
    """The first instant at or after ``when`` at which an SMS may reach a tenant (UTC-aware result).

    Allowed: the window's ISO weekdays, between ``start`` and ``end`` office time, and not on a
    French public holiday unless the window allows them.
    """
    local = when.astimezone(tz)
    day = local.date()
    for _ in range(30):  # a window always opens within a few days; bounded for safety
        allowed_day = day.isoweekday() in window.days and (window.public_holidays or not is_public_holiday(day))
        if allowed_day:
            start = datetime.combine(day, window.start, tz)
            end = datetime.combine(day, window.end, tz)
            if local < start:
                return start.astimezone(when.tzinfo)
            if local < end:
                return when
        day += timedelta(days=1)
        local = datetime.combine(day, time(0, 0), tz)
    raise ValueError("the quiet-hours window never opens")


def french_date(moment: datetime, tz: ZoneInfo) -> str:
    """E.g. ``lundi 30 novembre 2026`` in the office time zone."""
    local = moment.astimezone(tz)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{_DAYS[local.weekday()]} {day} {_MONTHS[local.month - 1]} {local.year}"


def french_time(moment: datetime, tz: ZoneInfo) -> str:
    """E.g. ``8 h`` or ``14 h 30`` in the office time zone."""
    local = moment.astimezone(tz)
    return f"{local.hour} h" if local.minute == 0 else f"{local.hour} h {local.minute:02d}"


def french_datetime(moment: datetime, tz: ZoneInfo) -> str:
    """E.g. ``lundi 30 novembre 2026 à 14 h 30``."""
    return f"{french_date(moment, tz)} à {french_time(moment, tz)}"


def reminder_time(slot_start: datetime, tz: ZoneInfo, hour: int) -> datetime:
    """The day before the slot at ``hour`` office time (UTC-aware)."""
    local_day = slot_start.astimezone(tz).date() - timedelta(days=1)
    return datetime.combine(local_day, time(hour, 0), tz).astimezone(ZoneInfo("UTC"))
