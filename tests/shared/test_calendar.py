"""The shared office calendar: working time, holiday regions, the quiet-hours window."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.calendar import (
    WorkingCalendar,
    calendar_for,
    is_public_holiday,
    next_opening,
    office_calendar,
    office_next_opening,
)
from shared.offices import Office, QuietHours

PARIS = ZoneInfo("Europe/Paris")
CAL = WorkingCalendar(PARIS)
MOSELLE = WorkingCalendar(PARIS, region="Moselle")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


def test_office_hours_must_end_after_they_start() -> None:
    with pytest.raises(ValueError, match="day_end"):
        WorkingCalendar(PARIS, time(18), time(8))


def test_friday_evening_plus_five_working_days() -> None:
    due = CAL.add_working_time(paris(2026, 11, 27, 17, 30), CAL.working_days(5))
    assert due == paris(2026, 12, 4, 17, 30)
    assert CAL.working_time_between(paris(2026, 11, 27, 17, 30), due) == timedelta(hours=50)


def test_26_december_is_a_working_day_nationally_but_not_in_alsace_moselle() -> None:
    st_stephen = date(2025, 12, 26)  # a Friday
    assert CAL.is_working_day(st_stephen)
    assert not MOSELLE.is_working_day(st_stephen)
    assert not WorkingCalendar(PARIS, region="Alsace").is_working_day(st_stephen)
    assert is_public_holiday(date(2026, 4, 3), "Moselle")  # Good Friday
    assert not is_public_holiday(date(2026, 4, 3))


def test_a_region_shifts_deadlines() -> None:
    start = paris(2025, 12, 24, 8, 0)  # Wednesday; 25 (Thu) national, 26 (Fri) regional
    assert CAL.add_working_time(start, CAL.working_days(2)) == paris(2025, 12, 26, 18, 0)
    assert MOSELLE.add_working_time(start, MOSELLE.working_days(2)) == paris(2025, 12, 29, 18, 0)


def test_calendars_of_the_same_hours_are_shared() -> None:
    assert calendar_for(PARIS) is calendar_for(PARIS)
    assert calendar_for(PARIS, region="Moselle") is not calendar_for(PARIS)


def test_office_calendar_reads_hours_and_region_from_the_offices_file() -> None:
    office = Office.model_validate(
        {
            "id": "metz",
            "name": "Metz",
            "holiday_region": "Moselle",
            "sla": {"day_start": "09:00:00", "day_end": "17:00:00"},
        }
    )
    calendar = office_calendar(office)
    assert calendar.day_length == timedelta(hours=8)
    assert not calendar.is_working_day(date(2025, 12, 26))


def test_an_unknown_holiday_region_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown holiday region 'Atlantis'"):
        Office.model_validate({"id": "x1", "name": "X", "holiday_region": "Atlantis"})


def test_quiet_hours_open_on_the_next_allowed_day_skipping_regional_holidays() -> None:
    window = QuietHours()  # Monday–Saturday 08:00–20:00, no public holidays
    thursday_night = paris(2025, 12, 25, 21, 0)  # Christmas; Friday 26 is a holiday in Moselle only
    assert next_opening(thursday_night, window, PARIS) == paris(2025, 12, 26, 8, 0)
    assert next_opening(thursday_night, window, PARIS, "Moselle") == paris(2025, 12, 27, 8, 0)
    office = Office.model_validate({"id": "metz", "name": "Metz", "holiday_region": "Moselle"})
    assert office_next_opening(thursday_night, office) == paris(2025, 12, 27, 8, 0)


def test_inside_the_window_sends_at_once() -> None:
    when = paris(2026, 11, 27, 10, 0)
    assert next_opening(when, QuietHours(), PARIS) == when


def test_history_is_what_is_older_than_the_office_horizon() -> None:
    office = Office.model_validate({"id": "lyon", "name": "Lyon"})
    now = paris(2026, 11, 30, 12, 0)
    assert not office.is_history(now - timedelta(hours=47), now)
    assert office.is_history(now - timedelta(hours=49), now)
    short = Office.model_validate({"id": "lyon", "name": "Lyon", "history_horizon_hours": 6})
    assert short.is_history(now - timedelta(hours=7), now)
