"""Analytics benchmark, against the real MongoDB-wire store (``CANOPEE_MONGO_URL``):

1. ingest: events applied per second by one instance (store the events, refold the touched
   facts, record their days, mark the days dirty) against, in the same run, a baseline of one
   ``insert_one`` per event of its document (the goal: at least half of it) and the raw bulk rate
   of ``insert_many`` of the same documents in batches of the same size; then the time to compute
   the rollups of every changed day, and a query over them;
2. query: latency of one office's indicators over one year with 200,000 requests. The stored
   documents are built in Python with the service's own code (``fold`` of generated events, then
   ``rollup`` of every office-day) and bulk-inserted: ingesting ~1M events through Kafka does not
   fit a benchmark of two minutes. The 200k requests are a generated base dataset cloned (ids
   suffixed), so every clone has its base's times and values.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.analytics.domain.facts import OfficeRules, fold
from services.analytics.domain.records import Fact, NotificationFact, RequestFact, StoredEvent, split_day_key
from services.analytics.domain.rollups import acknowledged_causes, rollup
from services.analytics.handlers import Analytics
from services.analytics.handlers.ingest import ROUTES
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.store import (
    DIRTY,
    FACT_DAYS,
    FACTS,
    INDEXES,
    NETS,
    ROLLUPS,
    MongoAnalyticsStore,
    event_document,
    fact_document,
    marker_document,
    member_document,
    net_document,
    rollup_document,
)
from shared.events import CloudEvent, short_type
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.settings import CommonSettings, load_settings
from shared.store import ensure_indexes, make_client
from tests.support.analytics_dataset import START, generate

INGEST_PER_OFFICE = 150  # × 4 offices ≈ 7,000 events
BATCH = 500  # the consumer's max_records
#: requests of one office over one year for the query benchmark: BASE_REQUESTS × CLONES
BASE_REQUESTS = 2_000
CLONES = 100
INSERT_CHUNK = 200
OFFICE = "demo-nord"


def kept(events: list[CloudEvent]) -> list[StoredEvent]:
    """What the service keeps of these events (through its routing table)."""
    out = []
    for event in events:
        kind = short_type(event.type)
        keeper = ROUTES.get(kind)
        if keeper is not None:
            out.append(keeper(event, kind))
    return out


async def ingest(url: str) -> None:
    offices = load_offices(DEMO_OFFICES_FILE)
    events = generate(per_office=INGEST_PER_OFFICE, seed=1, prefix="b").cloud_events()
    client = make_client(url, timeout_ms=10_000)
    db = client[f"bench_analytics_{uuid.uuid4().hex[:8]}"]
    try:
        await ensure_indexes(db, INDEXES)
        svc = Analytics(offices, MongoAnalyticsStore(db), AnalyticsMetrics.create(CollectorRegistry()))
        started = time.perf_counter()
        for i in range(0, len(events), BATCH):
            await svc.apply(events[i : i + BATCH])
        service_s = time.perf_counter() - started
        days = len(svc.pending)
        started = time.perf_counter()
        await svc.refresh_rollups()
        rollup_s = time.perf_counter() - started
        started = time.perf_counter()
        await svc.indicators(offices.ids, START, START + timedelta(days=120), "week")
        query_s = time.perf_counter() - started

        docs = [event_document(e) for e in kept(events)]
        raw = db["raw_baseline"]
        started = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            await raw.insert_many([dict(d) for d in docs[i : i + BATCH]], ordered=False)
        raw_s = time.perf_counter() - started
        # the goal's baseline: one insert_one per event of the document analytics must keep of it
        # (the event itself; its fact, days and dirty marks come on top)
        single = db["single_baseline"]
        started = time.perf_counter()
        for d in docs:
            await single.insert_one(dict(d))
        single_s = time.perf_counter() - started

        redelivery_started = time.perf_counter()
        for i in range(0, len(events), BATCH):
            await svc.apply(events[i : i + BATCH])
        redelivery_s = time.perf_counter() - redelivery_started
        n = len(events)
        print(f"ingest: {n} events of 4 offices, batches of {BATCH}")
        print(
            f"  service (store events, refold facts, days, dirty marks): {n / service_s:,.0f} events/s"
            f" ({service_s:.1f} s)"
        )
        print(f"  baseline, insert_one of each event's document: {len(docs) / single_s:,.0f} docs/s ({single_s:.1f} s)")
        print(f"  ratio service/insert_one: {single_s / service_s:.2f} (goal >= 0.5; same {len(docs)} kept events)")
        print(f"  raw bulk (insert_many of the same documents): {len(docs) / raw_s:,.0f} docs/s ({raw_s:.1f} s)")
        print(f"  ratio service/insert_many: {raw_s / service_s:.2f}")
        print(f"  full redelivery of the same events (all duplicates): {n / redelivery_s:,.0f} events/s")
        print(f"  rollups of the {days} changed office-days: {rollup_s:.1f} s ({rollup_s / days * 1000:,.0f} ms/day)")
        print(f"  then 4 offices, 17 weeks, by week: {query_s * 1000:,.0f} ms")
    finally:
        await client.drop_database(db.name)
        await client.close()


def _clone(fact: Fact, n: int) -> Fact:
    suffix = f"~{n}"
    if isinstance(fact, RequestFact) and fact.opened_event:
        return replace(fact, key=fact.key + suffix, opened_event=fact.opened_event + suffix)
    if isinstance(fact, NotificationFact) and fact.cause_id:
        return replace(fact, key=fact.key + suffix, cause_id=fact.cause_id + suffix)
    return replace(fact, key=fact.key + suffix)


async def query(url: str) -> None:
    offices = load_offices(DEMO_OFFICES_FILE)
    rules = OfficeRules.of(next(o for o in offices.office if o.id == OFFICE))
    started = time.perf_counter()
    ds = generate(per_office=BASE_REQUESTS, seed=2, prefix="q", days=365, offices=(OFFICE,))
    by_key: dict[str, list[StoredEvent]] = {}
    for event in kept(ds.cloud_events()):
        by_key.setdefault(event.key, []).append(event)
    base = [fold(key, evs, rules) for key, evs in by_key.items()]
    # the facts of each office-day, and the acknowledged ids, of all the clones
    per_day: dict[str, list[Fact]] = {}
    for fact in base:
        for iso_day in fact.days:
            per_day.setdefault(f"{OFFICE}|{iso_day}", []).append(fact)
    base_ack = acknowledged_causes(f for f in base if isinstance(f, NotificationFact))
    acknowledged = {f"{c}~{n}" for c in base_ack for n in range(CLONES)}
    rollups = []
    for key, facts in per_day.items():
        clones = [_clone(f, n) for f in facts for n in range(CLONES)]
        _, day = split_day_key(key)
        rollups.append(replace(rollup(OFFICE, day, clones, acknowledged, rules.tz), gen="bench"))
    prepared_s = time.perf_counter() - started
    client = make_client(url, timeout_ms=60_000)
    db = client[f"bench_analytics_{uuid.uuid4().hex[:8]}"]
    try:
        await ensure_indexes(db, INDEXES)
        started = time.perf_counter()
        for i in range(0, len(rollups), INSERT_CHUNK):
            chunk = rollups[i : i + INSERT_CHUNK]
            await db[ROLLUPS].insert_many([rollup_document(r) for r in chunk])
            await db[NETS].insert_many([net_document(r.as_net()) for r in chunk])
            await db[DIRTY].insert_many([marker_document(r.key, "bench") for r in chunk])
        load_s = time.perf_counter() - started
        store = MongoAnalyticsStore(db)
        svc = Analytics(offices, store)
        year = (START, START + timedelta(days=364))
        timings: dict[str, list[float]] = {"month": [], "day": [], "network": []}
        result: dict[str, Any] = {}
        for _ in range(3):
            for period in ("month", "day"):
                t0 = time.perf_counter()
                result = await svc.indicators([OFFICE], year[0], year[1], period)
                timings[period].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await svc.indicators(offices.ids, year[0], year[1], "month")
            timings["network"].append(time.perf_counter() - t0)
        total = result["offices"][OFFICE]["total"]
        size = sum(len(str(rollup_document(r))) for r in rollups) / len(rollups)

        # one day made stale: its facts (one clone set) and memberships stored, its marker renewed
        busiest = max(per_day, key=lambda k: len(per_day[k]))
        day_facts = [_clone(f, n) for f in per_day[busiest] for n in range(CLONES)]
        t0 = time.perf_counter()
        for i in range(0, len(day_facts), 2_000):
            await db[FACTS].insert_many([fact_document(f) for f in day_facts[i : i + 2_000]])
        members = [member_document(busiest, f.key) for f in day_facts]
        for i in range(0, len(members), 2_000):
            await db[FACT_DAYS].insert_many(members[i : i + 2_000])
        stale_load_s = time.perf_counter() - t0
        await store.mark_dirty([busiest], "new")
        t0 = time.perf_counter()
        stale_result = await svc.indicators([OFFICE], year[0], year[1], "month")
        stale_s = time.perf_counter() - t0
        recomputed = next(iter(await store.rollups([busiest])), None)

        print(
            f"query: one office, one year, {total['volume']['opened']:,} requests "
            f"({len(base) * CLONES:,} facts folded and rolled up into {len(rollups)} office-days in {prepared_s:.1f} s;"
        )
        print(f"  rollups ~{size / 1000:,.0f} kB each as text, bulk-loaded in {load_s:.1f} s)")
        for name, values in timings.items():
            label = {"month": "by month", "day": "by day", "network": "API shape (4 offices + network), by month"}[name]
            print(
                f"  {label}: median {statistics.median(values) * 1000:,.0f} ms (runs: "
                + ", ".join(f"{v * 1000:,.0f}" for v in values)
                + ")"
            )
        print(
            f"  with one stale day ({busiest}, {len(day_facts):,} facts, loaded in {stale_load_s:.1f} s): "
            f"{stale_s * 1000:,.0f} ms, gen {recomputed.gen if recomputed else None}, "
            f"same opened total: {stale_result['offices'][OFFICE]['total']['volume'] == total['volume']}"
        )
        print(
            f"  p90 first response {total['first_response']['p90_hours']} h"
            f" over {total['first_response']['n']:,} values"
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


async def run() -> None:
    settings = load_settings(CommonSettings)
    await ingest(settings.mongo_url)
    await query(settings.mongo_url)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
