"""Office calendars, one implementation for every service: working time (office hours on working
days) and the quiet-hours window in which a tenant may be texted.

Both count in the office's time zone and skip French public holidays from the maintained
``holidays`` library, with the office's holiday region when it has one (``holiday_region`` in the
offices file, e.g. ``"Moselle"`` or ``"Alsace"``: Good Friday and 26 December are public holidays
there). All inputs and outputs are timezone-aware; results are in UTC unless said otherwise. Day
windows are built in local time and converted, so the nights the clocks change are handled by
``zoneinfo``.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from shared.offices import Office, QuietHours

COUNTRY = "FR"


@functools.lru_cache(maxsize=256)
def _holidays(region: str | None, year: int) -> dict[date, str]:
    found = holidays.country_holidays(COUNTRY, subdiv=region, years=year)
    return {day: str(name) for day, name in found.items()}


def holiday_name(day: date, region: str | None = None) -> str | None:
    """The public holiday on ``day`` (France, and the region's own when given), or None."""
    return _holidays(region, day.year).get(day)


def is_public_holiday(day: date, region: str | None = None) -> bool:
    return holiday_name(day, region) is not None


class WorkingCalendar:
    """Monday–Friday, ``day_start``–``day_end`` local time, public holidays of the region excluded."""

    def __init__(
        self,
        tz: ZoneInfo,
        day_start: time = time(8, 0),
        day_end: time = time(18, 0),
        region: str | None = None,
    ) -> None:
        if day_end <= day_start:
            raise ValueError("day_end must be after day_start")
        self.tz = tz
        self.day_start = day_start
        self.day_end = day_end
        self.region = region
        # day windows are recomputed constantly by the clocks and indicators; they never change
        self.window = functools.lru_cache(maxsize=8192)(self._window)

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (e.g. 10 hours for 08:00–18:00)."""
        return datetime.combine(date.min, self.day_end) - datetime.combine(date.min, self.day_start)

    def working_days(self, days: float) -> timedelta:
        """``days`` working days as an amount of working time."""
        return self.day_length * days

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not is_public_holiday(day, self.region)

    def holiday_name(self, day: date) -> str | None:
        return holiday_name(day, self.region)

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local date in UTC, or None on a weekend or public holiday."""
        if not self.is_working_day(day):
            return None
        start = datetime.combine(day, self.day_start, self.tz).astimezone(UTC)
        end = datetime.combine(day, self.day_end, self.tz).astimezone(UTC)
        return start, end

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end`` (zero if ``end`` is not after ``start``)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = self._local_day(start)
        last = self._local_day(end)
        while day <= last:
            window = self.window(day)
            if window is not None:
                lo = max(window[0], start)
                hi = min(window[1], end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment ``amount`` of working time after ``start`` has elapsed (UTC).

        Starting outside office hours counts from the next opening. An amount of zero returns
        ``start`` unchanged.
        """
        if amount <= timedelta(0):
            return start.astimezone(UTC)
        remaining = amount
        day = self._local_day(start)
        # a generous bound: even 100 working days fit in well under 200 calendar days
        for _ in range(int(amount / self.day_length) * 2 + 400):
            window = self.window(day)
            if window is not None:
                lo = max(window[0], start)
                if window[1] > lo:
                    available = window[1] - lo
                    if available >= remaining:
                        return lo + remaining
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError("working time too large to place in the calendar")


@functools.lru_cache(maxsize=256)
def calendar_for(
    tz: ZoneInfo, day_start: time = time(8, 0), day_end: time = time(18, 0), region: str | None = None
) -> WorkingCalendar:
    """The (shared, cached) calendar of these office hours."""
    return WorkingCalendar(tz, day_start, day_end, region)


def office_calendar(office: Office) -> WorkingCalendar:
    """An office's working calendar: its time zone, office hours and holiday region."""
    return calendar_for(office.tz, office.sla.day_start, office.sla.day_end, office.holiday_region)


def next_opening(when: datetime, window: QuietHours, tz: ZoneInfo, region: str | None = None) -> datetime:
    """The first instant at or after ``when`` at which an SMS may reach a tenant (in ``when``'s zone).

    Allowed: the window's ISO weekdays, between ``start`` and ``end`` office time, and not on a
    public holiday unless the window allows them.
    """
    local = when.astimezone(tz)
    day = local.date()
    for _ in range(30):  # a window always opens within a few days; bounded for safety
        allowed_day = day.isoweekday() in window.days and (window.public_holidays or not is_public_holiday(day, region))
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


def office_next_opening(when: datetime, office: Office) -> datetime:
    """``next_opening`` in an office's quiet-hours window, time zone and holiday region."""
    return next_opening(when, office.quiet_hours, office.tz, office.holiday_region)
