"""Where accepted events go: Kafka (the real adapter) or a list (the in-memory one for unit tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.events import CONTENT_TYPE

log = logging.getLogger("canopee.gateway.producer")

HEADERS = [("content-type", CONTENT_TYPE.encode())]


@dataclass(frozen=True)
class Record:
    """One record to produce: topic (prefixed), key (the event's subject) and the event's JSON."""

    topic: str
    key: bytes
    value: bytes


class Unavailable(Exception):
    """Kafka did not acknowledge in time (unreachable, or no leader): the request is answered 503."""


class EventSink(Protocol):
    async def send(self, records: Sequence[Record]) -> None:
        """Return once every record is acknowledged; raise ``Unavailable`` otherwise."""

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass
class KafkaSink:
    """An idempotent ``acks=all`` producer, connected lazily: the gateway starts (and answers 503)
    while Kafka is unreachable, and reconnects at most once per ``reconnect_seconds``."""

    bootstrap: str
    timeout: float
    reconnect_seconds: float = 1.0
    linger_ms: int = 5
    clock: Callable[[], float] = time.monotonic
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
                client_id="canopee-gateway",
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
        producer = await self._connected()

        async def produce_all() -> None:
            futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=HEADERS) for r in records]
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
class MemorySink:
    """In-memory sink for unit tests; ``down`` makes it behave like an unreachable Kafka."""

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
