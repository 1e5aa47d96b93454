"""Rollups on the real store (FerretDB/MongoDB): indicators (and contractor figures) from rollups
equal those computed from the stored facts, after a shuffled, partly duplicated delivery and after
late events, and two instances sharing the store agree."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.analytics.domain.indicators import Query, compute
from services.analytics.handlers import Analytics
from services.analytics.settings import AnalyticsSettings
from services.analytics.store import INDEXES, MongoAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.store import ensure_indexes, make_client
from tests.support.analytics_dataset import OFFICES, RANGE, generate
from tests.support.contractor_dataset import check
from tests.support.contractor_dataset import expected as contractor_expected
from tests.support.contractor_dataset import generate as contractor_history

pytestmark = pytest.mark.integration

OFFICES_CONFIG = load_offices(DEMO_OFFICES_FILE)
ZONES = {o.id: o.tz for o in OFFICES_CONFIG.office}


async def test_rollups_equal_facts_on_the_real_store(make_settings) -> None:
    settings = make_settings(AnalyticsSettings)
    client = make_client(settings.mongo_url, timeout_ms=10_000)
    db = client[settings.mongo_db]
    try:
        await ensure_indexes(db, INDEXES)
        store = MongoAnalyticsStore(db)
        first = Analytics(OFFICES_CONFIG, store)
        second = Analytics(OFFICES_CONFIG, MongoAnalyticsStore(db))
        events = generate(per_office=10, seed=31, prefix="rs").cloud_events()
        rnd = random.Random(4)
        delivered = events + rnd.sample(events, len(events) // 4)
        rnd.shuffle(delivered)
        half = len(delivered) // 2
        for i in range(0, half, 60):
            await first.apply(delivered[i : i + 60])
        await first.refresh_rollups()
        mid = RANGE[0] + timedelta(days=15)
        await first.indicators(list(OFFICES), mid, RANGE[1], "week")
        # the rest through another instance: days the first one rolled up change under it
        for i in range(half, len(delivered), 60):
            await second.apply(delivered[i : i + 60])
        facts = await store.facts(list(OFFICES))
        for start, end, period in ((RANGE[0], RANGE[1], "month"), (mid, mid + timedelta(days=20), "day")):
            query = Query(start=start, end=end, period=period, offices=list(OFFICES), tz=ZONES)  # type: ignore[arg-type]
            expected = compute(query, facts)
            assert await first.indicators(list(OFFICES), start, end, period) == expected
            assert await second.indicators(list(OFFICES), start, end, period) == expected
        whole = await first.indicators(list(OFFICES), RANGE[0], RANGE[1], "month")
        assert whole["network"]["total"]["volume"]["opened"] == 4 * 10
    finally:
        await client.drop_database(settings.mongo_db)
        await client.close()


async def test_contractor_figures_from_rollups_on_the_real_store(make_settings) -> None:
    """The contractor share of the rollups on the real store, two instances, shuffled and
    duplicated delivery with the requests' openings and assignments last: the plan's figures, and
    the document the fact scan gives."""
    settings = make_settings(AnalyticsSettings)
    client = make_client(settings.mongo_url, timeout_ms=10_000)
    db = client[settings.mongo_db]
    ids = tuple(OFFICES_CONFIG.ids[:2])
    month = (date(2026, 3, 1), date(2026, 3, 31))
    try:
        await ensure_indexes(db, INDEXES)
        first = Analytics(OFFICES_CONFIG, MongoAnalyticsStore(db), contractor_min_repairs=8)
        second = Analytics(OFFICES_CONFIG, MongoAnalyticsStore(db), contractor_min_repairs=8)
        history = contractor_history(ids, month[0], per_office=60, seed=12, prefix="cr")
        events = history.cloud_events()
        rnd = random.Random(6)
        late_types = ("fr.canopee.request.opened.v1", "fr.canopee.request.assigned.v1")
        early = [e for e in events if e.type not in late_types]
        late = [e for e in events if e.type in late_types]
        early += rnd.sample(early, len(early) // 4)
        rnd.shuffle(early)
        rnd.shuffle(late)
        for i in range(0, len(early), 80):
            await first.apply(early[i : i + 80])
        await first.contractors.contractors(list(ids), *month)  # rolled up before the late events
        for i in range(0, len(late), 80):
            await second.apply(late[i : i + 80])
        result = await first.contractors.contractors(list(ids), *month)
        assert result == await second.contractors.scan_facts(list(ids), *month)
        for office in ids:
            check(result["offices"][office], contractor_expected(history, *month, office))
        check(result["network"], contractor_expected(history, *month, None))
        assert result["network"]["total"]["csat"]["ratings"] > 0
    finally:
        await client.drop_database(settings.mongo_db)
        await client.close()
