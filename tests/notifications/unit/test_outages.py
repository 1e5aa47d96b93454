"""Outages without re-sends, on the in-memory store twin: an outcome the store cannot take yet is
kept by the instance (and the message never handed to a provider again), leases of sends in
progress are renewed, and a claim is taken over only from an instance that is gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from services.notifications.domain.records import Status
from services.notifications.handlers import Notifier
from services.notifications.store_memory import MemoryNotificationStore
from shared.bus import TransientError
from shared.events import parse_event
from tests.notifications.unit.test_use_cases import EMAIL, PHONE, World, world


class FlakyStore(MemoryNotificationStore):
    """The in-memory store, whose methods named in ``away`` fail as an unreachable store does."""

    def __init__(self) -> None:
        super().__init__()
        self.away: set[str] = set()
        self.failures = 0

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and name in object.__getattribute__(self, "away"):

            async def unreachable(*args: Any, **kwargs: Any) -> Any:
                self.failures += 1
                raise ServerSelectionTimeoutError("store unreachable (simulated)")

            return unreachable
        return object.__getattribute__(self, name)


def flaky_world(**settings: Any) -> tuple[World, FlakyStore]:
    w = world(lease_seconds=5, **settings)
    store = FlakyStore()
    w.notifier = Notifier(**_init_only(w.notifier), store=store)
    w.store = store
    return w, store


def _init_only(notifier: Notifier) -> dict[str, Any]:
    """The arguments ``notifier`` was built with, but its store."""
    fields = Notifier.__dataclass_fields__
    return {k: getattr(notifier, k) for k, f in fields.items() if f.init and k != "store"}


def batch(w: World, *events: dict[str, Any]) -> list[Any]:
    return [parse_event(json.dumps(e)) for e in events]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("channel", ["sms", "email"])
async def test_an_outcome_the_store_cannot_take_is_kept_and_the_message_never_sent_again(channel: str) -> None:
    w, store = flaky_world()
    await w.consume(w.contact(preferred_channel=channel))
    sent = w.sms.sent if channel == "sms" else w.email.sent
    store.away = {"finish", "get", "claim", "renew_leases"}
    events = batch(w, w.opened())
    await w.notifier.handle_batch(events)  # recorded and claimed, then handed off
    await until(lambda: len(sent) == 1 and store.failures >= 2)  # the provider answered, the record waits
    # the consumer takes no new work meanwhile
    with pytest.raises(TransientError):
        await w.notifier.sender.holding.wait_settled(0.2)
    # past the lease (not renewed: the store is away), the dispatcher and a redelivered batch leave it
    w.clock.now += timedelta(seconds=30)
    store.away = {"finish", "renew_leases"}
    await w.notifier.dispatch_due()
    await w.notifier.consumer.handle_batch(events)
    assert len(sent) == 1
    store.away = set()  # the store is back: the kept outcome is recorded, published once
    assert await w.notifier.drain(5)
    await w.notifier.sender.holding.wait_settled(0.1)
    [message] = [m for m in w.store.messages.values() if m.channel.value == channel]
    assert (message.status, message.published) == (Status.SENT, True)
    assert w.bus.kinds() == ["notification.sent"]
    await w.notifier.dispatch_due()
    await w.notifier.handle_batch(events)
    assert len(sent) == 1 and w.bus.kinds().count("notification.sent") == 2  # the same event again
    assert len({e.id for e in w.bus.events}) == 1
    assert sent[0]["to"] in (PHONE, [EMAIL])


async def sending_to_a_slow_provider(w: World) -> tuple[asyncio.Event, list[str]]:
    """A request opened while the SMS provider holds its answer until the event returned is set;
    returns once the send has reached the provider (the references it got are in the list)."""
    hold = asyncio.Event()
    calls: list[str] = []

    class Slow:
        async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None:
            calls.append(reference)
            await hold.wait()
            return "sms-slow"

    w.notifier.sender.sms = Slow()
    await w.notifier.handle_batch(batch(w, w.opened()))
    await until(lambda: len(calls) == 1)
    return hold, calls


async def test_leases_of_sends_in_progress_are_renewed_and_taken_over_only_from_a_gone_instance() -> None:
    w = world(lease_seconds=5)
    other = Notifier(**_init_only(w.notifier), store=w.store)  # a second instance
    await w.consume(w.contact())
    hold, calls = await sending_to_a_slow_provider(w)
    for _ in range(6):  # a slow provider: the lease is renewed every second by its holder
        w.clock.now += timedelta(seconds=2)
        assert await w.notifier.renew_leases() in (0, 1)
        await other.dispatch_due()
    assert w.sms.sent == [] and len(calls) == 1
    [held] = w.store.messages.values()
    assert held.lease_until > w.clock()
    # the holder is gone (no more renewals): once the lease ended, another instance takes over
    w.clock.now += timedelta(seconds=6)
    other.sender.holding.trouble()  # ... but only once the store has answered it for a while
    await other.dispatch_due()
    assert w.sms.sent == []
    other.sender.holding.perf = lambda: 1e12
    await other.dispatch_due()
    assert len(w.sms.sent) == 1 and w.sms.sent[0]["reference"] == held.id
    hold.set()
    assert await w.notifier.drain(5)
    [message] = w.store.messages.values()
    assert message.status is Status.SENT and message.attempts == 2  # the gone instance's record lost


async def test_the_dispatcher_leaves_a_message_its_own_instance_holds_even_past_its_lease() -> None:
    w = world(lease_seconds=5)
    await w.consume(w.contact())
    hold = asyncio.Event()

    class Slow:
        async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None:
            await hold.wait()
            return "sms-slow"

    w.notifier.sender.sms = Slow()
    events = batch(w, w.opened())
    await w.notifier.handle_batch(events)
    w.clock.now += timedelta(seconds=60)  # no renewal ran (the store was away, say)
    await w.notifier.dispatch_due()
    await w.notifier.handle_batch(events)  # redelivered
    assert w.sms.sent == []
    w.notifier.sender.sms = w.sms
    hold.set()
    assert await w.notifier.drain(5)
    [message] = w.store.messages.values()
    assert message.status is Status.SENT and message.attempts == 1 and w.sms.sent == []


class ReplacingStore(MemoryNotificationStore):
    """The in-memory store whose lease renewal works as the local store (FerretDB) applies an
    update: the document is read, then a moment later replaced whole."""

    def __init__(self) -> None:
        super().__init__()
        self.renewing = asyncio.Event()

    async def renew_leases(self, claims: Any, until: Any) -> None:
        read = {nid: self.messages.get(nid) for nid, _ in claims}
        self.renewing.set()
        await asyncio.sleep(0.05)  # another write of the same document may land meanwhile
        for nid, attempt in claims:
            message = read[nid]
            if message is not None and message.status is Status.SENDING and message.attempts == attempt:
                self.messages[nid] = replace(message, lease_until=until)


async def test_a_lease_renewal_meeting_the_record_of_the_outcome_never_puts_the_message_back() -> None:
    """The outcome is recorded while the lease of the send is being renewed: the renewal must not
    write "sending" back over "sent" (the message would go out again after its lease)."""
    w = world(lease_seconds=5)
    store = ReplacingStore()
    w.notifier = Notifier(**_init_only(w.notifier), store=store)
    w.store = store
    await w.consume(w.contact())
    hold, calls = await sending_to_a_slow_provider(w)
    w.clock.now += timedelta(seconds=3)  # past half the lease: due for renewal
    renewal = asyncio.create_task(w.notifier.renew_leases())
    await store.renewing.wait()
    hold.set()  # the provider answers while the renewal is under way
    assert await w.notifier.drain(5)
    await renewal
    [message] = store.messages.values()
    assert message.status is Status.SENT
    w.clock.now += timedelta(seconds=30)  # past any lease: nothing goes out again
    w.notifier.sender.holding.perf = lambda: 1e12
    await w.notifier.dispatch_due()
    assert len(calls) == 1
