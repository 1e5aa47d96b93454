"""Consumer lag of the services' consumer groups, measured from Kafka by the analytics service.

Neither the shared consumer metrics nor FastStream's middleware measure lag, so analytics asks
Kafka for each group's committed offsets and each partition's end offset and publishes
``canopee_consumer_lag{group, topic}`` (records not yet committed by the group). A partition the
group never committed is not counted (the group may not read that topic at all).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)


def lag_by_topic(
    committed: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int], prefix: str = ""
) -> dict[str, int]:
    """Records not yet committed, per topic (without ``prefix``), over the committed partitions."""
    lags: dict[str, int] = {}
    for tp, offset in committed.items():
        if offset < 0 or tp not in end:
            continue
        topic = tp.topic.removeprefix(prefix)
        lags[topic] = lags.get(topic, 0) + max(0, end[tp] - offset)
    return lags


class LagProbe:
    """Publishes the lag of ``groups`` (service names; group id = topic prefix + name)."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        groups: Sequence[str],
        registry: CollectorRegistry,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.options = dict(options or {})  # TLS / SASL (shared.kafka_security)
        self.prefix = prefix
        self.groups = list(groups)
        self.gauge = Gauge(
            "canopee_consumer_lag",
            "Records of a topic not yet committed by a service's consumer group.",
            ["group", "topic"],
            registry=registry,
        )
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.options)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, **self.options)
            await admin.start()
            try:
                await consumer.start()
            except Exception:
                await admin.close()
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def refresh(self) -> dict[str, dict[str, int]]:
        """Measure every group once and set the gauge; returns ``{group: {topic: lag}}``."""
        admin, consumer = await self._clients()
        result: dict[str, dict[str, int]] = {}
        for group in self.groups:
            offsets = await admin.list_consumer_group_offsets(self.prefix + group)
            committed = {tp: meta.offset for tp, meta in offsets.items()}
            end = await consumer.end_offsets(list(committed)) if committed else {}
            lags = lag_by_topic(committed, end, self.prefix)
            for topic, lag in lags.items():
                self.gauge.labels(group, topic).set(lag)
            result[group] = lags
        return result

    async def close(self) -> None:
        """Close the Kafka clients (idempotent)."""
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
