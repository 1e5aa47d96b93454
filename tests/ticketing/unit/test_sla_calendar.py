"""Working-day calendar: office hours, weekends, French public holidays, the nights clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.ticketing.domain.requests import Fact, fold
from services.ticketing.domain.sla import Status, clocks
from shared.calendar import WorkingCalendar
from shared.offices import SlaTargets

PARIS = ZoneInfo("Europe/Paris")
CAL = WorkingCalendar(PARIS)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


def test_a_working_day_is_ten_hours_by_default() -> None:
    assert CAL.day_length == timedelta(hours=10)
    assert WorkingCalendar(PARIS, time(9), time(17)).working_days(2) == timedelta(hours=16)


def test_friday_17_30_u3_is_due_the_next_friday_at_17_30() -> None:
    due = CAL.add_working_time(paris(2026, 11, 27, 17, 30), CAL.working_days(5))
    assert due == paris(2026, 12, 4, 17, 30)
    assert CAL.working_time_between(paris(2026, 11, 27, 17, 30), due) == timedelta(hours=50)


def test_friday_17_30_u3_clock_through_the_domain() -> None:
    opened = Fact(
        "e1", "request.opened", paris(2026, 11, 27, 17, 30).astimezone(UTC), {"category": "repair", "urgency": "U3"}
    )
    request = fold([opened])
    (first, intervention) = clocks(request, SlaTargets(), CAL, paris(2026, 11, 30, 9, 0))
    assert intervention.policy == "U3"
    assert intervention.due_at == paris(2026, 12, 4, 17, 30)
    # 0.5 h on Friday + 1 h on Monday morning
    assert intervention.elapsed == timedelta(hours=1, minutes=30)
    assert intervention.status == Status.OK
    assert first.due_at == paris(2026, 12, 1, 17, 30)


def test_opened_on_a_public_holiday_counts_from_the_next_working_day() -> None:
    may_day = paris(2026, 5, 1, 10, 0)  # Fête du Travail, a Friday
    assert CAL.holiday_name(may_day.date()) is not None
    assert CAL.working_time_between(may_day, paris(2026, 5, 4, 8, 0)) == timedelta(0)
    assert CAL.add_working_time(may_day, CAL.working_days(2)) == paris(2026, 5, 5, 18, 0)


def test_holidays_inside_the_period_are_skipped() -> None:
    # Thursday 7 May 2026, 5 working days: Friday 8 May (Victoire 1945) and Ascension (14 May) skipped
    due = CAL.add_working_time(paris(2026, 5, 7, 8, 0), CAL.working_days(5))
    assert due == paris(2026, 5, 15, 18, 0)


def test_weekends_and_nights_do_not_count() -> None:
    assert CAL.working_time_between(paris(2026, 11, 27, 18, 0), paris(2026, 11, 30, 8, 0)) == timedelta(0)
    assert CAL.working_time_between(paris(2026, 11, 27, 7, 0), paris(2026, 11, 27, 20, 0)) == timedelta(hours=10)
    assert CAL.add_working_time(paris(2026, 11, 28, 11, 0), timedelta(hours=1)) == paris(2026, 11, 30, 9, 0)


def test_march_clock_change_working_days() -> None:
    # last Sunday of March 2026 is the 29th: Friday is UTC+1, Tuesday UTC+2
    due = CAL.add_working_time(paris(2026, 3, 27, 17, 0), CAL.working_days(2))
    assert due == paris(2026, 3, 31, 17, 0)
    assert due.utcoffset() == timedelta(0) and due == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
    assert CAL.working_time_between(paris(2026, 3, 27, 17, 0), due) == timedelta(hours=20)


@pytest.mark.parametrize(
    ("opened", "hours", "due_local"),
    [
        # U1 opened the night the clocks go forward: 4 real hours, 5 on the wall clock
        (datetime(2026, 3, 28, 23, 30, tzinfo=PARIS), 4, datetime(2026, 3, 29, 4, 30, tzinfo=PARIS)),
        # U2 across the change: 24 real hours end at 13:00 local
        (datetime(2026, 3, 28, 12, 0, tzinfo=PARIS), 24, datetime(2026, 3, 29, 13, 0, tzinfo=PARIS)),
        # last Sunday of October (25th): 4 real hours, 3 on the wall clock
        (datetime(2026, 10, 25, 0, 30, tzinfo=PARIS), 4, datetime(2026, 10, 25, 3, 30, tzinfo=PARIS)),
        (datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 24, datetime(2026, 10, 25, 11, 0, tzinfo=PARIS)),
    ],
)
def test_24_7_clocks_count_real_hours_across_clock_changes(opened: datetime, hours: int, due_local: datetime) -> None:
    urgency = "U1" if hours == 4 else "U2"
    request = fold([Fact("e1", "request.opened", opened.astimezone(UTC), {"category": "repair", "urgency": urgency})])
    intervention = clocks(request, SlaTargets(), CAL, opened)[1]
    assert intervention.due_at == due_local
    assert intervention.due_at is not None and intervention.due_at - opened == timedelta(hours=hours)


def test_october_clock_change_working_time() -> None:
    # Friday 12:00 UTC+2 to Monday 12:00 UTC+1: 6 h + 4 h of office time
    assert CAL.working_time_between(paris(2026, 10, 23, 12, 0), paris(2026, 10, 26, 12, 0)) == timedelta(hours=10)


def _events(*facts: tuple[str, datetime, dict[str, str]]) -> list[Fact]:
    return [Fact(f"e{i}", kind, at.astimezone(UTC), data) for i, (kind, at, data) in enumerate(facts)]


def test_a_pause_spanning_a_weekend_pushes_a_working_day_deadline() -> None:
    facts = _events(
        ("request.opened", paris(2026, 11, 26, 10, 0), {"category": "repair", "urgency": "U3"}),
        ("request.on_hold", paris(2026, 11, 27, 12, 0), {"reason": "parts_ordered"}),
        ("request.resumed", paris(2026, 11, 30, 14, 0), {}),
    )
    intervention = clocks(fold(facts), SlaTargets(), CAL, paris(2026, 11, 30, 15, 0))[1]
    # 12 h before the pause; the remaining 38 h from Monday 14:00 end on Friday 4 Dec at 12:00
    assert intervention.due_at == paris(2026, 12, 4, 12, 0)
    assert intervention.elapsed == timedelta(hours=13)
    assert not intervention.paused


def test_a_pause_spanning_a_weekend_on_a_24_7_clock() -> None:
    facts = _events(
        ("request.opened", paris(2026, 11, 27, 10, 0), {"category": "repair", "urgency": "U2"}),
        ("request.on_hold", paris(2026, 11, 27, 12, 0), {"reason": "access_needed"}),
        ("request.resumed", paris(2026, 11, 30, 10, 0), {}),
    )
    intervention = clocks(fold(facts), SlaTargets(), CAL, paris(2026, 11, 30, 10, 0))[1]
    assert intervention.due_at == paris(2026, 12, 1, 8, 0)
    assert intervention.elapsed == timedelta(hours=2)


def test_while_on_hold_the_clock_is_paused_and_its_due_time_unknown() -> None:
    facts = _events(
        ("request.opened", paris(2026, 11, 27, 10, 0), {"category": "repair", "urgency": "U1"}),
        ("request.on_hold", paris(2026, 11, 27, 11, 0), {"reason": "access_needed"}),
    )
    intervention = clocks(fold(facts), SlaTargets(), CAL, paris(2026, 11, 28, 10, 0))[1]
    assert intervention.paused
    assert intervention.due_at is None
    assert intervention.elapsed == timedelta(hours=1)
    assert intervention.status == Status.OK
