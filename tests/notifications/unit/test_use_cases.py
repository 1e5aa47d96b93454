"""The use cases on the in-memory store twin, with recording fakes of the bus and the providers:
no Kafka, no database, no network (the twin is held to the real store by the contract tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from services.notifications.domain.followups import Followup
from services.notifications.domain.records import Status
from services.notifications.handlers import HANDLERS, Notifier
from services.notifications.handlers.consuming import TENANT_EVENTS
from services.notifications.metrics import NotificationMetrics
from services.notifications.providers import PermanentFailure, TokenBucket
from services.notifications.settings import NotificationsSettings
from services.notifications.store_memory import MemoryFollowupStore, MemoryNotificationStore
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


def world(at: datetime = FRIDAY_MORNING, followups: MemoryFollowupStore | None = None, **settings: Any) -> World:
    store, bus, sms, email, clock = MemoryNotificationStore(), Bus(), Sms(), Email(), Clock(at)
    notifier = Notifier(
        followup_store=followups,
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
    assert len(HANDLERS) == 13
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


async def test_a_receipt_arriving_while_the_send_is_recorded_is_applied() -> None:
    w = world()
    await w.consume(w.contact())
    await w.consume(w.opened())
    [message] = w.store.messages.values()
    w.store.messages[message.id] = replace(message, status=Status.SENDING)  # the record is being written
    read = w.store.get

    async def recorded_meanwhile(notification_id: str) -> Any:
        w.store.messages[message.id] = message  # written between the receipt's two reads
        return await read(notification_id)

    w.store.get = recorded_meanwhile  # type: ignore[method-assign]
    assert await w.notifier.delivery_receipt(message.id, True, None) == "delivered"
    assert w.bus.kinds()[-1] == "notification.delivered"


async def test_the_recovery_sweeps_run_every_sweep_seconds() -> None:
    w = world(lease_seconds=5, sweep_seconds=60)
    await w.consume(w.contact())
    w.bus.away = 1
    await w.consume(w.opened())  # sent, its outcome not taken by the broker
    await w.notifier.dispatch_due()  # a sweep: recorded less than a lease ago, it stays unpublished
    w.clock.now += timedelta(seconds=10)
    await w.notifier.dispatch_due()  # a lease later, but the next sweep is 60 s after the first
    assert w.bus.events == []
    w.clock.now += timedelta(seconds=50)
    await w.notifier.dispatch_due()
    assert w.bus.kinds() == ["notification.sent"] and len(w.sms.sent) == 1


async def test_due_messages_are_looked_for_at_every_tick_between_two_sweeps() -> None:
    w = world(SUNDAY, sweep_seconds=60)
    await w.consume(w.contact())
    await w.consume(w.opened())  # deferred to Monday 08:00
    # a sweep just before 08:00; the message goes at the next tick all the same
    w.clock.now = datetime(2026, 11, 30, 7, 59, 59, tzinfo=PARIS)
    assert await w.notifier.dispatch_due() == 0
    assert w.notifier.metrics.deferred_backlog._value.get() == 1
    w.clock.now += timedelta(seconds=2)
    assert await w.notifier.dispatch_due() == 1 and len(w.sms.sent) == 1
    assert w.notifier.metrics.deferred_backlog._value.get() == 1  # the gauge waits for the next sweep
    w.clock.now += timedelta(seconds=60)
    await w.notifier.dispatch_due()
    assert w.notifier.metrics.deferred_backlog._value.get() == 0


async def test_erasure_suppresses_what_waits_and_masks_the_log() -> None:
    w = world(SUNDAY)
    await w.consume(w.contact())
    await w.consume(w.opened())
    await w.consume(w.event("tenant.erased", "T-1", tenant_ref="T-1"))
    assert w.bus.kinds() == ["notification.deferred", "notification.suppressed"]
    [message] = w.store.messages.values()
    assert (message.status, message.reason, message.recipient_masked) == (Status.SUPPRESSED, "erased", "effacé")


async def test_an_outcome_the_broker_did_not_take_is_published_by_the_dispatcher_after_a_lease() -> None:
    w = world(lease_seconds=5, sweep_seconds=5)
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


# --- live or history --------------------------------------------------------------------------------


def _history(w: World) -> dict[tuple[str, str], float]:
    samples = w.notifier.metrics.history.collect()[0].samples
    return {(s.labels["office"], s.labels["recipient"]): s.value for s in samples if s.name.endswith("_total")}


async def test_old_office_alerts_are_history_suppressed_counted_and_listed() -> None:
    """An SLA alert or a detractor alert older than the office's horizon e-mails nobody: its
    message is suppressed ``stale``, the outcome is published, the metric counts it and the audit
    list shows it."""
    w = world()
    old = (w.clock() - timedelta(hours=49)).isoformat()
    alerts = [
        w.event("sla.breached", "REQ-1", request_id="REQ-1", urgency="U1", policy="U1"),
        w.event("sla.at_risk", "REQ-2", request_id="REQ-2"),
        w.event("feedback.detractor_alert", "S-1", survey_id="S-1", score=1),
    ]
    for alert in alerts:
        alert["time"] = old
    await w.consume(*alerts)
    assert w.email.sent == [] and w.bus.kinds() == ["notification.suppressed"] * 3
    assert {e.data.reason for e in w.bus.events} == {"stale"}  # type: ignore[attr-defined]
    assert {e.data.recipient.value for e in w.bus.events} == {"office"}  # type: ignore[attr-defined]
    assert _history(w) == {("demo-nord", "office"): 3.0}
    listed = await w.notifier.audit("demo-nord", None, 10, status="suppressed", reason="stale")
    assert sorted(e.template for e in listed) == ["detractor_alert", "sla_at_risk", "sla_breached"]
    # a tenant message of an old cause: counted with recipient tenant
    await w.consume(w.contact())
    opened = w.opened()
    opened["time"] = old
    await w.consume(opened)
    assert w.sms.sent == [] and _history(w)[("demo-nord", "tenant")] == 1.0
    # a live alert just inside the horizon is acted on
    live = w.event("sla.breached", "REQ-3", request_id="REQ-3", urgency="U1", policy="U1")
    live["time"] = (w.clock() - timedelta(hours=47)).isoformat()
    await w.consume(live)
    assert len(w.email.sent) == 1


# --- office alerts as digests -----------------------------------------------------------------------


def _alert(w: World, kind: str, n: int, office: str = "demo-nord", **data: Any) -> dict[str, Any]:
    event = w.event(kind, f"REQ-{office}-{n}", request_id=f"REQ-{office}-{n}", **data)
    event["officeid"] = office
    return event


async def test_at_risk_alerts_go_as_one_digest_per_office_and_window_and_u1_breaches_at_once() -> None:
    """40 at-risk alerts in 10 minutes (10:07–10:16, two offices) and a U1 breach: the breach at
    once, then one digest per office for 10:00–10:15 and one per office for 10:15–10:30."""
    w = world(FRIDAY_MORNING + timedelta(minutes=7))
    offices = ("demo-nord", "demo-sud")
    produced: list[dict[str, Any]] = []
    for minute in range(10):
        produced += [_alert(w, "sla.at_risk", minute * 4 + i, offices[i % 2]) for i in range(4)]
        await w.consume(*produced[-4:])
        if minute == 5:
            await w.consume(_alert(w, "sla.breached", 100, urgency="U1", policy="U1"))
            assert [m["to"] for m in w.email.sent] == [["astreinte@demo-nord.example.org"]]
        await w.notifier.dispatch_due()
        w.clock.now += timedelta(minutes=1)
    await w.notifier.dispatch_due()  # again: nothing more
    digests = w.email.sent[1:]  # after the breach
    assert sorted(tuple(m["to"]) for m in digests) == [
        ("astreinte@demo-nord.example.org",),
        ("astreinte@demo-sud.example.org",),
    ]
    assert [_listed(m) for m in digests] == [16, 16]  # 10:07 … 10:14
    w.clock.now = FRIDAY_MORNING + timedelta(minutes=30, seconds=1)
    await w.notifier.dispatch_due()
    assert len(w.email.sent) == 5 and [_listed(m) for m in w.email.sent[3:]] == [4, 4]  # 10:15, 10:16
    sent = [e for e in w.bus.events if short_type(e.type) == "notification.sent"]
    assert len(sent) == 41 and len({e.data.cause_id for e in sent}) == 41  # type: ignore[attr-defined]
    deferred = [e for e in w.bus.events if short_type(e.type) == "notification.deferred"]
    assert len(deferred) == 40 and {e.data.reason for e in deferred} == {"digest"}  # type: ignore[attr-defined]
    assert {m.status for m in w.store.messages.values() if m.template == "sla_at_risk"} == {Status.SENT}
    # a redelivered alert changes nothing and sends nothing: its outcome again (same event id)
    await w.consume(produced[0])
    w.clock.now += timedelta(minutes=15)
    await w.notifier.dispatch_due()
    again = w.bus.events[-1]
    assert len(w.email.sent) == 5 and short_type(again.type) == "notification.sent"
    assert again.data.cause_id == produced[0]["id"] and again.id in {e.id for e in sent}  # type: ignore[attr-defined]


def _listed(mail: dict[str, Any]) -> int:
    """How many alerts a digest's subject counts (``… : 0 dépassé, 16 bientôt dépassés (…)``)."""
    return int(mail["subject"].split(", ")[1].split()[0])


