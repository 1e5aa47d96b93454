"""Consumer lag measured from the real Kafka: records produced and committed by a group."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry, generate_latest

from services.analytics.lag import LagProbe
from tests.support.analytics_promtool import check_metrics
from tests.support.kafka import produce

pytestmark = pytest.mark.integration


async def test_lag_is_what_the_group_has_not_committed(infra, topics) -> None:
    topic = f"{topics}office.requests"
    await produce(infra["kafka"], topic, [(b"k", b"{}", []) for _ in range(10)])
    # the group "ticketing" of this test's prefix reads and commits 10 records, then 6 more arrive
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra["kafka"],
        group_id=f"{topics}ticketing",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 10:
            batch = await consumer.getmany(timeout_ms=2000)
            seen += sum(len(records) for records in batch.values())
        await consumer.commit()
    finally:
        await consumer.stop()
    await produce(infra["kafka"], topic, [(b"k", b"{}", []) for _ in range(6)])

    registry = CollectorRegistry()
    probe = LagProbe(infra["kafka"], topics, ["ticketing", "feedback"], registry)
    try:
        result = await probe.refresh()
    finally:
        await probe.close()
    assert result == {"ticketing": {"office.requests": 6}, "feedback": {}}
    exposition = generate_latest(registry).decode()
    assert 'canopee_consumer_lag{group="ticketing",topic="office.requests"} 6.0' in exposition
    check_metrics(exposition)
