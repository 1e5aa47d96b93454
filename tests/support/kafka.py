"""Test helpers around a real Kafka broker: topics, producing raw records, reading a topic."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.bus import all_topics, create_topics
from shared.events import CloudEvent, to_record
from shared.producer import KafkaProducer, Record


async def create_all_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    await create_topics(bootstrap, all_topics(prefix), partitions=partitions)


async def produce(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Produce raw (key, value, headers) records, e.g. ones that break the contract."""
    producer = KafkaProducer(bootstrap, timeout=30.0, client_id="canopee-tests")
    try:
        await producer.send([Record(topic, k, v, h) for k, v, h in records])
    finally:
        await producer.close()


async def produce_events(bootstrap: str, prefix: str, events: list[CloudEvent]) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]] = {}
    for event in events:
        by_topic.setdefault(prefix + event.topic, []).append(to_record(event))
    for topic, records in by_topic.items():
        await produce(bootstrap, topic, records)


async def read_topic(
    bootstrap: str, topic: str, *, expect: int | None = None, timeout: float = 20.0, settle: float = 0.0
) -> list[ConsumerRecord[Any, Any]]:
    """Read ``topic`` from the beginning until ``expect`` records arrived (or ``timeout``), then
    keep listening ``settle`` seconds more to catch records that should not be there."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
            if expect is not None and len(records) >= expect:
                break
        if settle:
            end = time.monotonic() + settle
            while time.monotonic() < end:
                for part in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(part)
    finally:
        await consumer.stop()
    return records