async def test_detractor_alerts_score_one_at_once_the_others_in_the_managers_digest() -> None:
    w = world()
    await w.consume(
        w.event("feedback.detractor_alert", "S-1", survey_id="S-1", score=1),
        w.event("feedback.detractor_alert", "S-2", survey_id="S-2", score=2),
    )
    [at_once] = w.email.sent
    assert at_once["to"] == ["direction@demo-nord.example.org"] and "note 1/5" in at_once["subject"]
    w.clock.now += timedelta(minutes=15)
    await w.notifier.dispatch_due()
    [_, digest] = w.email.sent
    assert digest["to"] == ["direction@demo-nord.example.org"] and "1 locataire mécontent" in digest["subject"]


async def test_a_digest_cut_short_goes_out_once_after_its_lease_and_its_alerts_take_its_outcome() -> None:
    w = world(lease_seconds=5)
    await w.consume(_alert(w, "sla.at_risk", 1), _alert(w, "sla.at_risk", 2))
    w.clock.now += timedelta(minutes=15)
    w.notifier.sender.email = Crashing()  # the instance dies while the provider holds the e-mail
    await w.notifier.dispatch_due()
    digest = next(m for m in w.store.messages.values() if m.template == "sla_digest")
    assert digest.status is Status.SENDING and w.bus.kinds().count("notification.sent") == 0
    w.notifier.sender.email = w.email
    await w.notifier.dispatch_due()  # held by its lease: nobody sends it
    assert w.email.sent == []
    w.clock.now += timedelta(seconds=6)
    await w.notifier.dispatch_due()
    await w.notifier.dispatch_due()
    assert len(w.email.sent) == 1 and w.bus.kinds().count("notification.sent") == 2


