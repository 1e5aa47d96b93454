"""``canopee topics forget-consumed`` on real Kafka: the records every consuming group has
committed past are deleted once an erasure is among them; a group that is behind, or has read
nothing of a partition, keeps what it has not read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.bus import CONSUMED_TOPICS
from shared.events import CONTENT_TYPE, Topics, full_type
from tools.forget import forget_consumed

pytestmark = pytest.mark.integration


def event(kind: str, n: int, tenant: str = "T-forget") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{kind}-{n}",
            "source": "/offices/demo-nord/test",
            "type": full_type(kind),
            "subject": tenant,
            "time": "2026-12-01T10:00:00+00:00",
            "officeid": "demo-nord",
            "data": {"tenant_ref": tenant},
        }
    ).encode()


async def produce(kafka: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for value in values:  # one partition: the offsets are the order
            await producer.send_and_wait(topic, value, partition=0, headers=[("content-type", CONTENT_TYPE.encode())])
    finally:
        await producer.stop()


async def commit(kafka: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def starts(kafka: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.beginning_offsets(tps))
    finally:
        await consumer.stop()


async def test_records_every_group_read_are_forgotten_once_an_erasure_is_among_them(
    infra: dict[str, str], topics: str
) -> None:
    kafka, prefix = infra["kafka"], topics
    tenants = TopicPartition(f"{prefix}{Topics.OFFICE_TENANTS}", 0)
    requests = TopicPartition(f"{prefix}{Topics.OFFICE_REQUESTS}", 0)
    sla = TopicPartition(f"{prefix}{Topics.TICKETING_SLA}", 0)
    await produce(kafka, tenants.topic, [event("tenant.contact_updated", n) for n in range(3)])
    await produce(kafka, requests.topic, [event("request.opened", n) for n in range(5)])
    await produce(kafka, sla.topic, [event("sla.breached", n) for n in range(2)])
    # every group has read office.tenants (3) and office.requests (5), but notifications only 2 of
    # office.requests; nobody has committed anything on ticketing.sla
    for service, read in CONSUMED_TOPICS.items():
        offsets = {tenants: 3}
        if Topics.OFFICE_REQUESTS in read:
            offsets[requests] = 2 if service == "notifications" else 5
        await commit(kafka, f"{prefix}{service}", offsets)

    # no erasure among what every group read: nothing goes
    cuts, erasures, deleted = await forget_consumed(kafka, prefix, {})
    assert (erasures, deleted) == (0, False)
    assert await starts(kafka, [tenants, requests, sla]) == {tenants: 0, requests: 0, sla: 0}
    planned = {(c.topic, c.partition): (c.start, c.safe, c.end) for c in cuts}
    assert planned[(Topics.OFFICE_REQUESTS, 0)] == (0, 2, 5)
    assert planned[(Topics.TICKETING_SLA, 0)] == (0, 0, 2)

    # the erasure, read by every group: what every group read goes, nothing more
    await produce(kafka, tenants.topic, [event("tenant.erased", 9)])
    for service, read in CONSUMED_TOPICS.items():
        await commit(kafka, f"{prefix}{service}", {tenants: 4})
    dry = await forget_consumed(kafka, prefix, {}, dry_run=True)
    assert dry[1:] == (1, False)
    assert (await starts(kafka, [tenants]))[tenants] == 0
    _, erasures, deleted = await forget_consumed(kafka, prefix, {})
    assert (erasures, deleted) == (1, True)
    assert await starts(kafka, [tenants, requests, sla]) == {tenants: 4, requests: 2, sla: 0}

    # what is left is read as before, from the new start
    left = await read_all(kafka, [requests])
    assert [json.loads(v)["id"] for v in left] == [f"request.opened-{n}" for n in range(2, 5)]


async def read_all(kafka: str, tps: list[TopicPartition]) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                values += [r.value for records in batch.values() for r in records]
        return values
    finally:
        await consumer.stop()
