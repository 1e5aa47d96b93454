"""Kafka plumbing shared by every service.

Delivery rules (docs/ARCHITECTURE.md): the offset is committed only after the handler's effects are
durable (FastStream's default acknowledges first, so the policy is set here); the producer is
idempotent with ``acks=all``; a record that cannot be decoded, breaks the contract or fails
permanently goes to ``dlq.{group}`` with its reason and the partition moves on; a transient failure
(store or broker unreachable) is retried with bounded backoff, then the batch is handed back
uncommitted — never skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pymongo.errors import ConnectionFailure, PyMongoError

from shared.events import CloudEvent, InvalidEvent, Topics, from_record
from shared.kafka_security import broker_security
from shared.observability import ConsumerMetrics, correlation_var, event_id_var, mask_personal_data
from shared.privacy import redact_record
from shared.producer import Producer, Record, record_of
from shared.settings import CommonSettings

log = logging.getLogger("canopee.bus")

#: header names of a dead letter (the value and key are the original record's)
DLQ_TOPIC = "dlq-original-topic"
DLQ_PARTITION = "dlq-original-partition"
DLQ_OFFSET = "dlq-original-offset"
DLQ_ERROR = "dlq-error-class"
DLQ_REASON = "dlq-reason"
DLQ_GROUP = "dlq-group"

EventHandler = Callable[[Sequence[CloudEvent]], Awaitable[None]]


class Rejected(Exception):
    """Raised by a handler for an event that can never succeed: it goes to the DLQ with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    """Raised by a handler (or adapter) for a failure worth retrying, e.g. a provider timeout."""


def is_transient(exc: BaseException) -> bool:
    """Store or broker unreachable, timeouts: retry, never dead-letter."""
    if isinstance(exc, TransientError | ConnectionFailure | KafkaConnectionError | KafkaTimeoutError):
        return True
    if isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return True
    if isinstance(exc, KafkaError) and getattr(exc, "retriable", False):
        return True
    return isinstance(exc, TimeoutError | ConnectionError)