async def test_an_alert_recorded_while_its_digest_was_built_waits_for_the_next_one() -> None:
    w = world()
    await w.consume(_alert(w, "sla.at_risk", 1))
    w.clock.now += timedelta(minutes=15)
    await w.notifier.dispatch_due()
    assert len(w.email.sent) == 1
    # an alert decided by a slower instance for the window that already went out
    [sent] = [m for m in w.store.messages.values() if m.template == "sla_at_risk"]
    late = replace(sent, id="late", status=Status.GROUPED, draft=replace(sent.draft, cause_id="c-late"))
    await w.store.insert(late)
    w.clock.now += timedelta(seconds=30)  # the next sweep of the digests
    await w.notifier.dispatch_due()
    assert len(w.email.sent) == 1 and w.store.messages["late"].status is Status.GROUPED
    w.clock.now += timedelta(minutes=15)
    await w.notifier.dispatch_due()
    assert len(w.email.sent) == 2 and w.store.messages["late"].status is Status.SENT


@dataclass
class Crashing:
    async def send_email(
        self, *, to: Sequence[str], sender_name: str, subject: str, text: str, html: str, reference: str
    ) -> str | None:
        raise RuntimeError("the process is gone before the outcome is recorded")


# --- message wording that stays true ----------------------------------------------------------------


def _scheduled(w: World, start: str, end: str, at: datetime) -> dict[str, Any]:
    event = w.event("appointment.scheduled", "REQ-1", request_id="REQ-1", slot_start=start, slot_end=end)
    event["time"] = at.isoformat()
    return event


async def test_a_sunday_evening_reminder_for_a_monday_appointment_never_says_demain() -> None:
    w = world()
    await w.consume(w.contact(), w.opened())
    await w.consume(_scheduled(w, "2026-11-30T09:00:00+01:00", "2026-11-30T12:00:00+01:00", w.clock()))
    reminder = next(m for m in w.store.messages.values() if m.template == "appointment_reminder")
    assert reminder.send_at == datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)  # Sunday 18:00: no SMS
    w.clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=PARIS)
    await w.notifier.dispatch_due()
    text = w.sms.sent[-1]["text"]
    assert "demain" not in text and "rendez-vous aujourd'hui, lundi 30 novembre 2026, entre 9 h et 12 h" in text


