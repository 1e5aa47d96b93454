"""Record, then publish: the outbox every service that emits events goes through.

An event our services emit has a deterministic id derived from its cause (``derived_id``). It is
recorded under that id before it is published, and marked published once Kafka acknowledged it:

- a redelivered cause records nothing new and finds the event published: nothing is emitted twice
  by this path (a consumer still deduplicates on the id, since a crash between the publish and the
  mark re-publishes once);
- a crash or a failed publish leaves the event recorded and unpublished: the periodic ``flush``
  publishes it, and a redelivered cause publishes the *recorded* copy, not a new one (an event may
  carry something that must not change between attempts, such as a survey link).

Storage is a port (``OutboxStore``): ``MongoOutboxStore`` keeps one document per event in a
collection of the service's database, and drops the body (which may hold personal data) once
published, keeping the id to deduplicate. ``MemoryOutboxStore`` is its in-memory twin, held to the
same contract by the same tests. A service whose outcome events are derived from documents it
already writes (the record being part of that write) gives ``Relay`` a ``RecordedEvents`` view of
its own documents instead. Where several instances sweep the same records and each event must reach
the topic once, ``LeasedRelay`` publishes only what its instance claimed (a lease per record, given
back at once when the publish fails).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from shared.events import CloudEvent, parse_event
from shared.store import Document, Index, insert_many_once


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None:
        """Publish and wait until the broker acknowledged every event."""


class RecordedEvents(Protocol):
    """Events recorded and waiting to be published."""

    async def mark_published(self, ids: Sequence[str]) -> None: ...

    async def pending(self, before: datetime, limit: int) -> list[CloudEvent]:
        """Recorded at or before ``before`` and still unpublished (oldest first, at most ``limit``)."""
        ...


class OutboxStore(RecordedEvents, Protocol):
    async def record(self, events: Sequence[CloudEvent], now: datetime) -> set[str]:
        """Record the events whose id is not recorded yet; return the ids this call recorded."""
        ...

    async def lookup(self, ids: Sequence[str]) -> dict[str, CloudEvent | None]:
        """The recorded ids among ``ids``: the recorded event while unpublished, None once published."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class Relay:
    """Publishes recorded events and marks them published; ``flush`` publishes what was left."""

    def __init__(
        self, recorded: RecordedEvents, publisher: EventPublisher, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.recorded = recorded
        self.publisher = publisher
        self.clock = clock

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish events already recorded, then mark them published."""
        if events:
            await self.publisher.publish(events)
            await self.recorded.mark_published([e.id for e in events])

    async def flush(self, grace: timedelta = timedelta(seconds=10), limit: int = 100) -> int:
        """Publish events recorded more than ``grace`` ago and still unpublished; how many."""
        pending = await self.recorded.pending(self.clock() - grace, limit)
        await self.publish(pending)
        return len(pending)


class Outbox(Relay):
    """Records events under their id, publishes them once, marks them published."""

    def __init__(self, store: OutboxStore, publisher: EventPublisher, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(store, publisher, clock)
        self.store = store

    async def emit(self, events: Sequence[CloudEvent]) -> list[CloudEvent]:
        """Record and publish ``events``; returns what this call published: the events it recorded,
        and the recorded copies of those recorded earlier but never published. An event already
        published is not published again."""
        unique = list({e.id: e for e in events}.values())
        if not unique:
            return []
        recorded = await self.store.record(unique, self.clock())
        earlier = [e.id for e in unique if e.id not in recorded]
        left = await self.store.lookup(earlier) if earlier else {}
        todo = [e for e in unique if e.id in recorded] + [e for e in left.values() if e is not None]
        await self.publish(todo)
        return todo


T = TypeVar("T")


class LeasedRecords(Protocol[T]):
    """Recorded events that one instance at a time may publish."""

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[T]]:
        """Take unpublished records nobody holds for ``lease``; the claim's owner and what it won."""
        ...

    async def mark_published(self, owner: str, keys: Sequence[str]) -> None: ...

    async def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give claims back after a failed publish, so that the next flush retries at once."""
        ...


class LeasedRelay(Generic[T]):
    """Claims recorded events, publishes them, marks them published; a failed publish releases
    its claims and raises."""

    def __init__(
        self,
        records: LeasedRecords[T],
        publisher: EventPublisher,
        *,
        key: Callable[[T], str],
        event: Callable[[T], CloudEvent],
        lease: timedelta,
        clock: Callable[[], datetime] = utcnow,
        failed: Callable[[Sequence[T]], None] | None = None,
    ) -> None:
        self.records = records
        self.publisher = publisher
        self.key = key
        self.event = event
        self.lease = lease
        self.clock = clock
        self.failed = failed

    async def flush(self) -> list[T]:
        """Publish what this instance claimed; returns those records."""
        owner, claimed = await self.records.claim(self.clock(), self.lease)
        if not claimed:
            return []
        keys = [self.key(record) for record in claimed]
        try:
            await self.publisher.publish([self.event(record) for record in claimed])
        except Exception:
            if self.failed is not None:
                self.failed(claimed)
            await self.records.release(owner, keys)
            raise
        await self.records.mark_published(owner, keys)
        return claimed


OUTBOX = "outbox"


class MongoOutboxStore:
    """The outbox as one document per event: ``{_id, event (JSON, until published), published,
    created_at}``."""

    def __init__(self, db: AsyncDatabase[Document], collection: str = OUTBOX) -> None:
        self.collection = db[collection]

    @staticmethod
    def indexes(collection: str = OUTBOX) -> list[Index]:
        return [Index(collection, [("published", 1), ("created_at", 1)])]

    async def record(self, events: Sequence[CloudEvent], now: datetime) -> set[str]:
        docs = [
            {"_id": e.id, "event": e.model_dump_json(exclude_none=True), "published": False, "created_at": now}
            for e in events
        ]
        lost = await insert_many_once(self.collection, docs)
        return {e.id for k, e in enumerate(events) if k not in lost}

    async def lookup(self, ids: Sequence[str]) -> dict[str, CloudEvent | None]:
        found: dict[str, CloudEvent | None] = {}
        async for doc in self.collection.find({"_id": {"$in": list(ids)}}):
            body = doc.get("event")
            found[doc["_id"]] = parse_event(body) if body and not doc.get("published") else None
        return found

    async def mark_published(self, ids: Sequence[str]) -> None:
        if ids:
            # the body (which may hold personal data) goes; the id stays to deduplicate redeliveries
            await self.collection.update_many({"_id": {"$in": list(ids)}}, {"$set": {"published": True, "event": None}})

    async def pending(self, before: datetime, limit: int) -> list[CloudEvent]:
        cursor = self.collection.find({"published": False, "created_at": {"$lte": before}}).sort("created_at", 1)
        return [parse_event(doc["event"]) async for doc in cursor.limit(limit) if doc.get("event")]


class MemoryOutboxStore:
    """In-memory twin of ``MongoOutboxStore`` (same contract, checked by the same tests)."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[CloudEvent | None, datetime]] = {}

    async def record(self, events: Sequence[CloudEvent], now: datetime) -> set[str]:
        added = set()
        for event in events:
            if event.id not in self.events:
                self.events[event.id] = (event, now)
                added.add(event.id)
        return added

    async def lookup(self, ids: Sequence[str]) -> dict[str, CloudEvent | None]:
        return {i: self.events[i][0] for i in ids if i in self.events}

    async def mark_published(self, ids: Sequence[str]) -> None:
        for i in ids:
            if i in self.events:
                self.events[i] = (None, self.events[i][1])

    async def pending(self, before: datetime, limit: int) -> list[CloudEvent]:
        waiting = sorted(
            ((at, e) for e, at in self.events.values() if e is not None and at <= before), key=lambda p: p[0]
        )
        return [e for _, e in waiting[:limit]]
