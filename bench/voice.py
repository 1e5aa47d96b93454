"""Tenants' words benchmark: ``GET /v1/voice`` against ``canopee run feedback`` on loopback with the
local Kafka and MongoDB-wire store (``CANOPEE_KAFKA_BOOTSTRAP``, ``CANOPEE_MONGO_URL``), with
100,000 entries stored (``CANOPEE_BENCH_VOICE_ENTRIES``) over the four demo offices and a year.

Prints, in the same run: the list of an office's last 30 days (office token, newest 100) and the
same list filtered (``status=new&score_max=2``), requests per second and p50/p99 (``wrk`` when
installed, else an httpx loop); the store call alone first (``FeedbackMongoStore.voices``, one client),
a ``find_one`` by ``_id`` as the store's baseline, and ``GET /health/live`` as the HTTP baseline of
the same server. ``_CONCURRENCY`` (4), ``_SECONDS`` (5 per measure).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.feedback import free_port, pct
from services.feedback.domain.voice import VoiceKind, VoiceQuery, VoiceStatus
from services.feedback.store import INDEXES, VOICE, FeedbackMongoStore
from shared.bus import all_topics, create_topics
from shared.store import ensure_indexes, make_client

BOOTSTRAP = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MONGO = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
ENTRIES = int(os.environ.get("CANOPEE_BENCH_VOICE_ENTRIES", "100000"))
CONCURRENCY = int(os.environ.get("CANOPEE_BENCH_VOICE_CONCURRENCY", "4"))
SECONDS = int(os.environ.get("CANOPEE_BENCH_VOICE_SECONDS", "5"))
ADMIN_TOKEN = "bench-admin-token-" + uuid.uuid4().hex
SECRET = "bench-form-secret-" + uuid.uuid4().hex
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
OFFICE_TOKEN = "demo-nord-demo-key"
CATEGORIES = ("repair", "common_areas", "heating_hot_water", "neighbourhood", "other")
TEXTS = (
    "Toujours pas d'eau chaude, merci de rappeler",
    "Technicien très poli et efficace",
    "Personne n'est venu au rendez-vous",
    "Merci pour la rapidité",
    "Le hall est encore sale",
)


async def seed(db: Any, n: int, now: datetime) -> None:
    """``n`` entries over the offices and the last 365 days, written in bulk (not measured)."""
    rnd = random.Random(7)
    batch: list[dict[str, Any]] = []
    for i in range(n):
        office = OFFICES[i % len(OFFICES)]
        at = now - timedelta(seconds=rnd.randrange(365 * 86_400))
        score = rnd.choice((None, 1, 2, 3, 4, 5))
        batch.append(
            {
                "_id": f"VOX-BENCH-{i:07d}",
                "day": f"{office}|{at.date().isoformat()}",
                "office": office,
                "tenant_ref": f"T-B{i % 20_000:06d}",
                "kind": rnd.choice(list(VoiceKind)).value,
                "channel": rnd.choice(("sms", "web", "email")),
                "text": rnd.choice(TEXTS),
                "at": at,
                "score": score,
                "request_id": f"REQ-BENCH-{i:07d}" if rnd.random() < 0.6 else None,
                "survey_id": None,
                "campaign_id": None,
                "category": rnd.choice(CATEGORIES),
                "status": VoiceStatus.HANDLED.value if rnd.random() < 0.5 else VoiceStatus.NEW.value,
                "handled_at": None,
                "action": None,
            }
        )
        if len(batch) == 1000:
            await db[VOICE].insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db[VOICE].insert_many(batch, ordered=False)


def wrk(url: str, token: str | None) -> str:
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{SECONDS}s", "--timeout", "30s", "--latency", *headers, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    per_second = float(rate.group(1)) if rate else 0.0
    return f"{per_second:.0f} req/s, p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'} (wrk)"


async def http_loop(url: str, token: str | None) -> str:
    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return (
        f"{len(latencies) / SECONDS:.0f} req/s, p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms (httpx)"
    )


async def store_loop(call: Callable[[], Awaitable[int]]) -> str:
    latencies: list[float] = []
    rows = 0
    deadline = time.perf_counter() + SECONDS
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        rows = await call()
        latencies.append(time.perf_counter() - started)
    return (
        f"{len(latencies) / SECONDS:.0f} calls/s, p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms ({rows} rows)"
    )


async def run() -> None:
    run_id = uuid.uuid4().hex[:8]
    prefix, database, port = f"bvx{run_id}.", f"bvx{run_id}_feedback", free_port()
    base = f"http://127.0.0.1:{port}"
    await create_topics(BOOTSTRAP, all_topics(prefix), partitions=3)
    mongo = make_client(MONGO, timeout_ms=30_000)
    db = mongo[database]
    env = os.environ | {
        "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANOPEE_FEEDBACK_FORM_SECRET": SECRET,
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": base,
        "CANOPEE_FEEDBACK_PORT": str(port),
        "CANOPEE_FEEDBACK_MONGO_DB": database,
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CANOPEE_MONGO_URL": MONGO,
    }
    now = datetime.now(UTC)
    await ensure_indexes(db, INDEXES)
    started = time.perf_counter()
    await seed(db, ENTRIES, now)
    seeded = time.perf_counter() - started
    print(f"seeded {ENTRIES} entries over {len(OFFICES)} offices and 365 days in {seeded:.1f} s")
    print("machine load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    store = FeedbackMongoStore(db)
    query = VoiceQuery(since=now - timedelta(days=30), until=now, office="demo-nord")
    filtered = VoiceQuery(
        since=now - timedelta(days=30), until=now, office="demo-nord", status=VoiceStatus.NEW, score_max=2
    )

    async def one_by_id() -> int:
        return int(await db[VOICE].find_one({"_id": "VOX-BENCH-0000042"}) is not None)

    async def listed_store(q: VoiceQuery) -> int:
        return len(await store.voices(q, OFFICES))

    print(f"store baseline, find_one by _id, one client: {await store_loop(one_by_id)}", flush=True)
    print(f"store, voices() newest 100 of 30 days, one client: {await store_loop(lambda: listed_store(query))}")
    print(f"store, voices() new with score <= 2: {await store_loop(lambda: listed_store(filtered))}", flush=True)
    server = subprocess.Popen([sys.executable, "-m", "tools.cli", "run", "feedback"], env=env)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    if (await client.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        listed = httpx.get(f"{base}/v1/voice", headers={"Authorization": f"Bearer {OFFICE_TOKEN}"}, timeout=60)
        listed.raise_for_status()
        in_window = await db[VOICE].count_documents({"office": "demo-nord", "at": {"$gte": now - timedelta(days=30)}})
        print(f"an office's last 30 days: {in_window} entries stored, the list returns the newest {len(listed.json())}")
        measure = wrk if shutil.which("wrk") else None
        cases = (
            ("GET /health/live (baseline)", f"{base}/health/live", None),
            ("GET /v1/voice, office token, 30 days", f"{base}/v1/voice", OFFICE_TOKEN),
            ("GET /v1/voice?status=new&score_max=2", f"{base}/v1/voice?status=new&score_max=2", OFFICE_TOKEN),
        )
        for label, url, token in cases:
            figure = measure(url, token) if measure else await http_loop(url, token)
            print(f"{label}, {CONCURRENCY} connections, {SECONDS} s: {figure}", flush=True)
    finally:
        server.terminate()
        server.wait(30)
        await mongo.drop_database(database)
        await mongo.close()


def main() -> Any:
    """Entry point of ``python -m bench voice``."""
    return run()


if __name__ == "__main__":
    asyncio.run(run())
