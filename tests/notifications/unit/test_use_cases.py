"""The use cases on the in-memory store twin, with recording fakes of the bus and the providers:
no Kafka, no database, no network (the twin is held to the real store by the contract tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from services.notifications.domain.records import Status
from services.notifications.handlers import HANDLERS, Notifier
from services.notifications.handlers.consuming import TENANT_EVENTS
from services.notifications.metrics import NotificationMetrics
from services.notifications.providers import PermanentFailure, TokenBucket
from services.notifications.settings import NotificationsSettings
from services.notifications.store_memory import MemoryNotificationStore
from services.notifications.templates import Templates
from shared.events import CloudEvent, parse_event, short_type
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.samples import sample

PARIS = ZoneInfo("Europe/Paris")
PHONE = "+33612345678"
EMAIL = "locataire@example.org"
FRIDAY_MORNING = datetime(2026, 11, 27, 10, 0, tzinfo=PARIS)
SUNDAY = datetime(2026, 11, 29, 11, 0, tzinfo=PARIS)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


@dataclass
class Bus:
    events: list[CloudEvent] = field(default_factory=list)
    #: the broker is away for this many publish calls
    away: int = 0

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        if self.away:
            self.away -= 1
            raise ConnectionError("broker away")
        self.events.extend(events)

    def kinds(self) -> list[str]:
        return [short_type(e.type) for e in self.events]


@dataclass
class Sms:
    sent: list[dict[str, str]] = field(default_factory=list)
    refuse: bool = False

    async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None:
        if self.refuse:
            raise PermanentFailure("HTTP 400 from the SMS provider")
        self.sent.append({"to": to, "from": sender, "text": text, "reference": reference})
        return f"sms-{len(self.sent)}"


@dataclass
class Email:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send_email(
        self, *, to: Sequence[str], sender_name: str, subject: str, text: str, html: str, reference: str
    ) -> str | None:
        self.sent.append({"to": list(to), "subject": subject, "reference": reference})
        return f"mail-{len(self.sent)}"


@dataclass
class World:
    notifier: Notifier
    store: MemoryNotificationStore
    bus: Bus
    sms: Sms
    email: Email
    clock: Clock

    async def consume(self, *events: dict[str, Any]) -> None:
        await self.notifier.handle_batch([parse_event(json.dumps(e)) for e in events])
        assert await self.notifier.drain(5)

    def event(self, kind: str, subject: str, **data: Any) -> dict[str, Any]:
        event = sample(kind, **data)
        event["time"] = (self.clock() - timedelta(minutes=1)).isoformat()
        event["subject"] = subject
        return event

    def contact(self, **data: Any) -> dict[str, Any]:
        values = {"tenant_ref": "T-1", "phone": PHONE, "email": EMAIL, "preferred_channel": "sms", **data}
        return self.event("tenant.contact_updated", "T-1", **values)

    def opened(self) -> dict[str, Any]:
        return self.event("request.opened", "REQ-1", request_id="REQ-1", tenant_ref="T-1", urgency="U3")


def world(at: datetime = FRIDAY_MORNING, **settings: Any) -> World:
    store, bus, sms, email, clock = MemoryNotificationStore(), Bus(), Sms(), Email(), Clock(at)
    notifier = Notifier(
        store=store,
        templates=Templates(),
        offices=load_offices(DEMO_OFFICES_FILE),
        sms=sms,
        email=email,
        publisher=bus,
        metrics=NotificationMetrics.create(CollectorRegistry()),
        settings=NotificationsSettings(admin_token="t" * 32, **settings),
        sms_limit=TokenBucket(1000),
        email_limit=TokenBucket(1000),
        clock=clock,
    )
    return World(notifier, store, bus, sms, email, clock)


def test_one_handler_per_consumed_event_type() -> None:
    assert len(HANDLERS) == 12
    assert set(TENANT_EVENTS) <= set(HANDLERS)


async def test_a_request_opened_sends_its_acknowledgement_once() -> None:
    w = world()
    await w.consume(w.contact())
    opened = w.opened()
    await w.consume(opened)
    [sms] = w.sms.sent
    assert sms["to"] == PHONE and "REQ-1" in sms["text"]
    assert w.bus.kinds() == ["notification.sent"]
    [message] = w.store.messages.values()
    assert (message.status, message.published, message.recipient_masked) == (Status.SENT, True, "+33 6 •• •• •• 78")
    await w.consume(opened)  # redelivered: the outcome again (same id), nothing sent
    assert len(w.sms.sent) == 1 and len({e.id for e in w.bus.events}) == 1


async def test_a_sunday_message_is_deferred_then_sent_by_the_dispatcher_on_monday() -> None:
    w = world(SUNDAY)
    await w.consume(w.contact())
    await w.consume(w.opened())
    assert w.sms.sent == [] and w.bus.kinds() == ["notification.deferred"]
    assert await w.notifier.dispatch_due() == 0
    w.clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=PARIS)
    assert await w.notifier.dispatch_due() == 1
    assert len(w.sms.sent) == 1 and w.bus.kinds() == ["notification.deferred", "notification.sent"]


async def test_a_message_waits_for_the_first_contact_of_its_tenant() -> None:
    w = world()
    await w.consume(w.opened())
    assert w.sms.sent == [] and len(w.store.waiting) == 1
    [entry] = await w.notifier.audit("demo-nord", "REQ-1", 10)
    assert entry.status == "awaiting_contact"
    await w.consume(w.contact())
    assert len(w.sms.sent) == 1 and w.store.waiting == {}


async def test_a_refused_sms_falls_back_to_email() -> None:
    w = world()
    w.sms.refuse = True
    await w.consume(w.contact())
    await w.consume(w.opened())
    assert w.sms.sent == [] and [m["to"] for m in w.email.sent] == [[EMAIL]]
    assert w.bus.kinds() == ["notification.failed", "notification.sent"]


async def test_a_failed_delivery_receipt_falls_back_and_stop_withdraws_consent() -> None:
    w = world()
    await w.consume(w.contact())
    await w.consume(w.opened())
    reference = w.sms.sent[0]["reference"]
    assert await w.notifier.delivery_receipt(reference, False, "unreachable") == "failed"
    assert await w.notifier.delivery_receipt("unknown-ref", True, None) == "unknown"
    assert len(w.email.sent) == 1
    assert await w.notifier.inbound_sms("06 12 34 56 78", " stop ", "in-1") == "consent_withdrawn"
    assert w.bus.kinds()[-1] == "tenant.consent_changed"
    contact = await w.store.get_contact("demo-nord", "T-1")
    assert contact is not None and contact.sms_consent is False


async def test_erasure_suppresses_what_waits_and_masks_the_log() -> None:
    w = world(SUNDAY)
    await w.consume(w.contact())
    await w.consume(w.opened())
    await w.consume(w.event("tenant.erased", "T-1", tenant_ref="T-1"))
    assert w.bus.kinds() == ["notification.deferred", "notification.suppressed"]
    [message] = w.store.messages.values()
    assert (message.status, message.reason, message.recipient_masked) == (Status.SUPPRESSED, "erased", "effacé")


async def test_an_outcome_the_broker_did_not_take_is_published_by_the_dispatcher_after_a_lease() -> None:
    w = world(lease_seconds=5)
    await w.consume(w.contact())
    w.bus.away = 1
    await w.consume(w.opened())
    assert len(w.sms.sent) == 1 and w.bus.events == []
    [message] = w.store.messages.values()
    assert (message.status, message.published) == (Status.SENT, False)
    await w.notifier.dispatch_due()
    assert w.bus.events == []  # recorded less than a lease ago: its sender may still publish it
    w.clock.now += timedelta(seconds=6)
    await w.notifier.dispatch_due()
    await w.notifier.dispatch_due()
    assert w.bus.kinds() == ["notification.sent"] and len(w.sms.sent) == 1
    [message] = w.store.messages.values()
    assert message.published is True
