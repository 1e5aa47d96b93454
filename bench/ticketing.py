"""Ticketing benchmark: events applied per second by one instance against a raw baseline of the
same number of plain upserts into the same store, and the cost of an SLA sweep over many open
requests. Runs against the real MongoDB-wire store (``CANOPEE_MONGO_URL``); Kafka is not needed
(the consumer's transport is measured elsewhere)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from pymongo import UpdateOne

from services.ticketing.handlers import TicketingService
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.store import (
    ALERTS,
    INDEXES,
    REQUESTS,
    UPDATE_CHUNK,
    MongoAlertRepository,
    MongoRequestRepository,
    slot_name,
)
from shared.events import CloudEvent, full_type, parse_event, short_type
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.store import ensure_indexes, make_client

REQUESTS_APPLIED = 500  # × 5 events each
BATCH = 500  # the consumer's max_records
OPEN_REQUESTS = 100_000
SWEEP_DUE = 200  # requests past a threshold in one sweep
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class NullPublisher:
    async def publish(self, events: Iterable[CloudEvent]) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


def _event(n: int, kind: str, request_id: str, minutes: int, data: dict[str, Any]) -> CloudEvent:
    return parse_event(
        json.dumps(
            {
                "specversion": "1.0",
                "id": f"bench-{n}",
                "source": "/offices/demo-nord/ikos",
                "type": full_type(kind),
                "subject": request_id,
                "time": (T0 + timedelta(minutes=minutes)).isoformat(),
                "officeid": "demo-nord",
                "data": {"request_id": request_id, **data},
            }
        )
    )


def lifecycle_events(requests: int, prefix: str) -> list[CloudEvent]:
    """Five events per request, interleaved across requests as a busy topic delivers them."""
    steps = [
        ("request.opened", {"tenant_ref": "T-1", "category": "repair", "urgency": "U3", "channel": "phone"}),
        ("request.assigned", {"assignee_kind": "contractor", "assignee_ref": "C-1"}),
        ("request.on_hold", {"reason": "parts_ordered"}),
        ("request.resumed", {}),
        ("repair.done", {}),
    ]
    events = []
    n = 0
    for step, (kind, data) in enumerate(steps):
        for r in range(requests):
            n += 1
            events.append(_event(n, kind, f"{prefix}-{r:06d}", step * 10, data))
    return events


def service(db: Any, clock: Clock, sweep_batch: int = 1000) -> TicketingService:
    return TicketingService(
        offices=load_offices(DEMO_OFFICES_FILE),
        requests=MongoRequestRepository(db),
        alerts=MongoAlertRepository(db),
        publisher=NullPublisher(),
        metrics=TicketingMetrics.create(CollectorRegistry()),
        clock=clock,
        sweep_batch=sweep_batch,
    )


async def main() -> None:
    url = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
    client = make_client(url)
    name = f"bench_ticketing_{uuid.uuid4().hex[:8]}"
    db = client[name]
    try:
        for index in INDEXES:
            await ensure_indexes(db, [index])
        clock = Clock()
        svc = service(db, clock)
        events = lifecycle_events(REQUESTS_APPLIED, "APPLY")
        n = len(events)

        started = time.perf_counter()
        for i in range(0, n, BATCH):
            await svc.apply(events[i : i + BATCH])
        applied_rate = n / (time.perf_counter() - started)

        raw = db["raw_baseline"]
        started = time.perf_counter()
        for event in events:
            await raw.update_one(
                {"_id": f"{event.officeid}|{event.subject}"},
                {"$set": {"last_event": event.id, "type": event.type, "time": event.time}},
                upsert=True,
            )
        raw_rate = n / (time.perf_counter() - started)

        raw_bulk = db["raw_bulk_baseline"]
        started = time.perf_counter()
        for i in range(0, n, UPDATE_CHUNK):  # the same chunking the service must use on FerretDB
            await raw_bulk.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"{e.officeid}|{e.subject}"},
                        {"$set": {"last_event": e.id, "type": e.type, "time": e.time}},
                        upsert=True,
                    )
                    for e in events[i : i + UPDATE_CHUNK]
                ],
                ordered=False,
            )
        raw_bulk_rate = n / (time.perf_counter() - started)

        print(f"events applied: {n} ({REQUESTS_APPLIED} requests × 5), batches of {BATCH}")
        print(f"  ticketing apply        {applied_rate:10.0f} events/s")
        print(f"  raw upserts, one by one {raw_rate:9.0f} upserts/s   ratio {applied_rate / raw_rate:.2f}")
        print(f"  raw upserts, bulk of 50 {raw_bulk_rate:9.0f} upserts/s   ratio {applied_rate / raw_bulk_rate:.2f}")

        # --- sweeper: many open requests, only some past a threshold -------------------------
        # the open requests are loaded as projections directly (insert_many in batches): applying
        # 100k openings through the service would take most of the time budget
        projections = db[REQUESTS]
        filler = []
        for i in range(OPEN_REQUESTS - SWEEP_DUE):
            # next thresholds spread over the coming month, as in an office's open backlog
            next_check = T0 + timedelta(days=1, seconds=(i * 26) % (30 * 86_400))
            filler.append(
                {
                    "_id": f"demo-nord|OPEN-{i:06d}",
                    "office": "demo-nord",
                    "request_id": f"OPEN-{i:06d}",
                    "n_events": 1,
                    "state": "open",
                    "category": "repair",
                    "urgency": "U3",
                    "breached": False,
                    "at_risk": False,
                    "next_check_at": next_check,
                    "due_slot": slot_name(next_check),
                }
            )
        started = time.perf_counter()
        for i in range(0, len(filler), 5000):
            await projections.insert_many(filler[i : i + 5000], ordered=False)
        fill_seconds = time.perf_counter() - started
        due_events = [e for e in lifecycle_events(SWEEP_DUE, "DUE") if short_type(e.type) == "request.opened"]
        for i in range(0, len(due_events), BATCH):
            await svc.apply(due_events[i : i + BATCH])
        total_open = await projections.count_documents({"state": {"$ne": "closed"}})
        first_due = min(
            [
                d["next_check_at"]
                async for d in projections.find({"request_id": {"$regex": "^DUE-"}}, {"next_check_at": 1})
            ]
        )

        async def tick(at: datetime) -> tuple[int, float]:
            clock.now = at
            started = time.perf_counter()
            swept = await svc.sweep()
            return swept, time.perf_counter() - started

        # no sweep recorded yet: one date-range read over every projection
        first, first_seconds = await tick(first_due - timedelta(seconds=60))
        idle, idle_seconds = await tick(first_due - timedelta(seconds=30))
        swept, due_seconds = await tick(first_due + timedelta(seconds=1))
        after, after_seconds = await tick(first_due + timedelta(seconds=31))
        alerts = await db[ALERTS].count_documents({})
        print(f"sweeper with {total_open} open requests (loaded by insert_many in {fill_seconds:.1f}s)")
        print(f"  first tick (date range) {first_seconds * 1000:8.1f} ms ({first} recomputed)")
        print(f"  tick with nothing due   {idle_seconds * 1000:8.1f} ms ({idle} recomputed)")
        print(
            f"  tick with {swept} due      {due_seconds * 1000:8.1f} ms "
            f"({due_seconds / max(swept, 1) * 1000:.2f} ms per request, {alerts} alerts recorded)"
        )
        print(f"  next tick, nothing due  {after_seconds * 1000:8.1f} ms ({after} recomputed)")
    finally:
        await client.drop_database(name)
        await client.close()
