"""Feedback benchmark, against ``canopee run feedback`` on loopback with the local Kafka and
MongoDB-wire store (``CANOPEE_KAFKA_BOOTSTRAP``, ``CANOPEE_MONGO_URL``):

1. survey page: ``GET /s/{token}`` per second with p50/p99 (``wrk`` when installed, else an httpx
   loop), and GET + POST answer pairs per second with p50/p99 (aiohttp, one client per worker so
   each keeps its anti-forgery cookie);
2. ratings recorded per second through the consumer (office ``satisfaction.rated`` produced to
   Kafka, counted in the store) against a raw baseline of plain inserts of the same documents, in
   the same run;
3. requests surveyed per second through the consumer (``request.opened`` then ``repair.done`` of
   each request produced to Kafka, counted as surveys in the store) against a raw baseline of
   single-document writes of what the service writes per request (its request, cap claim, survey,
   link, outbox event), in the same run;
4. campaign invitations sent per second by the pacing loop.

Sizes: ``CANOPEE_BENCH_FEEDBACK_SURVEYS`` (300), ``_RATINGS`` (5000), ``_REQUESTS`` (2000),
``_TENANTS`` (500), ``_CONCURRENCY`` (16), ``_SECONDS`` (5, per wrk run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx

from services.feedback import domain
from services.feedback.store import ANSWERS, INDEXES, SURVEYS, FeedbackMongoStore
from shared.bus import all_topics, create_topics
from shared.events import CONTENT_TYPE, Topics, full_type
from shared.store import ensure_indexes, make_client
from tests.support.kafka import produce
from tests.support.samples import sample

BOOTSTRAP = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MONGO = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
SURVEYS_N = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_SURVEYS", "300"))
RATINGS_N = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_RATINGS", "5000"))
REQUESTS_N = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_REQUESTS", "2000"))
TENANTS_N = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_TENANTS", "500"))
CONCURRENCY = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_CONCURRENCY", "16"))
SECONDS = int(os.environ.get("CANOPEE_BENCH_FEEDBACK_SECONDS", "5"))
ADMIN_TOKEN = "bench-admin-token-" + uuid.uuid4().hex
SECRET = "bench-form-secret-" + uuid.uuid4().hex
OFFICE = "demo-nord"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_surveys(store: FeedbackMongoStore, n: int) -> list[str]:
    """``n`` open surveys with their token links, written directly (not measured)."""
    now = datetime.now(UTC)
    tokens, surveys, links = [], [], []
    for i in range(n):
        survey_id, token = f"SRV-BENCH-{i:06d}", domain.new_token()
        tokens.append(token)
        surveys.append(
            domain.Survey(
                id=survey_id,
                office=OFFICE,
                request_id=f"REQ-BENCH-{i:06d}",
                tenant_ref=f"T-B{i:06d}",
                created_at=now,
                invited_at=now,
                invited=True,
                expires_at=now + domain.VALIDITY,
                reminder_due_at=now + domain.REMINDER_AFTER,
                pending_reminder=True,
            )
        )
        links.append(domain.Link(domain.token_hash(token), survey_id, OFFICE, ""))
    await store.add_surveys(surveys)
    for start in range(0, n, 500):
        await store.add_links(links[start : start + 500])
    return tokens


def wrk(url: str) -> str:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{SECONDS}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    per_second = float(rate.group(1)) if rate else 0.0
    return f"{per_second:.0f} req/s, p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'} (wrk)"


async def get_loop(url: str) -> str:
    """The same measure without wrk: CONCURRENCY clients for SECONDS."""
    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await client.get(url)
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return (
        f"{len(latencies) / SECONDS:.0f} req/s, p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms (httpx)"
    )


async def answer_all(base: str, tokens: list[str]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)

    async def worker() -> None:
        # aiohttp: an httpx client spends several ms of CPU per request, on the cores the service uses
        timeout = aiohttp.ClientTimeout(total=30)
        jar = aiohttp.CookieJar(unsafe=True)  # its own anti-forgery cookie (unsafe: the host is an IP address)
        async with aiohttp.ClientSession(base_url=base, timeout=timeout, cookie_jar=jar) as client:
            while not queue.empty():
                token = queue.get_nowait()
                started = time.perf_counter()
                async with client.get(f"/s/{token}") as form:
                    page = await form.text()
                field = re.search(r'name="form" value="([0-9a-f]+)"', page)
                assert field, form.status
                answer = {"form": field.group(1), "score": "4", "nps": "8"}
                async with client.post(f"/s/{token}", data=answer, headers={"Origin": base}) as done:
                    thanks = await done.text()
                assert "Merci" in thanks, done.status
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def rating(i: int, run: str) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    request = f"REQ-R{run}-{i:07d}"
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": f"bench-{run}-{i:09d}",
            "source": f"/offices/{OFFICE}/ikos",
            "type": full_type("satisfaction.rated"),
            "subject": request,
            "time": datetime.now(UTC).isoformat(),  # live: within the office's history horizon
            "officeid": OFFICE,
            "data": {"request_id": request, "tenant_ref": f"T-{i:06d}", "score": 3 + i % 3, "channel": "phone"},
        }
    ).encode()
    return request.encode(), value, [("content-type", CONTENT_TYPE.encode())]


async def raw_baseline(db: Any, n: int) -> tuple[float, float]:
    """Plain inserts of ``n`` answer-like documents: one at a time, then in batches of 500."""
    now = datetime.now(UTC)
    docs = [
        {"_id": f"raw|{i}", "office": OFFICE, "tenant_ref": f"T-{i:06d}", "score": 3, "channel": "phone", "at": now}
        for i in range(n)
    ]
    started = time.perf_counter()
    for doc in docs:
        await db["raw_one"].insert_one(dict(doc))
    one = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, n, 500):
        await db["raw_many"].insert_many([dict(d) for d in docs[start : start + 500]])
    many = n / (time.perf_counter() - started)
    return one, many


def request_events(i: int, run: str) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """``request.opened`` then ``repair.done`` of one request (keyed by the request: one partition)."""
    request, now = f"REQ-Q{run}-{i:07d}", datetime.now(UTC)  # live: within the office's history horizon
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
    for kind, data, at in (
        ("request.opened", {"tenant_ref": f"T-Q{i:06d}"}, now - timedelta(hours=1)),
        ("repair.done", {}, now),
    ):
        event = sample(kind, request_id=request, **data)
        event |= {"id": f"bench-{run}-{kind}-{i:09d}", "subject": request, "time": at.isoformat()}
        record = (request.encode(), json.dumps(event).encode(), [("content-type", CONTENT_TYPE.encode())])
        records.append(record)
    return records


async def raw_request_baseline(db: Any, n: int) -> float:
    """Requests per second written the plainest way: per request, one ``insert_one`` of each
    document the service writes for it (request, cap claim, survey, link, outbox event)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(n):
        who = {"office": OFFICE, "tenant_ref": f"T-RAW{i:06d}"}
        await db["raw_requests"].insert_one({"_id": f"{OFFICE}|RAW-{i}", "request_id": f"RAW-{i}", **who, "at": now})
        await db["raw_cap_claims"].insert_one(who | {"week": 1, "survey_id": f"SRV-RAW-{i}"})
        await db["raw_surveys"].insert_one({"_id": f"SRV-RAW-{i}", **who, "created_at": now, "invited": True})
        await db["raw_tokens"].insert_one({"_id": f"token-{i}", "survey_id": f"SRV-RAW-{i}", **who})
        await db["raw_outbox"].insert_one({"_id": f"event-{i}", "event": "{}" * 200, "at": now})
    return n / (time.perf_counter() - started)


