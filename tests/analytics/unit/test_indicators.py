"""Indicators from a generated multi-office dataset, through the handler and an in-memory store:
equal to the values computed from the generation plan, whatever the order and duplicates."""

from __future__ import annotations

import random

import pytest

from services.analytics.domain.indicators import nearest_rank, periods
from services.analytics.handlers import Analytics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.analytics.support import assert_campaign, assert_totals
from tests.support.analytics_dataset import OFFICES, RANGE, generate, opened_by_month

OFFICES_CONFIG = load_offices(DEMO_OFFICES_FILE)


async def ingest(events: list, batch: int = 50) -> Analytics:
    svc = Analytics(OFFICES_CONFIG, MemoryAnalyticsStore())
    for i in range(0, len(events), batch):
        await svc.apply(events[i : i + batch])
    return svc


@pytest.fixture(scope="module")
def dataset():
    return generate(per_office=60, seed=11)


async def test_indicators_match_the_plan(dataset) -> None:
    svc = await ingest(dataset.cloud_events())
    result = await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "month")
    for office in OFFICES:
        assert_totals(dataset, result["offices"][office]["total"], office)
        months = {p["period"]: p["volume"]["opened"] for p in result["offices"][office]["periods"]}
        assert {m: n for m, n in months.items() if n} == opened_by_month(dataset, office)
        assert_campaign(dataset, result["offices"][office]["campaigns"], office, "camp-2026")
    assert_totals(dataset, result["network"]["total"], None)
    assert_campaign(dataset, result["network"]["campaigns"], None, "camp-2026")


async def test_shuffled_and_duplicated_delivery_gives_identical_numbers(dataset) -> None:
    events = dataset.cloud_events()
    reference = await (await ingest(events)).indicators(list(OFFICES), RANGE[0], RANGE[1], "week")
    rnd = random.Random(3)
    for _ in range(2):
        shuffled = events + rnd.sample(events, len(events) // 3)
        rnd.shuffle(shuffled)
        svc = await ingest(shuffled, batch=rnd.randint(7, 90))
        assert await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "week") == reference


async def test_redelivering_everything_changes_nothing(dataset) -> None:
    events = dataset.cloud_events()
    svc = await ingest(events)
    before = await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "day")
    for i in range(0, len(events), 100):
        await svc.apply(events[i : i + 100])
    assert await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "day") == before


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([5.0], 90) == 5.0
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert nearest_rank([float(i) for i in range(1, 11)], 90) == 9.0
    assert nearest_rank([float(i) for i in range(1, 12)], 90) == 10.0


def test_periods_cover_the_range_and_clip() -> None:
    from datetime import date

    weeks = periods(date(2026, 3, 4), date(2026, 3, 20), "week")
    assert [w[0] for w in weeks] == ["2026-W10", "2026-W11", "2026-W12"]
    assert weeks[0][1] == date(2026, 3, 4) and weeks[-1][2] == date(2026, 3, 20)
    assert len(periods(date(2026, 1, 1), date(2026, 12, 31), "month")) == 12
    assert len(periods(date(2026, 1, 1), date(2026, 12, 31), "day")) == 365
