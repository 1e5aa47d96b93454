"""Working time of an office: Monday–Friday within office hours, local time zone, French public
holidays excluded (from the maintained ``holidays`` library)."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


class WorkingCalendar:
    """Working time between two instants, as the U3 intervention target counts it."""

    def __init__(self, tz: ZoneInfo, day_start: time = time(8, 0), day_end: time = time(18, 0)) -> None:
        self.tz = tz
        self.day_start = day_start
        self.day_end = day_end
        self._holidays = holidays.country_holidays("FR")
        self._window = functools.lru_cache(maxsize=8192)(self._compute_window)

    @property
    def day_length(self) -> timedelta:
        return datetime.combine(date.min, self.day_end) - datetime.combine(date.min, self.day_start)

    def _compute_window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() >= 5 or day in self._holidays:
            return None
        return (
            datetime.combine(day, self.day_start, self.tz).astimezone(UTC),
            datetime.combine(day, self.day_end, self.tz).astimezone(UTC),
        )

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end`` (zero when ``end`` is not after it)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            window = self._window(day)
            if window is not None:
                lo, hi = max(window[0], start), min(window[1], end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total
