"""Producing to Kafka: the one path by which events and records leave a process.

A record is built once, by ``shared.events.to_record`` (key = the event's subject, the structured
JSON value, the ``content-type`` header); ``send`` returns once Kafka acknowledged every record of
the call (idempotent producer, ``acks=all``), as docs/ARCHITECTURE.md requires of every producer.
Records are handed to the client one after the other and their acknowledgements awaited together,
so a call of many records travels in a few batches (``linger_ms``).

Two connections carry records, the same way:

- ``KafkaProducer``: its own aiokafka producer, connected lazily; used by the gateway (which must
  start and answer 503 while Kafka is unreachable) and by the operator tools.
- ``BrokerProducer``: a consuming service's FastStream broker, whose connection the service already
  holds and whose publish metrics (``faststream_published_messages_total``) the transport dashboard
  reads; used by ``shared.bus.Publisher``.

``MemoryProducer`` is the in-memory twin for unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from shared.events import CloudEvent, to_record

log = logging.getLogger("canopee.producer")


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce: topic (prefixed), key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


def record_of(event: CloudEvent, prefix: str = "", value: bytes | None = None) -> Record:
    """The record of ``event`` on its topic (with the topic ``prefix``); ``value``: the event's
    JSON when it is already serialized (the gateway produces the text it validated)."""
    key, json_value, headers = to_record(event, value)
    return Record(prefix + event.topic, key, json_value, headers)


class Unavailable(Exception):
    """Kafka did not acknowledge in time (unreachable, or no leader): nothing can be promised."""


class Producer(Protocol):
    """Where records go: ``send`` returns once every record is acknowledged, else raises."""

    async def send(self, records: Sequence[Record]) -> None: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass
class KafkaProducer:
    """An idempotent ``acks=all`` producer with its own connection, made at the first use: a process
    starts while Kafka is unreachable, and tries to connect again at most once per
    ``reconnect_seconds``. Failures and acknowledgements later than ``timeout`` raise ``Unavailable``."""

    bootstrap: str
    timeout: float
    reconnect_seconds: float = 1.0
    linger_ms: int = 5
    client_id: str = "canopee"
    clock: Callable[[], float] = time.monotonic
    #: connection options (``shared.kafka_security.client_options``): TLS, SASL
    options: Mapping[str, Any] = field(default_factory=dict)
    _producer: AIOKafkaProducer | None = None
    _failed_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _connected(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is not None:
                return self._producer
            if self._failed_at is not None and self.clock() - self._failed_at < self.reconnect_seconds:
                raise Unavailable("Kafka was unreachable moments ago")
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=self.linger_ms,
                request_timeout_ms=max(1000, int(self.timeout * 1000)),
                client_id=self.client_id,
                **self.options,
            )
            try:
                await asyncio.wait_for(producer.start(), self.timeout)
            except (KafkaError, OSError, TimeoutError) as exc:
                self._failed_at = self.clock()
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("Kafka unreachable: %s", type(exc).__name__)
                raise Unavailable(f"Kafka unreachable ({type(exc).__name__})") from exc
            self._failed_at = None
            self._producer = producer
            return producer

    async def send(self, records: Sequence[Record]) -> None:
        if not records:
            return
        producer = await self._connected()

        async def produce_all() -> None:
            futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in records]
            await asyncio.gather(*futures)

        try:
            await asyncio.wait_for(produce_all(), self.timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("produce failed: %s", type(exc).__name__)
            raise Unavailable(f"Kafka did not acknowledge ({type(exc).__name__})") from exc

    async def ready(self) -> bool:
        try:
            producer = await self._connected()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 1.5)
        except (Unavailable, KafkaError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


@dataclass
class BrokerProducer:
    """Records produced through a service's FastStream broker (connected and stopped by the
    service's runtime, with the broker's delivery settings: see ``shared.bus.make_broker``)."""

    broker: KafkaBroker

    async def send(self, records: Sequence[Record]) -> None:
        pending = [
            await self.broker.publish(
                r.value or b"",
                topic=r.topic,
                key=r.key,
                headers={name: value.decode() for name, value in r.headers},
                no_confirm=True,
            )
            for r in records
        ]
        if pending:
            await asyncio.gather(*pending)

    async def ready(self) -> bool:
        return bool(await self.broker.ping(1.5))

    async def close(self) -> None:
        return None  # the broker belongs to the runtime


@dataclass
class MemoryProducer:
    """In-memory twin for unit tests: keeps what was sent; ``down`` behaves like an unreachable Kafka."""

    records: list[Record] = field(default_factory=list)
    down: bool = False

    async def send(self, records: Sequence[Record]) -> None:
        if self.down:
            raise Unavailable("Kafka unreachable (simulated)")
        self.records.extend(records)

    async def ready(self) -> bool:
        return not self.down

    async def close(self) -> None:
        return None