async def run() -> None:
    run_id = uuid.uuid4().hex[:8]
    prefix, database, port = f"bfb{run_id}.", f"bfb{run_id}_feedback", free_port()
    base = f"http://127.0.0.1:{port}"
    await create_topics(BOOTSTRAP, all_topics(prefix), partitions=3)
    mongo = make_client(MONGO, timeout_ms=10_000)
    db = mongo[database]
    env = os.environ | {
        "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANOPEE_FEEDBACK_FORM_SECRET": SECRET,
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": base,
        "CANOPEE_FEEDBACK_PORT": str(port),
        "CANOPEE_FEEDBACK_MONGO_DB": database,
        "CANOPEE_FEEDBACK_CAMPAIGN_RATE": "200",
        "CANOPEE_FEEDBACK_CAMPAIGN_TICK_SECONDS": "0.2",
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CANOPEE_MONGO_URL": MONGO,
    }
    server = subprocess.Popen([sys.executable, "-m", "tools.cli", "run", "feedback"], env=env)
    try:
        await ensure_indexes(db, INDEXES)
        store = FeedbackMongoStore(db)
        tokens = await seed_surveys(store, SURVEYS_N)
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        measure = wrk if shutil.which("wrk") else None
        form_url, unknown_url = f"{base}/s/{tokens[-1]}", f"{base}/s/" + "A" * 32
        for label, url in (("GET form page", form_url), ("GET unknown link", unknown_url)):
            figure = measure(url) if measure else await get_loop(url)
            print(f"{label}, {CONCURRENCY} connections, {SECONDS} s: {figure}", flush=True)
        elapsed, lat = await answer_all(base, tokens[:-1])
        print(
            f"GET + POST answers, {CONCURRENCY} clients: {len(lat)} in {elapsed:.1f} s = {len(lat) / elapsed:.0f} "
            f"answers/s, p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms per pair",
            flush=True,
        )

        records = [rating(i, run_id) for i in range(RATINGS_N)]
        expected = await db[ANSWERS].count_documents({}) + RATINGS_N
        started = time.perf_counter()
        await produce(BOOTSTRAP, prefix + Topics.FEEDBACK_RATINGS, records)
        while await db[ANSWERS].count_documents({}) < expected:
            if time.perf_counter() - started > 100:
                raise TimeoutError("ratings not all recorded in 100 s")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        one, many = await raw_baseline(db, RATINGS_N)
        rated = RATINGS_N / elapsed
        print(
            f"office ratings through the consumer: {RATINGS_N} in {elapsed:.1f} s = {rated:.0f}/s; "
            f"raw baseline insert_one {one:.0f}/s, insert_many(500) {many:.0f}/s; "
            f"ratings/s / insert_one/s = {rated / one:.2f} (goal >= 0.5)",
            flush=True,
        )

        records = [r for i in range(REQUESTS_N) for r in request_events(i, run_id)]
        expected = await db[SURVEYS].count_documents({}) + REQUESTS_N
        started = time.perf_counter()
        await produce(BOOTSTRAP, prefix + Topics.OFFICE_REQUESTS, records)
        while await db[SURVEYS].count_documents({}) < expected:
            if time.perf_counter() - started > 300:
                raise TimeoutError("requests not all surveyed in 300 s")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        one = await raw_request_baseline(db, REQUESTS_N)
        surveyed = REQUESTS_N / elapsed
        print(
            f"requests surveyed through the consumer (opened + repair.done each): {REQUESTS_N} in {elapsed:.1f} s "
            f"= {surveyed:.0f} requests/s ({2 * surveyed:.0f} events/s); raw baseline of single-document "
            f"writes (5 per request) {one:.0f} requests/s; requests/s / raw requests/s = {surveyed / one:.2f}",
            flush=True,
        )

        phone = domain.TenantContact(preferred_none=False, has_phone=True, has_email=False)
        await asyncio.gather(*(store.set_contact(OFFICE, f"T-C{i:06d}", phone) for i in range(TENANTS_N)))
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        closes = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        async with httpx.AsyncClient(base_url=base, headers=admin, timeout=60) as client:
            created = (
                await client.post("/v1/campaigns", json={"title": "Bench", "offices": [OFFICE], "closes_at": closes})
            ).json()
            started = time.perf_counter()
            await client.post(f"/v1/campaigns/{created['id']}/open")
            while (await client.get(f"/v1/campaigns/{created['id']}")).json()["invited"] < TENANTS_N:
                if time.perf_counter() - started > 100:
                    raise TimeoutError("campaign not sent in 100 s")
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
        print(
            f"campaign: {TENANTS_N} tenants selected and invited in {elapsed:.1f} s = {TENANTS_N / elapsed:.0f} "
            "invitations/s (pacing 200 per 0.2 s tick)",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(30)
        await mongo.drop_database(database)
        await mongo.close()


def main() -> Any:
    """Entry point of ``python -m bench feedback``."""
    return run()


if __name__ == "__main__":
    asyncio.run(run())
