"""Due slots: the string key the sweeper reads by equality instead of a date range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.ticketing.store import slot_name, slot_start


def test_a_moment_falls_in_the_utc_minute_that_holds_it() -> None:
    paris = timezone(timedelta(hours=1))
    assert slot_name(datetime(2026, 11, 26, 9, 12, 59, 999_000, tzinfo=paris)) == "202611260812"
    assert slot_name(datetime(2026, 11, 26, 8, 13, tzinfo=UTC)) == "202611260813"
    assert slot_start(datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)) == datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


def test_nothing_to_check_has_no_slot() -> None:
    assert slot_name(None) is None
