"""Feedback benchmark: survey page GET and GET+POST per second with p50/p99 latency against a
``canopee run feedback`` process on loopback, and office ratings recorded per second through the
consumer. Run: ``python -m tests.feedback.bench_feedback`` (needs the local Kafka and store)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from pymongo import AsyncMongoClient

from services.feedback import domain
from services.feedback.store import INDEXES, SURVEYS, TOKENS
from shared.bus import all_topics, create_topics
from shared.events import CONTENT_TYPE, Topics
from shared.store import ensure_indexes
from tests.support.kafka import produce

BOOTSTRAP = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MONGO = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
SURVEYS_N = int(os.environ.get("BENCH_FEEDBACK_SURVEYS", "300"))
RATINGS_N = int(os.environ.get("BENCH_FEEDBACK_RATINGS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_FEEDBACK_CONCURRENCY", "16"))
SECRET = "bench-form-secret-" + "x" * 32
OFFICE = "demo-nord"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_surveys(db: object, n: int) -> list[str]:
    now = datetime.now(UTC)
    tokens, docs = [], []
    for i in range(n):
        survey_id = f"SRV-BENCH-{i:06d}"
        token = domain.survey_token(SECRET, survey_id)
        tokens.append(token)
        docs.append(
            {
                "_id": survey_id,
                "office": OFFICE,
                "request_id": f"REQ-BENCH-{i:06d}",
                "tenant_ref": f"T-B{i:06d}",
                "token_hash": domain.token_hash(token),
                "created_at": now,
                "expires_at": now + timedelta(days=14),
                "reminder_due_at": now + timedelta(days=3),
                "pending_reminder": True,
                "answered": False,
            }
        )
    for start in range(0, n, 500):
        await db[SURVEYS].insert_many(docs[start : start + 500])  # type: ignore[index]
        links = [{"_id": d["token_hash"], "survey_id": d["_id"]} for d in docs[start : start + 500]]
        await db[TOKENS].insert_many(links)  # type: ignore[index]
    return tokens


def wrk(url: str, seconds: int = 5) -> str:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    per_second = float(rate.group(1)) if rate else 0.0
    return f"{per_second:.0f} req/s, p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}"


async def answer_all(base: str, tokens: list[str]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            token = queue.get_nowait()
            started = time.perf_counter()
            form = await client.get(f"/s/{token}")
            field = re.search(r'name="form" value="([0-9a-f]+)"', form.text)
            assert field, form.status_code
            done = await client.post(
                f"/s/{token}", data={"form": field.group(1), "score": "4", "nps": "8"}, headers={"Origin": base}
            )
            assert "Merci" in done.text, done.status_code
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def rating(i: int, run: str) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    request = f"REQ-R{run}-{i:07d}"
    value = json.dumps(
        {
            "specversion": "1.0",
            "id": f"bench-{run}-{i:09d}",
            "source": f"/offices/{OFFICE}/ikos",
            "type": "fr.canopee.satisfaction.rated.v1",
            "subject": request,
            "time": "2026-11-27T08:14:05+01:00",
            "officeid": OFFICE,
            "data": {"request_id": request, "tenant_ref": f"T-{i:06d}", "score": 3 + i % 3, "channel": "phone"},
        }
    ).encode()
    return request.encode(), value, [("content-type", CONTENT_TYPE.encode())]


async def main() -> None:
    run = uuid.uuid4().hex[:8]
    prefix, database, port = f"bfb{run}.", f"bfb{run}_feedback", free_port()
    base = f"http://127.0.0.1:{port}"
    await create_topics(BOOTSTRAP, all_topics(prefix), partitions=3)
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGO, tz_aware=True)
    db = mongo[database]
    env = os.environ | {
        "CANOPEE_ADMIN_TOKEN": "bench-admin-token-0123456789",
        "CANOPEE_FEEDBACK_FORM_SECRET": SECRET,
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": base,
        "CANOPEE_FEEDBACK_PORT": str(port),
        "CANOPEE_FEEDBACK_MONGO_DB": database,
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "feedback"], env=env)
    try:
        await ensure_indexes(db, INDEXES)
        tokens = await seed_surveys(db, SURVEYS_N)
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        print(f"GET form page (wrk, {CONCURRENCY} connections, 5 s): {wrk(f'{base}/s/{tokens[-1]}')}")
        print(f"GET unknown link (wrk): {wrk(f'{base}/s/' + 'A' * 43, 5)}")
        elapsed, lat = await answer_all(base, tokens[:-1])
        print(
            f"GET+POST answers: {len(lat)} in {elapsed:.1f} s = {len(lat) / elapsed:.0f} answers/s, "
            f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms (GET + POST each)"
        )
        records = [rating(i, run) for i in range(RATINGS_N)]
        started = time.perf_counter()
        await produce(BOOTSTRAP, prefix + Topics.FEEDBACK_RATINGS, records)
        expected = len(lat) + RATINGS_N
        while await db["answers"].count_documents({}) < expected:
            if time.perf_counter() - started > 110:
                raise TimeoutError("ratings not all recorded in 110 s")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        print(f"office ratings through the consumer: {RATINGS_N} in {elapsed:.1f} s = {RATINGS_N / elapsed:.0f}/s")
    finally:
        server.terminate()
        server.wait(30)
        await mongo.drop_database(database)
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(main())
