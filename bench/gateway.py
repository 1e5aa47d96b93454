"""Gateway intake rate: events accepted per second through ``POST /v1/events`` (batches of 100 and
single events, each answered only after Kafka acknowledged) against a raw aiokafka producer
sending the same events in the same run; p50/p99 latency of each request (or produce call)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from aiokafka import AIOKafkaProducer

from shared.bus import create_topics
from shared.events import CONTENT_TYPE, Topics

BOOTSTRAP = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BATCH_EVENTS = int(os.environ.get("BENCH_GATEWAY_EVENTS", "20000"))
SINGLE_EVENTS = int(os.environ.get("BENCH_GATEWAY_SINGLES", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_GATEWAY_CONCURRENCY", "8"))
OFFICE = "demo-nord"
KEY = "demo-nord-demo-key"


def event(i: int, run: str) -> bytes:
    request = f"REQ-{run}-{i:07d}"
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"bench-{run}-{i:09d}",
            "source": f"/offices/{OFFICE}/ikos",
            "type": "fr.canopee.request.opened.v1",
            "subject": request,
            "time": "2026-11-27T08:14:05+01:00",
            "officeid": OFFICE,
            "datacontenttype": "application/json",
            "data": {
                "request_id": request,
                "tenant_ref": f"T-{i % 5000:05d}",
                "category": "repair",
                "urgency": "U3",
                "channel": "phone",
                "summary": "Fuite sous l'évier de la cuisine, l'eau coule en continu depuis ce matin",
            },
        },
        ensure_ascii=False,
    ).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_concurrently(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            job = queue.pop()
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def report(name: str, events: int, seconds: float, latencies: list[float]) -> None:
    print(
        f"{name:<44} {events / seconds:>9.0f} events/s   p50 {pct(latencies, 0.5):7.1f} ms"
        f"   p99 {pct(latencies, 0.99):7.1f} ms   ({events} events, {len(latencies)} calls)",
        flush=True,
    )


async def raw_producer(topic: str, bodies: list[bytes], batch: int, concurrency: int) -> tuple[float, list[float]]:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    headers = [("content-type", CONTENT_TYPE.encode())]
    try:

        def job(chunk: list[bytes]) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                futures = [
                    await producer.send(topic, value=b, key=json.loads(b)["subject"].encode(), headers=headers)
                    for b in chunk
                ]
                await asyncio.gather(*futures)

            return send

        jobs = [job(bodies[i : i + batch]) for i in range(0, len(bodies), batch)]
        started = time.perf_counter()
        latencies = await run_concurrently(jobs, concurrency)
        return time.perf_counter() - started, latencies
    finally:
        await producer.stop()


async def through_gateway(url: str, bodies: list[bytes], batch: int, concurrency: int) -> tuple[float, list[float]]:
    # aiohttp: an httpx client costs several times more CPU per request, and the client shares
    # the machine's two cores with the gateway and Kafka
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=timeout) as client:

        def job(chunk: list[bytes]) -> Callable[[], Awaitable[None]]:
            content = chunk[0] if batch == 1 else b"[" + b",".join(chunk) + b"]"

            async def post() -> None:
                async with client.post("/v1/events", data=content, headers=headers) as response:
                    if response.status != 202:
                        text = await response.text()
                        raise RuntimeError(f"gateway answered {response.status}: {text[:200]}")
                    await response.read()

            return post

        jobs = [job(bodies[i : i + batch]) for i in range(0, len(bodies), batch)]
        started = time.perf_counter()
        latencies = await run_concurrently(jobs, concurrency)
        return time.perf_counter() - started, latencies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError("the gateway stopped during start-up")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the gateway was not ready in 20 s")


async def bench() -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}."
    await create_topics(BOOTSTRAP, [prefix + Topics.OFFICE_REQUESTS, f"{prefix}raw"], partitions=6)
    port = free_port()
    env = {
        **os.environ,
        "CANOPEE_KAFKA_BOOTSTRAP": BOOTSTRAP,
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_GATEWAY_PORT": str(port),
        "CANOPEE_GATEWAY_RATE_PER_SECOND": "1000000",
        "CANOPEE_GATEWAY_RATE_BURST": "1000000",
        "CANOPEE_LOG_LEVEL": "WARNING",
    }
    # the gateway in its own process, as in production (one uvicorn worker)
    process = subprocess.Popen([sys.executable, "-m", "tools.cli", "run", "gateway"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process)
        print(f"gateway: 1 process, client concurrency {CONCURRENCY}, 6 partitions, acks=all, idempotent", flush=True)
        for label, batch, count in (("batches of 100", 100, BATCH_EVENTS), ("single events", 1, SINGLE_EVENTS)):
            bodies = [event(i, f"{run}{batch}") for i in range(count)]
            seconds, latencies = await raw_producer(f"{prefix}raw", bodies, batch, CONCURRENCY)
            report(f"raw aiokafka producer, {label}", count, seconds, latencies)
            bodies = [event(i, f"{run}g{batch}") for i in range(count)]
            seconds, latencies = await through_gateway(url, bodies, batch, CONCURRENCY)
            report(f"gateway POST /v1/events, {label}", count, seconds, latencies)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    asyncio.run(bench())


if __name__ == "__main__":
    main()
