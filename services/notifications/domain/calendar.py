"""Dates written in French, and the time of an appointment reminder. The quiet-hours window and
public holidays are the office calendar's (``shared/calendar.py``)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

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


def relative_day(moment: datetime, sent_at: datetime, tz: ZoneInfo) -> str | None:
    """How a message sent at ``sent_at`` names the day of ``moment``: ``aujourd'hui``, ``demain``,
    or None (the date itself must be written)."""
    days = (moment.astimezone(tz).date() - sent_at.astimezone(tz).date()).days
    return {0: "aujourd'hui", 1: "demain"}.get(days)
