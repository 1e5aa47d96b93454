"""Consume rate: raw aiokafka + json.loads versus the project's plumbing (FastStream batch
subscriber, contract validation, commit after the handler), on the same 100k events in one run."""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.bus import create_topics
from shared.events import CONTENT_TYPE, CloudEvent, Topics, full_type
from shared.runtime import Runtime, tune_gc
from shared.settings import ServiceSettings, load_settings

COUNT = int(os.environ.get("BENCH_EVENTS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BOOTSTRAP = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
OFFICES = ["demo-nord", "demo-sud", "demo-est", "demo-ouest"]
CATEGORIES = ["repair", "repair", "repair", "heating_hot_water", "common_areas", "neighbourhood", "administrative"]


def realistic_events(n: int, rng: random.Random) -> list[bytes]:
    out = []
    for i in range(n):
        office = rng.choice(OFFICES)
        request = f"REQ-{i // 4:07d}"
        kind = ("request.opened", "request.assigned", "repair.done", "request.closed")[i % 4]
        data: dict[str, object] = {"request_id": request}
        if kind == "request.opened":
            data |= {
                "tenant_ref": f"T-{rng.randrange(10**6):06d}",
                "category": rng.choice(CATEGORIES),
                "urgency": rng.choice(["U1", "U2", "U3", "U3", "U3"]),
                "channel": rng.choice(["phone", "web", "app"]),
                "summary": "Fuite sous l'évier de la cuisine, l'eau coule en continu depuis ce matin",
            }
        elif kind == "request.assigned":
            data |= {"assignee_kind": "contractor", "assignee_ref": "C-42", "assignee_name": "Plomberie Martin"}
        elif kind == "repair.done":
            data |= {"completed_by": "Plomberie Martin", "first_visit": True}
        else:
            data |= {"resolution": "resolved"}
        event = {
            "specversion": "1.0",
            "id": f"{office}-ikos-{i:09d}",
            "source": f"/offices/{office}/ikos",
            "type": full_type(kind),
            "subject": request,
            "time": "2026-11-27T08:14:05+01:00",
            "officeid": office,
            "datacontenttype": "application/json",
            "data": data,
        }
        out.append(json.dumps(event, ensure_ascii=False).encode())
    return out


async def produce(topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for value in values:
            key = json.loads(value)["subject"].encode()
            pending.append(
                await producer.send(topic, value=value, key=key, headers=[("content-type", CONTENT_TYPE.encode())])
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_consume(topic: str) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    await consumer.start()
    seen, started = 0, 0.0
    try:
        while seen < COUNT:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batch.values():
                if not started:
                    started = time.perf_counter()
                for record in records:
                    json.loads(record.value)
                    seen += 1
            if batch:
                await consumer.commit()
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def plumbing_consume(prefix: str, round_: int) -> float:
    # a fresh consumer group per round, so every round reads the whole topic
    settings_class: type[ServiceSettings] = type(
        f"BenchSettings{round_}", (ServiceSettings,), {"service": f"bench-bus-{round_}"}
    )
    settings = load_settings(settings_class, topic_prefix=prefix, kafka_bootstrap=BOOTSTRAP)
    rt = Runtime.create(settings)
    state = {"seen": 0, "started": 0.0}
    done = asyncio.Event()

    async def handler(events: Sequence[CloudEvent]) -> None:
        if not state["started"]:
            state["started"] = time.perf_counter()
        state["seen"] += len(events)
        if state["seen"] >= COUNT:
            done.set()

    rt.consume("bench", [Topics.OFFICE_REQUESTS], handler)
    await rt.broker.start()  # no store needed: the handler only counts
    try:
        await asyncio.wait_for(done.wait(), 600)
        return time.perf_counter() - state["started"]
    finally:
        await rt.stop()


async def main() -> None:
    tune_gc()  # the services' collector settings, for both sides of the comparison
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topic = prefix + Topics.OFFICE_REQUESTS
    await create_topics(BOOTSTRAP, [topic], partitions=6)
    values = realistic_events(COUNT, random.Random(7))
    size = sum(len(v) for v in values) / len(values)
    t0 = time.perf_counter()
    await produce(topic, values)
    print(f"produced {COUNT} events (avg {size:.0f} bytes) in {time.perf_counter() - t0:.1f}s")
    raws, plumbings = [], []
    for round_ in range(ROUNDS):  # alternate, so both see the same machine load
        raws.append(COUNT / await raw_consume(topic))
        plumbings.append(COUNT / await plumbing_consume(prefix, round_))
        print(f"round {round_ + 1}: raw {raws[-1]:8.0f}/s  plumbing {plumbings[-1]:8.0f}/s", flush=True)
    raw_rate, plumbing_rate = statistics.median(raws), statistics.median(plumbings)
    print(f"raw aiokafka + json.loads      : {raw_rate:10.0f} events/s (median of {ROUNDS})")
    print(f"plumbing (decode + validation) : {plumbing_rate:10.0f} events/s (median of {ROUNDS})")
    print(f"ratio plumbing/raw             : {plumbing_rate / raw_rate:10.2f} (goal >= 0.5)")
    print(f"max RSS of this process        : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