async def test_an_older_rescheduling_arriving_after_a_newer_one_does_not_win() -> None:
    w = world()
    await w.consume(w.contact(), w.opened())
    newer = _scheduled(w, "2026-12-03T09:00:00+01:00", "2026-12-03T12:00:00+01:00", w.clock())
    older = _scheduled(w, "2026-12-02T09:00:00+01:00", "2026-12-02T12:00:00+01:00", w.clock() - timedelta(hours=1))
    await w.consume(newer)
    await w.consume(older)  # arrives last, happened first
    reminders = {m.draft.cause_id: m for m in w.store.messages.values() if m.template == "appointment_reminder"}
    assert reminders[newer["id"]].status is Status.PENDING  # the newer slot's reminder still goes out
    assert reminders[older["id"]].status is Status.SUPPRESSED and reminders[older["id"]].reason == "superseded"
    assert not any("2 décembre" in s["text"] for s in w.sms.sent)  # the old slot is never announced
    slot = await w.store.get_appointment("demo-nord", "REQ-1", "APT-1")
    assert slot is not None and slot.slot_start == datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)
    # a genuinely later re-scheduling cancels the earlier reminder
    w.clock.now += timedelta(minutes=1)
    latest = _scheduled(w, "2026-12-04T09:00:00+01:00", "2026-12-04T12:00:00+01:00", w.clock())
    await w.consume(latest)
    assert w.store.messages[reminders[newer["id"]].id].status is Status.SUPPRESSED


async def test_a_survey_about_a_neighbourhood_request_and_its_acknowledgement_fit_what_happened() -> None:
    """The request's category, known from ``request.opened``, words the survey invitation; the
    acknowledgement gives the office's phone and opening hours."""
    w = world()
    opened = w.event("request.opened", "REQ-1", request_id="REQ-1", tenant_ref="T-1", category="neighbourhood")
    opened["data"].pop("urgency")
    await w.consume(w.contact(), opened)
    [ack] = w.sms.sent
    assert (
        "Pour joindre un conseiller : 01 99 00 10 01, du lundi au vendredi, 8 h 30 - 12 h et 13 h 30 - 17 h."
        in ack["text"]
    )
    await w.consume(w.event("survey.requested", "S-1", survey_id="S-1", request_id="REQ-1", tenant_ref="T-1"))
    invitation = w.sms.sent[1]["text"]
    assert invitation.startswith("OfficeNord : votre demande REQ-1 a-t-elle été bien traitée ?")
    assert "intervention" not in invitation


async def test_the_retention_purge_blanks_followups_past_their_own_retention() -> None:
    followups = MemoryFollowupStore()
    w = world(followups=followups, followup_retention_days=30, message_body_retention_days=365)
    for n, age in ((1, 31), (2, 29)):
        task = Followup(
            id=f"F-{n}",
            office="demo-nord",
            cause_id=f"cause-{n}",
            cause_type="request.opened",
            request_id=f"REQ-{n}",
            tenant_ref="T-1",
            template="request_opened",
            reason="preference_none",
            text="Nous avons bien reçu votre demande REQ-1",
            created_at=w.clock() - timedelta(days=age),
        )
        assert await followups.add_followup(task)
    assert await w.notifier.purge() == 1
    old, young = followups.tasks["F-1"], followups.tasks["F-2"]
    assert (old.text, old.tenant_ref, old.request_id) == ("", None, "REQ-1")
    assert (young.text, young.tenant_ref) == ("Nous avons bien reçu votre demande REQ-1", "T-1")


async def test_erasure_blanks_the_campaign_detractor_emails_quoting_the_tenant() -> None:
    w = world()
    await w.consume(w.contact())
    invite = {"survey_id": "S-C1", "request_id": None, "tenant_ref": "T-1", "campaign_id": "CMP-1"}
    await w.consume(w.event("survey.requested", "S-C1", **invite))
    alert = {"survey_id": "S-C1", "request_id": None, "tenant_ref": "T-1", "comment": "Chauffage froid, T-1 furieux"}
    await w.consume(
        w.event("feedback.detractor_alert", "S-C1", score=1, **alert),  # at once
        w.event("feedback.detractor_alert", "S-C1", score=2, **alert),  # in the managers' digest
        w.event("feedback.detractor_alert", "S-C2", survey_id="S-C2", request_id=None, tenant_ref="T-2", score=2),
    )
    w.clock.now += timedelta(minutes=15)
    await w.notifier.dispatch_due()
    quoting = {m.template for m in w.store.messages.values() if "Chauffage froid" in (m.text or "")}
    assert quoting == {"detractor_alert", "detractor_digest"}
    await w.consume(w.event("tenant.erased", "T-1", tenant_ref="T-1"))
    for m in w.store.messages.values():
        assert "Chauffage froid" not in repr(m) and "T-1" not in repr(m), m.id
    other = next(m for m in w.store.messages.values() if m.draft.subject == "S-C2" and m.template == "detractor_alert")
    assert other.draft.context["comment"] == "Personne n'est venu"
