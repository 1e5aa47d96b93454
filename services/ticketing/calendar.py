"""Working-time calendars: office hours on working days, in the office's time zone, French public
holidays excluded (from the maintained ``holidays`` library, never a hand-typed list).

All inputs and outputs are timezone-aware datetimes; results are in UTC. Day windows are built in
local time and converted, so the nights the clocks change are handled by ``zoneinfo``.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


class WorkingCalendar:
    """Monday–Friday, ``day_start``–``day_end`` local time, public holidays of ``country`` excluded."""

    def __init__(
        self,
        tz: ZoneInfo,
        day_start: time = time(8, 0),
        day_end: time = time(18, 0),
        country: str = "FR",
    ) -> None:
        if day_end <= day_start:
            raise ValueError("day_end must be after day_start")
        self.tz = tz
        self.day_start = day_start
        self.day_end = day_end
        self._holidays = holidays.country_holidays(country)
        # day windows are recomputed constantly by the SLA engine; they never change
        self.window = functools.lru_cache(maxsize=4096)(self._window)

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (e.g. 10 hours for 08:00–18:00)."""
        return datetime.combine(date.min, self.day_end) - datetime.combine(date.min, self.day_start)

    def working_days(self, days: float) -> timedelta:
        """``days`` working days as an amount of working time."""
        return self.day_length * days

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        name = self._holidays.get(day)
        return str(name) if name is not None else None

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
