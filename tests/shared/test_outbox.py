"""The outbox: one contract for the Mongo store and its in-memory twin, then the record-then-publish
behaviour on top of either."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from shared.events import CloudEvent, parse_event
from shared.outbox import LeasedRelay, MemoryOutboxStore, MongoOutboxStore, Outbox, OutboxStore, Relay
from shared.store import ensure_indexes, make_client
from tests.support.samples import dumps, sample

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def event(kind: str = "sla.at_risk") -> CloudEvent:
    return parse_event(dumps(sample(kind)))


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.fail = False

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.extend(events)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[OutboxStore]:
    if request.param == "memory":
        yield MemoryOutboxStore()
        return
    infra = request.getfixturevalue("infra")
    client = make_client(infra["mongo"])
    name = f"t{uuid.uuid4().hex[:10]}_outbox"
    try:
        db = client[name]
        await ensure_indexes(db, MongoOutboxStore.indexes())
        yield MongoOutboxStore(db)
    finally:
        await client.drop_database(name)
        await client.close()


# --- the store contract ---------------------------------------------------------------------------


async def test_record_keeps_the_first_copy_of_an_id(store: OutboxStore) -> None:
    first, second = event(), event()
    assert await store.record([first, second], T0) == {first.id, second.id}
    again = first.model_copy(update={"time": T0})
    assert await store.record([again], T0) == set()
    found = await store.lookup([first.id, "never-recorded"])
    assert list(found) == [first.id]
    assert found[first.id] is not None and found[first.id].time == first.time


async def test_published_events_are_known_without_their_body(store: OutboxStore) -> None:
    first, second = event(), event()
    await store.record([first, second], T0)
    await store.mark_published([first.id])
    assert await store.lookup([first.id, second.id]) == {first.id: None, second.id: second}
    assert await store.pending(T0, 10) == [second]


async def test_pending_is_what_was_recorded_before_the_grace_oldest_first(store: OutboxStore) -> None:
    old, older, recent = event(), event(), event()
    await store.record([older], T0 - timedelta(minutes=2))
    await store.record([old], T0 - timedelta(minutes=1))
    await store.record([recent], T0)
    assert await store.pending(T0 - timedelta(seconds=30), 10) == [older, old]
    assert await store.pending(T0, 1) == [older]


# --- record, then publish -------------------------------------------------------------------------


async def test_emit_publishes_once_and_a_redelivered_cause_publishes_nothing(store: OutboxStore) -> None:
    publisher = RecordingPublisher()
    outbox = Outbox(store, publisher, Clock())
    alert = event()
    assert await outbox.emit([alert, alert]) == [alert]
    assert await outbox.emit([alert]) == []
    assert publisher.published == [alert]


async def test_a_failed_publish_is_retried_with_the_recorded_copy(store: OutboxStore) -> None:
    publisher = RecordingPublisher()
    clock = Clock()
    outbox = Outbox(store, publisher, clock)
    survey = event("survey.requested")
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await outbox.emit([survey])
    publisher.fail = False
    # the cause comes again and builds its event anew (e.g. another link): the recorded one goes out
    rebuilt = survey.model_copy(update={"time": T0})
    assert await outbox.emit([rebuilt]) == [survey]
    assert publisher.published == [survey]
    assert await outbox.flush(timedelta(0)) == 0


async def test_flush_publishes_what_a_crash_left_after_the_grace(store: OutboxStore) -> None:
    publisher = RecordingPublisher()
    clock = Clock()
    left = event()
    await store.record([left], T0)  # recorded, then the process died before publishing
    relay = Relay(store, publisher, clock)
    assert await relay.flush(timedelta(seconds=10)) == 0
    clock.now = T0 + timedelta(seconds=11)
    assert await relay.flush(timedelta(seconds=10)) == 1
    assert await relay.flush(timedelta(seconds=10)) == 0
    assert publisher.published == [left]


# --- leased relay: one instance at a time publishes a record --------------------------------------


class LeasedMemory:
    """A minimal leased store: a record is held by its claim's owner until the lease ends."""

    def __init__(self, events: list[CloudEvent]) -> None:
        self.events = {e.id: e for e in events}
        self.published: set[str] = set()
        self.held: dict[str, tuple[str, datetime]] = {}
        self.owners = 0

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[CloudEvent]]:
        self.owners += 1
        owner = f"o{self.owners}"
        won = [
            e
            for i, e in self.events.items()
            if i not in self.published and (i not in self.held or self.held[i][1] <= now)
        ]
        for e in won:
            self.held[e.id] = (owner, now + lease)
        return owner, won

    async def mark_published(self, owner: str, keys: list[str]) -> None:
        self.published.update(keys)

    async def release(self, owner: str, keys: list[str]) -> None:
        for k in keys:
            if self.held.get(k, ("", T0))[0] == owner:
                del self.held[k]


async def test_a_leased_relay_publishes_what_it_claimed_once_and_releases_on_failure() -> None:
    first, second = event(), event()
    records = LeasedMemory([first, second])
    publisher = RecordingPublisher()
    clock = Clock()
    failures: list[int] = []
    relay = LeasedRelay(
        records,
        publisher,
        key=lambda e: e.id,
        event=lambda e: e,
        lease=timedelta(seconds=30),
        clock=clock,
        failed=lambda claimed: failures.append(len(claimed)),
    )
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await relay.flush()
    assert failures == [2] and records.held == {}  # given back at once, not after the lease
    publisher.fail = False
    assert await relay.flush() == [first, second]
    assert await relay.flush() == []
    assert publisher.published == [first, second]