def make_broker(settings: CommonSettings, registry: CollectorRegistry | None = None, **kwargs: Any) -> KafkaBroker:
    """A broker with the project's delivery defaults: idempotent producer, ``acks=all``."""
    middlewares = (
        (KafkaPrometheusMiddleware(registry=registry, app_name=settings.service or "canopee"),)
        if registry is not None
        else ()
    )
    return KafkaBroker(
        # a list: FastStream hands a string to aiokafka as one server, "a:1,b:2" included
        [server.strip() for server in settings.kafka_bootstrap.split(",")],
        security=broker_security(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        client_id=f"canopee-{settings.service or 'cli'}",
        middlewares=middlewares,
        logger=logging.getLogger(f"canopee.{settings.service or 'cli'}.broker"),
        log_level=logging.DEBUG,  # one line per message is too much at INFO
        **kwargs,
    )


def membership(settings: CommonSettings) -> dict[str, Any]:
    """The consumer's group-membership arguments: static membership when the instance is named
    (``CANOPEE_KAFKA_GROUP_INSTANCE_ID``), the session timeout, and a heartbeat a third of it."""
    session_ms = int(settings.kafka_session_timeout_seconds * 1000)
    options: dict[str, Any] = {"session_timeout_ms": session_ms, "heartbeat_interval_ms": max(1000, session_ms // 3)}
    if settings.kafka_group_instance_id:
        options["group_instance_id"] = f"{settings.group}-{settings.kafka_group_instance_id}"
    return options


class Publisher:
    """Produces contract events through ``producer`` (records built by ``shared.producer.record_of``:
    key = subject, structured JSON, ``content-type`` header) and waits until Kafka acknowledged
    every one of them."""

    def __init__(self, producer: Producer, topic_prefix: str = "") -> None:
        self.producer = producer
        self.topic_prefix = topic_prefix

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        await self.producer.send([record_of(event, self.topic_prefix) for event in events])

    async def publish_raw(self, record: Record) -> None:
        """Produce a record as it is (a dead letter keeps the original value and key)."""
        await self.producer.send([record])


@dataclass
class Consumer:
    """Consumes contract events from ``topics`` in batches and applies them with ``handler``."""

    name: str
    topics: Sequence[str]
    handler: EventHandler
    settings: CommonSettings
    metrics: ConsumerMetrics
    publisher: Publisher
    #: events whose ``officeid`` is not one of these are dead-lettered (None: no check)
    known_offices: frozenset[str] | None = None
    #: event types this consumer wants; others on the same topics are skipped (None: all)
    types: frozenset[str] | None = None
    max_records: int = 500
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    @property
    def group(self) -> str:
        return self.settings.group

    def register(self, broker: KafkaBroker) -> None:
        """Subscribe on ``broker``: batch consumption, commit only after success."""
        subscriber = broker.subscriber(
            *(self.settings.topic(t) for t in self.topics),
            group_id=self.group,
            batch=True,
            max_records=self.max_records,
            batch_timeout_ms=100,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_skip_decoding,
            parser=_tolerant_headers,
            title=f"{self.name}",
            **membership(self.settings),
        )

        async def on_batch(_: Any, message: KafkaMessage = Context("message")) -> None:
            raw = message.raw_message
            await self.process(raw if isinstance(raw, tuple) else (raw,))

        subscriber(on_batch)

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Decode, validate, apply; dead-letter what can never succeed. Raises when a transient
        failure outlasted the retries, so the batch is not committed and comes back."""
        self.metrics.batch_size.labels(self.group).observe(len(records))
        accepted: list[tuple[ConsumerRecord[Any, Any], CloudEvent]] = []
        for record in records:
            topic = record.topic.removeprefix(self.settings.topic_prefix)
            try:
                event = from_record(record.value, record.headers)
                if self.known_offices is not None and event.officeid not in self.known_offices:
                    raise Rejected(f"officeid: unknown office {event.officeid!r}")
            except (InvalidEvent, Rejected) as exc:
                self.metrics.events.labels(topic, "unknown", "invalid").inc()
                await self.dead_letter(record, type(exc).__name__, exc.reason)
                continue
            if self.types is not None and event.type not in self.types:
                continue
            accepted.append((record, event))
        if not accepted:
            return
        started = time.perf_counter()
        try:
            await self._apply_with_retry([e for _, e in accepted])
        except Exception as exc:
            if is_transient(exc):
                raise
            # isolate the poison event: apply the batch one event at a time (effects are idempotent)
            for record, event in accepted:
                await self._apply_one(record, event)
        else:
            counts = Counter((r.topic.removeprefix(self.settings.topic_prefix), e.type) for r, e in accepted)
            for (topic, type_), n in counts.items():
                self.metrics.events.labels(topic, type_, "ok").inc(n)
        self.metrics.handler_seconds.labels(self.group).observe(time.perf_counter() - started)

    async def _apply_one(self, record: ConsumerRecord[Any, Any], event: CloudEvent) -> None:
        topic = record.topic.removeprefix(self.settings.topic_prefix)
        event_token = event_id_var.set(event.id)
        correlation_token = correlation_var.set(str(getattr(event, "correlationid", None) or event.subject))
        try:
            await self._apply_with_retry([event])
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = exc.reason if isinstance(exc, Rejected) else f"{type(exc).__name__}: {exc}"
            log.warning("event rejected: %s", reason, extra={"topic": topic, "type": event.type})
            self.metrics.events.labels(topic, event.type, "failed").inc()
            await self.dead_letter(record, type(exc).__name__, reason)
        else:
            self.metrics.events.labels(topic, event.type, "ok").inc()
        finally:
            event_id_var.reset(event_token)
            correlation_var.reset(correlation_token)

    async def _apply_with_retry(self, events: Sequence[CloudEvent]) -> None:
        attempts = self.settings.retry_attempts
        for attempt in range(1, attempts + 1):
            try:
                await self.handler(events)
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == attempts:
                    raise
                delay = min(self.settings.retry_base_seconds * 2 ** (attempt - 1), 10.0)
                self.metrics.retries.labels(self.group).inc()
                log.warning(
                    "transient failure (%s), retry %d/%d in %.1fs",
                    type(exc).__name__,
                    attempt,
                    attempts - 1,
                    delay,
                )
                await self.sleep(delay)

    async def dead_letter(self, record: ConsumerRecord[Any, Any], error: str, reason: str) -> None:
        """Send the record to ``dlq.{group}`` with headers saying where it came from and why; its
        personal data is replaced first (``shared/privacy.py``: the original is not kept)."""
        headers = {
            DLQ_TOPIC: record.topic,
            DLQ_PARTITION: str(record.partition),
            DLQ_OFFSET: str(record.offset),
            DLQ_ERROR: error,
            DLQ_REASON: mask_personal_data(reason)[:500],
            DLQ_GROUP: self.group,
        }
        content_type = _header(record, "content-type")
        if content_type:
            headers["content-type"] = content_type
        key, value = redact_record(record.key, record.value)
        letter = Record(Topics.dlq(self.group), key, value, [(k, v.encode()) for k, v in headers.items()])
        await self.publisher.publish_raw(letter)
        self.metrics.dead_letters.labels(self.group, error).inc()
        log.warning(
            "dead-lettered: %s",
            headers[DLQ_REASON],
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )


async def _tolerant_headers(message: Any, original: Any) -> Any:
    """FastStream's batch parser decodes every header as UTF-8 and raises on a record whose header
    is not: the batch would be refused and come back forever, blocking its partition. Such headers
    are given to it (and to ``Consumer.process``) with the bad bytes replaced, so the record is read
    and dead-lettered like any other invalid one; its value is untouched."""
    records = message if isinstance(message, tuple) else (message,)
    if any(not _is_utf8(value) for record in records for _, value in record.headers or ()):
        fixed = tuple(
            dataclasses.replace(
                record,
                headers=tuple((k, bytes(v).decode("utf-8", "replace").encode()) for k, v in record.headers or ()),
            )
            for record in records
        )
        message = fixed if isinstance(message, tuple) else fixed[0]
    return await original(message)


def _is_utf8(value: bytes | None) -> bool:
    try:
        bytes(value or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _skip_decoding(message: Any, original: Any) -> Any:
    """The consumer validates the raw record values itself: FastStream's per-record decoding of a
    batch (a second parse of every record) is skipped."""
    return None


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


#: how long dead letters are kept by default: long enough to read and replay them, bounded
DLQ_RETENTION_DAYS = 30


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 6,
    replication: int = 1,
    *,
    min_insync_replicas: int | None = None,
    retention_ms: int | None = None,
    dlq_retention_ms: int = DLQ_RETENTION_DAYS * 86_400_000,
    options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created (idempotent). Dead-letter
    topics (``dlq.*``) get a bounded retention (``dlq_retention_ms``); the others ``retention_ms``
    when given (else the broker's default). ``options``: the connection's (TLS, SASL)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="canopee-topics", **(options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=n,
                        num_partitions=partitions,
                        replication_factor=replication,
                        topic_configs=_topic_configs(n, min_insync_replicas, retention_ms, dlq_retention_ms),
                    )
                    for n in missing
                ]
            )
        return missing
    finally:
        await admin.close()


def _topic_configs(
    name: str, min_insync: int | None, retention_ms: int | None, dlq_retention_ms: int
) -> dict[str, str]:
    configs: dict[str, str] = {}
    if min_insync is not None:
        configs["min.insync.replicas"] = str(min_insync)
    retention = dlq_retention_ms if name.startswith(Topics.dlq("")) else retention_ms
    if retention is not None:
        configs["retention.ms"] = str(retention)
    return configs


#: consumer groups of the services (their dead-letter topics are provisioned with the others)
SERVICE_GROUPS = ("ticketing", "notifications", "feedback", "analytics")

#: the topics each service's consumer group reads: the services register exactly these, and
#: ``canopee topics forget-consumed`` (tools/forget.py) waits for every group that reads a topic
CONSUMED_TOPICS: dict[str, tuple[str, ...]] = {
    # office.tenants: only ``tenant.erased`` (references erased, tracker links revoked)
    "ticketing": (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS),
    "notifications": (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS, Topics.TICKETING_SLA, Topics.FEEDBACK_SURVEYS),
    # notifications.outcomes: only ``sms.replied``
    "feedback": (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS, Topics.FEEDBACK_RATINGS, Topics.NOTIFICATIONS_OUTCOMES),
    "analytics": tuple(Topics.ALL),
}


def all_topics(prefix: str = "") -> list[str]:
    return [f"{prefix}{t}" for t in Topics.ALL] + [Topics.dlq(f"{prefix}{g}") for g in SERVICE_GROUPS]
