"""Notifications benchmark: messages decided and handed to the SMS provider per second by one
instance (provider on loopback) against two baselines of the same run: one ``insert_one`` per
message of the log document the service keeps of its decision, and
the same number of plain HTTP POSTs to the same local SMS API; then end-to-end latency from
``request.opened`` produced to the SMS received by the provider at a steady rate; then decisions
alone (requests of a Sunday: every message decided and deferred, none sent) against the same
``insert_one`` baseline (the goal: at least half of it), and the Monday 08:00 dispatch of those deferred messages.

Sizes: ``CANOPEE_BENCH_NOTIF_COUNT`` (backlog, default 1500), ``CANOPEE_BENCH_NOTIF_RATE``
(events/s, default 200, the issue's steady rate), ``CANOPEE_BENCH_NOTIF_SECONDS`` (default 20) and
``CANOPEE_BENCH_NOTIF_BURST`` (messages deferred from a Sunday to Monday 08:00, then dispatched;
default 1000). ``CANOPEE_BENCH_NOTIF_TRACE=1`` also prints when the backlog's SMS arrived and the CPU
time the benchmark process spent on it. The local SMS API runs in a process of its own, as a
provider does (``CANOPEE_BENCH_NOTIF_PROVIDER=inline``: in the benchmark's process, beside the
service, as the earlier figures were measured).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import socket
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer

from services.notifications.app import create_app
from services.notifications.providers import sms_session
from services.notifications.settings import NotificationsSettings
from shared.bus import all_topics, create_topics
from shared.events import CONTENT_TYPE, full_type
from shared.settings import load_settings
from shared.store import make_client
from tests.support.http import running

from .sms_provider import sms_provider

OFFICE = "demo-nord"
#: a Friday morning, inside the SMS window, so nothing is deferred
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
#: a Sunday (no SMS to tenants) and the Monday opening its messages are deferred to
SUNDAY = datetime(2026, 11, 29, 11, 0, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, 1, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(kind: str, subject: str, data: dict[str, Any], n: int, tag: str, at: datetime = NOW) -> tuple[bytes, bytes]:
    event = {
        "specversion": "1.0",
        "id": f"bench-{tag}-{kind}-{n}",
        "source": f"/offices/{OFFICE}/bench",
        "type": full_type(kind),
        "subject": subject,
        "time": (at - timedelta(minutes=1)).isoformat(),
        "officeid": OFFICE,
        "data": data,
    }
    return subject.encode(), json.dumps(event).encode()


def _contact(n: int, tag: str) -> tuple[bytes, bytes]:
    tenant = f"T-{tag}-{n}"
    phone = f"+336{n % 100_000_000:08d}"
    return _event(
        "tenant.contact_updated", tenant, {"tenant_ref": tenant, "phone": phone, "preferred_channel": "sms"}, n, tag
    )


def _opened(n: int, tag: str, at: datetime = NOW) -> tuple[bytes, bytes]:
    request = f"R-{tag}-{n}"
    data = {"request_id": request, "tenant_ref": f"T-{tag}-{n}", "category": "repair", "channel": "web"}
    return _event("request.opened", request, data, n, tag, at)


async def _produce(producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    headers = [("content-type", CONTENT_TYPE.encode())]
    futures = [await producer.send(topic, value=v, key=k, headers=headers) for k, v in records]
    await asyncio.gather(*futures)


async def _deferred(client: httpx.AsyncClient, port: int) -> float:
    """Messages the service decided and deferred so far (its ``canopee_notifications_total``).
    One client for the whole poll: a client made per call costs a TLS context each time, CPU
    taken from the service measured in the same process."""
    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("canopee_notifications_total{") and 'outcome="deferred"' in line
    )


async def run() -> None:
    count = int(os.environ.get("CANOPEE_BENCH_NOTIF_COUNT", "1500"))
    rate = float(os.environ.get("CANOPEE_BENCH_NOTIF_RATE", "200"))
    seconds = float(os.environ.get("CANOPEE_BENCH_NOTIF_SECONDS", "20"))
    burst = int(os.environ.get("CANOPEE_BENCH_NOTIF_BURST", "1000"))
    tag = secrets.token_hex(4)
    prefix = f"bench{tag}."
    inline = os.environ.get("CANOPEE_BENCH_NOTIF_PROVIDER", "process") == "inline"
    sms_port = _port()
    settings = load_settings(
        NotificationsSettings,
        topic_prefix=prefix,
        mongo_db=f"bench_{tag}_notifications",
        admin_token=secrets.token_hex(16),
        port=_port(),
        sms_base_url=f"http://127.0.0.1:{sms_port}",
        sms_rate_per_second=100_000,
        dispatch_seconds=30.0,  # the sweep scans the log: keep it out of the measured path
    )
    await create_topics(settings.kafka_bootstrap, all_topics(prefix), partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    mongo = make_client(settings.mongo_url)
    try:
        async with sms_provider(sms_port, inline=inline) as sms:
            where = "in the benchmark's process" if inline else "in a process of its own"
            print(f"local SMS API {where} (CANOPEE_BENCH_NOTIF_PROVIDER={'inline' if inline else 'process'})")
            # baseline: the same number of plain POSTs to the local SMS API, one after the other,
            # with the HTTP client the service uses
            async with sms_session(settings.sms_base_url, 10) as session:
                started = time.perf_counter()
                for n in range(count):
                    body = {"to": "+33600000000", "from": "x", "text": "x" * 120, "reference": f"b{n}"}
                    async with session.post("messages", json=body) as answer:
                        await answer.read()
                baseline = count / (time.perf_counter() - started)
            await sms.clear()

            total = count + int(rate * seconds)
            await _produce(producer, settings.topic("office.tenants"), [_contact(n, tag) for n in range(total)])
            contacts = mongo[settings.database]["contacts"]
            async with running(create_app(settings, clock=lambda: NOW), settings.http_port):
                while await contacts.count_documents({}) < total:
                    await asyncio.sleep(0.2)
                # throughput: a backlog of request.opened, decided and handed to the provider
                cpu = time.process_time()
                started = time.perf_counter()
                await _produce(producer, settings.topic("office.requests"), [_opened(n, tag) for n in range(count)])
                await sms.wait(count, 300)
                elapsed = time.perf_counter() - started
                throughput = len(sms.received) / elapsed
                if os.environ.get("CANOPEE_BENCH_NOTIF_TRACE"):
                    first = sms.arrivals[0] - started
                    steps = [
                        round(sms.arrivals[min(len(sms.arrivals) - 1, k)] - started, 2)
                        for k in range(0, count, count // 10)
                    ]
                    print(f"trace: first SMS after {first:.2f} s; every tenth: {steps}")
                    print(f"trace: CPU of this process {time.process_time() - cpu:.2f} s in {elapsed:.2f} s")
                print(f"notifications, one instance (decide + SMS API):   {throughput:8.0f} msg/s  ({count} messages)")
                print(f"baseline (plain HTTP POSTs to the local SMS API): {baseline:8.0f} req/s")
                print(f"ratio to the POSTs                                {throughput / baseline:8.2f}")

                # the steady phase starts once the backlog's outcomes are recorded too (their
                # updates would otherwise still be queued in front of the first steady messages)
                log = mongo[settings.database]["notifications"]
                while await log.count_documents({"status": "sent"}) < count:
                    await asyncio.sleep(0.1)

                # latency at a steady rate
                await sms.clear()
                produced: dict[str, float] = {}
                n = count
                tick = 0.05
                per_tick = max(1, round(rate * tick))
                start = time.monotonic()
                while n < total:
                    batch = [_opened(i, tag) for i in range(n, min(total, n + per_tick))]
                    sent_at = time.monotonic()
                    await _produce(producer, settings.topic("office.requests"), batch)
                    for i in range(n, n + len(batch)):
                        produced[f"R-{tag}-{i}"] = sent_at
                    n += len(batch)
                    delay = start + (n - count) / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                achieved = (n - count) / (time.monotonic() - start)
                await sms.wait(total - count, 120)
            latencies = []
            for body, arrived in zip(sms.received, sms.arrivals, strict=True):
                request = next(word for word in body["text"].split() if word.startswith(f"R-{tag}-"))
                latencies.append((arrived - produced[request]) * 1000)
            latencies.sort()
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(
                f"end-to-end request.opened -> SMS received at {achieved:.0f} events/s for {seconds:.0f} s: "
                f"p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(latencies)} messages)"
            )
            # Monday-morning burst: requests opened on a Sunday are deferred to Monday 08:00; the
            # clock then reaches Monday 08:00 and the dispatcher sends them all
            await sms.clear()
            first = total
            await _produce(
                producer, settings.topic("office.tenants"), [_contact(n, tag) for n in range(first, first + burst)]
            )
            clock = {"now": SUNDAY}
            burst_settings = settings.model_copy(update={"dispatch_seconds": 0.5})
            async with running(create_app(burst_settings, clock=lambda: clock["now"]), settings.http_port):
                while await contacts.count_documents({}) < first + burst:
                    await asyncio.sleep(0.2)
                opened = [_opened(n, tag, SUNDAY) for n in range(first, first + burst)]
                # decisions alone: on a Sunday every message is decided and deferred, none sent
                async with httpx.AsyncClient() as poll:
                    decided_started = time.perf_counter()
                    await _produce(producer, settings.topic("office.requests"), opened)
                    # counted by the service's own metric (a count of the log would scan it: FerretDB)
                    while await _deferred(poll, settings.http_port) < burst:
                        await asyncio.sleep(0.05)
                    decisions = burst / (time.perf_counter() - decided_started)
                while await log.count_documents({"status": "pending"}) < burst:
                    await asyncio.sleep(0.2)
                clock["now"] = MONDAY_OPENING
                started = time.perf_counter()
                await sms.wait(burst, 600)
                elapsed = time.perf_counter() - started
            print(
                f"Monday 08:00 burst: {len(sms.received)} deferred SMS dispatched in {elapsed:.1f} s "
                f"= {len(sms.received) / elapsed:.0f} msg/s"
            )
            # the goal's baseline, same run: one insert_one per message of the document the
            # service keeps of its decision (copies of the backlog's own log entries)
            kept = await log.find({}).limit(count).to_list()
            single = mongo[settings.database]["single_baseline"]
            started = time.perf_counter()
            for doc in kept:
                await single.insert_one(doc)
            written = len(kept) / (time.perf_counter() - started)
            print(
                f"baseline (insert_one of each message's log document): {written:8.0f} docs/s ({len(kept)} documents)"
            )
            print(f"ratio decided and sent / insert_one:                  {throughput / written:8.2f}")
            print(f"decisions alone (deferred to Monday, {burst} messages): {decisions:8.0f} msg/s")
            print(f"ratio decisions / insert_one (goal >= 0.5):           {decisions / written:8.2f}")
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"max RSS of this process (service{' + local SMS API' if inline else ''} + producer): {rss:.0f} MB")
    finally:
        await producer.stop()
        await mongo.drop_database(settings.database)
        await mongo.close()


def main() -> Any:
    return run()


if __name__ == "__main__":
    asyncio.run(run())
