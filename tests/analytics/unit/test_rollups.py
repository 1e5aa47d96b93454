"""Indicators from daily rollups equal indicators computed directly from the facts (the
reference), on shuffled and duplicated delivery, for whole and partial ranges of every period;
rollups follow late events and are computed ahead by the refresh task."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.analytics.domain.indicators import Query, compute
from services.analytics.handlers import Analytics, refresh
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.analytics_dataset import OFFICES, RANGE, generate

OFFICES_CONFIG = load_offices(DEMO_OFFICES_FILE)
ZONES = {o.id: o.tz for o in OFFICES_CONFIG.office}
MID = RANGE[0] + timedelta(days=20)
RANGES = [
    (RANGE[0], RANGE[1], "month"),
    (RANGE[0], RANGE[1], "week"),
    (MID, MID + timedelta(days=17), "day"),  # starts mid-stream: backlog and campaigns cut
    (MID + timedelta(days=9), RANGE[1], "week"),
    (RANGE[0] - timedelta(days=40), RANGE[0] + timedelta(days=3), "month"),
]


async def by_facts(store: MemoryAnalyticsStore, offices: list[str], start: date, end: date, period: str) -> dict:
    facts = await store.facts(offices)
    return compute(Query(start=start, end=end, period=period, offices=offices, tz=ZONES), facts)  # type: ignore[arg-type]


async def ingest(events: list, batch: int) -> tuple[Analytics, MemoryAnalyticsStore]:
    store = MemoryAnalyticsStore()
    svc = Analytics(OFFICES_CONFIG, store)
    for i in range(0, len(events), batch):
        await svc.apply(events[i : i + batch])
    return svc, store


@pytest.fixture(scope="module")
def events() -> list:
    return generate(per_office=40, seed=23).cloud_events()


@pytest.mark.parametrize(("seed", "budget"), [(1, refresh.ROLLUP_FACTS), (2, refresh.ROLLUP_FACTS), (3, 7)])
async def test_rollup_answers_equal_fact_answers_on_shuffled_duplicated_input(
    events, seed, budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # budget 7: the days of a chunk are computed in many small groups, the busy ones alone
    monkeypatch.setattr(refresh, "ROLLUP_FACTS", budget)
    rnd = random.Random(seed)
    delivered = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(delivered)
    svc, store = await ingest(delivered, batch=rnd.randint(5, 60))
    assert store.rollups_by_day == {}  # nothing computed yet: the first query computes what it needs
    for start, end, period in RANGES:
        for offices in (list(OFFICES), ["demo-sud"]):
            expected = await by_facts(store, offices, start, end, period)
            assert await svc.indicators(offices, start, end, period) == expected, (start, end, period, offices)
    whole = await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "month")
    assert whole["network"]["total"]["volume"]["opened"] == 4 * 40
    assert whole["network"]["total"]["follow_up_coverage_pct"] is not None


async def test_rollups_follow_late_events_on_days_already_computed(events) -> None:
    # the first half of the stream, queried (rollups computed), then the rest, some of it about
    # days already rolled up, including days before the range asked (backlog)
    svc, store = await ingest(events[: len(events) // 2], batch=40)
    await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "week")
    computed = dict(store.rollups_by_day)
    assert computed
    late = events[len(events) // 2 :]
    for i in range(0, len(late), 40):
        await svc.apply(late[i : i + 40])
    for start, end, period in RANGES:
        expected = await by_facts(store, list(OFFICES), start, end, period)
        assert await svc.indicators(list(OFFICES), start, end, period) == expected
    assert any(store.rollups_by_day[k].gen != v.gen for k, v in computed.items())


async def test_refresh_computes_pending_days_ahead_of_queries(events) -> None:
    svc, store = await ingest(events, batch=100)
    assert svc.pending and not store.rollups_by_day
    await svc.refresh_rollups()
    assert not svc.pending
    assert set(store.rollups_by_day) == set(store.markers)
    assert all(store.rollups_by_day[k].gen == gen for k, gen in store.markers.items())
    computed = {k: r.gen for k, r in store.rollups_by_day.items()}
    expected = await by_facts(store, list(OFFICES), RANGE[0], RANGE[1], "month")
    assert await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "month") == expected
    # the query found every rollup fresh: none was computed again
    assert {k: r.gen for k, r in store.rollups_by_day.items()} == computed


async def test_a_rollup_written_from_older_facts_is_seen_as_stale(events) -> None:
    svc, store = await ingest(events, batch=100)
    await svc.refresh_rollups()
    reference = await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "month")
    # a concurrent instance that read an older marker writes its rollup last: wrong numbers, old gen
    key = max(store.rollups_by_day, key=lambda k: store.rollups_by_day[k].bucket.opened)
    stored = store.rollups_by_day[key]
    bucket = replace(stored.bucket, opened=stored.bucket.opened + 100)
    store.rollups_by_day[key] = replace(stored, bucket=bucket, gen="older")
    assert await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "month") == reference


def test_fact_groups_hold_about_the_budget_and_keep_the_order() -> None:
    members = {"a": ["x"] * 4, "b": ["x"] * 5, "c": [], "d": ["x"] * 12, "e": ["x"] * 3, "f": ["x"] * 7}
    days = ["a", "b", "c", "d", "e", "f", "g"]  # g: no member listed
    assert refresh.fact_groups(days, members, 10) == [["a", "b", "c"], ["d"], ["e", "f", "g"]]
    assert refresh.fact_groups(days, members, 1000) == [days]
    assert refresh.fact_groups([], members, 10) == []
