"""Tracker benchmark: the tenant's tracker page (``GET /t/{token}``) served by ticketing's router
with 100,000 requests stored (``CANOPEE_BENCH_TRACKER_STORED`` to change it), requests per second
and p99 latency through the ASGI stack, against a baseline of the same app answering a fixed page
of the same size (routing and rendering without the store), measured in the same run. Runs
against the real MongoDB-wire store (``CANOPEE_MONGO_URL``); Kafka is not needed (the page reads
the store only)."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from prometheus_client import CollectorRegistry

from services.ticketing.api import tracker_router
from services.ticketing.domain.requests import Fact
from services.ticketing.domain.views import request_key
from services.ticketing.handlers import TicketingService
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.store import (
    EVENTS,
    INDEXES,
    TRACKERS,
    MongoAlertRepository,
    MongoRequestRepository,
    MongoTrackerRepository,
    fact_doc,
)
from shared.events import CloudEvent
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.store import ensure_indexes, make_client
from shared.tracker import token_digest, tracker_token

STORED = 100_000
REQUESTS = 500
CONCURRENCY = 16
CHUNK = 1_000
SECRET = "bench-tracker-secret-0123456789"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class NullPublisher:
    async def publish(self, events: Iterable[CloudEvent]) -> None:
        return None


def _facts(i: int) -> list[Fact]:
    opened = NOW - timedelta(hours=1 + i % 200)
    slot = NOW + timedelta(days=1 + i % 5)
    return [
        Fact(f"o-{i}", "request.opened", opened, {"tenant_ref": f"T-{i}", "category": "repair", "urgency": "U3"}),
        Fact(f"a-{i}", "request.assigned", opened + timedelta(minutes=20), {"assignee_kind": "contractor"}),
        Fact(
            f"s-{i}",
            "appointment.scheduled",
            opened + timedelta(minutes=40),
            {
                "appointment_id": f"A-{i}",
                "slot_start": slot.isoformat(),
                "slot_end": (slot + timedelta(hours=2)).isoformat(),
            },
        ),
    ]


async def _load(db: object, n: int) -> None:
    events, links = db[EVENTS], db[TRACKERS]  # type: ignore[index]
    for start in range(0, n, CHUNK):
        ids = range(start, min(start + CHUNK, n))
        await events.insert_many(
            [fact_doc(request_key("demo-nord", f"B-{i}"), f) for i in ids for f in _facts(i)], ordered=False
        )
        await links.insert_many(
            [
                {
                    "_id": token_digest(tracker_token(SECRET, "demo-nord", f"B-{i}")),
                    "office": "demo-nord",
                    "request_id": f"B-{i}",
                    "tenant_ref": f"T-{i}",
                }
                for i in ids
            ],
            ordered=False,
        )


async def _drive(client: httpx.AsyncClient, paths: list[str], want: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(paths)

    async def worker() -> None:
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == want, (path, response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


async def main() -> None:
    mongo = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
    n = int(os.environ.get("CANOPEE_BENCH_TRACKER_STORED", STORED))
    client = make_client(mongo)
    name = f"bench_tracker_{uuid.uuid4().hex[:8]}"
    db = client[name]
    try:
        await ensure_indexes(db, INDEXES)
        started = time.perf_counter()
        await _load(db, n)
        print(f"stored {n:,} requests (3 events and a tracker link each) in {time.perf_counter() - started:.1f} s")
        service = TicketingService(
            offices=load_offices(DEMO_OFFICES_FILE),
            requests=MongoRequestRepository(db),
            alerts=MongoAlertRepository(db),
            publisher=NullPublisher(),
            metrics=TicketingMetrics.create(CollectorRegistry()),
            clock=lambda: NOW,
            trackers=MongoTrackerRepository(db),
            tracker_secret=SECRET,
        )
        app = FastAPI()
        app.include_router(tracker_router(lambda: service))
        sample_page = await service.tracker(tracker_token(SECRET, "demo-nord", "B-0"))
        assert sample_page is not None
        from services.ticketing.page import tracker_html

        fixed = tracker_html(sample_page)

        @app.get("/baseline")
        async def baseline() -> HTMLResponse:
            return HTMLResponse(fixed)

        rnd = random.Random(7)
        pages = [f"/t/{tracker_token(SECRET, 'demo-nord', f'B-{rnd.randrange(n)}')}" for _ in range(REQUESTS)]
        forged = [f"/t/{tracker_token('forged-secret-0123456789', 'demo-nord', f'B-{i}')}" for i in range(REQUESTS)]
        # in process through the ASGI transport: the app and the store are measured, not the sockets
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracker", timeout=30) as http:
            runs: list[tuple[str, Callable[[], Awaitable[tuple[float, list[float]]]]]] = [
                ("baseline: fixed page", lambda: _drive(http, ["/baseline"] * REQUESTS, 200)),
                ("tracker page", lambda: _drive(http, pages, 200)),
                ("forged token (404)", lambda: _drive(http, forged, 404)),
            ]
            await _drive(http, pages[:100], 200)  # warm-up
            base_rps = 0.0
            for label, run in runs:
                elapsed, latencies = await run()
                rps = len(latencies) / elapsed
                base_rps = base_rps or rps
                print(
                    f"{label:24s} {rps:8.0f} req/s  p99 {_p99(latencies):7.1f} ms  "
                    f"({rps / base_rps:.2f}× baseline; {REQUESTS} requests, {CONCURRENCY} concurrent)"
                )
    finally:
        await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
