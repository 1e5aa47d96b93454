"""Rollups on the real store (FerretDB/MongoDB): indicators from rollups equal indicators computed
from the stored facts, after a shuffled, partly duplicated delivery and after late events, and two
instances sharing the store agree."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.analytics.domain.indicators import Query, compute
from services.analytics.handlers import Analytics
from services.analytics.settings import AnalyticsSettings
from services.analytics.store import INDEXES, MongoAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.store import ensure_indexes, make_client
from tests.support.analytics_dataset import OFFICES, RANGE, generate

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
