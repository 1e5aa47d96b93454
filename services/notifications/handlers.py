"""Use cases of the notifications service: apply tenant and request events, decide and send the
messages they call for (exactly once), dispatch deferred sends, handle provider webhooks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared.bus import Rejected
from shared.events import (
    AppointmentMissed,
    AppointmentScheduled,
    Channel,
    CloudEvent,
    NotificationDeferred,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    PreferredChannel,
    Recipient,
    RequestAssigned,
    RequestClosed,
    RequestOpened,
    SmsReplied,
    TenantConsentChanged,
    TenantContactUpdated,
    TenantErased,
    derived_id,
    service_event,
)
from shared.offices import Office, Offices
from shared.store import Document

from . import store as st
from .domain.calendar import next_opening
from .domain.masking import mask_recipient
from .domain.messages import AppointmentInfo, RequestInfo, office_addresses, plans_for
from .domain.policy import (
    Contact,
    InvalidContact,
    MessagePlan,
    Policy,
    Reason,
    choose_channels,
    is_stale,
    normalise_phone,
)
from .domain.sms import prepare_sms
from .metrics import NotificationMetrics
from .providers import EmailProvider, PermanentFailure, SmsProvider, TemporaryFailure, TokenBucket
from .settings import NotificationsSettings
from .store import NotificationStore
from .templates import TemplateProblem, Templates

log = logging.getLogger("canopee.notifications")

SERVICE = "notifications"
#: A delivery receipt for a message still being handed to the provider is tried this many times,
#: this far apart, before the provider is asked to send it again later.
RECEIPT_ATTEMPTS = 10
RECEIPT_WAIT_SECONDS = 0.2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: a send claim is forgotten this long after its lease ended, checked this often by the dispatcher
CLAIMS_KEPT = timedelta(days=1)
CLAIMS_PURGE_EVERY = timedelta(hours=1)
#: at most this many full batches of due messages per dispatcher tick
DISPATCH_ROUNDS = 10

_OUTCOME_CLASSES: dict[str, type[CloudEvent]] = {
    st.SENT: NotificationSent,
    st.DELIVERED: NotificationDelivered,
    st.FAILED: NotificationFailed,
    st.SUPPRESSED: NotificationSuppressed,
}


class Publisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def notification_id(cause_id: str, template: str, channel: Channel) -> str:
    """One message per (cause event, template, channel): its id is derived from the three."""
    return derived_id("notification", cause_id, template, channel.value)


def outcome_event(doc: Document) -> CloudEvent:
    """The ``notification.*`` event of a message in a final state (same id when re-emitted)."""
    status = doc["status"]
    data: dict[str, Any] = {
        "notification_id": doc["_id"],
        "cause_id": doc["cause_id"],
        "channel": doc["channel"],
        "template": doc["template"],
        "recipient": doc["recipient"],
    }
    if doc.get("reason"):
        data["reason"] = str(doc["reason"])[:200]
    if doc["channel"] == Channel.SMS.value and status in (st.SENT, st.DELIVERED) and doc.get("segments"):
        data["sms_segments"] = doc["segments"]
    return service_event(
        _OUTCOME_CLASSES[status],
        service=SERVICE,
        officeid=doc["office"],
        subject=doc["_id"],
        time=doc.get("outcome_at") or doc["created_at"],
        data=data,
        cause=[doc["_id"]],
    )


def deferred_event(doc: Document) -> CloudEvent:
    data = {
        "notification_id": doc["_id"],
        "cause_id": doc["cause_id"],
        "channel": doc["channel"],
        "template": doc["template"],
        "recipient": doc["recipient"],
        "reason": doc.get("defer_reason") or "quiet_hours",
        "send_at": doc["send_at"].isoformat(),
    }
    if doc.get("segments"):
        data["sms_segments"] = doc["segments"]
    return service_event(
        NotificationDeferred,
        service=SERVICE,
        officeid=doc["office"],
        subject=doc["_id"],
        time=doc["created_at"],
        data=data,
        cause=[doc["_id"]],
    )


@dataclass
class Notifier:
    """The service's use cases, with their dependencies passed in (see ``app.py``)."""

    store: NotificationStore
    templates: Templates
    offices: Offices
    sms: SmsProvider
    email: EmailProvider
    publisher: Publisher
    metrics: NotificationMetrics
    settings: NotificationsSettings
    sms_limit: TokenBucket
    email_limit: TokenBucket
    clock: Callable[[], datetime] = utcnow
    perf: Callable[[], float] = field(default=time.perf_counter)
    _next_purge: datetime = field(default=EPOCH, init=False)
    #: sends handed off by the consumer, each with the key of its request (or subject)
    _sends: dict[asyncio.Task[None], tuple[str, str]] = field(default_factory=dict, init=False)
    #: the last send started per request: the next one for the same request waits for it
    _last_send: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict, init=False)
    _send_slots: asyncio.Semaphore | None = field(default=None, init=False)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def _office(self, office_id: str) -> Office:
        office = self.offices.get(office_id)
        if office is None:
            raise Rejected(f"officeid: unknown office {office_id!r}")
        return office

    # --- consuming ------------------------------------------------------------------------------

    async def handle_batch(self, events: Sequence[CloudEvent]) -> None:
        """Apply a batch; every effect is idempotent, so a redelivery changes nothing.

        Tenant events go first (a contact must be known before a message is decided), each
        tenant's in order; then each subject's events in order. Different tenants, then different
        subjects, are handled concurrently: their store round trips go in bulk or overlap.
        """
        by_tenant: dict[tuple[str, str], list[CloudEvent]] = {}
        by_subject: dict[tuple[str, str], list[CloudEvent]] = {}
        for event in events:
            if isinstance(event, TenantContactUpdated | TenantConsentChanged | TenantErased):
                by_tenant.setdefault((event.officeid, event.data.tenant_ref), []).append(event)
            else:
                by_subject.setdefault((event.officeid, event.subject), []).append(event)
        await self._apply_groups(list(by_tenant.values()))
        await self._apply_groups(list(by_subject.values()))

    async def _apply_groups(self, groups: list[list[CloudEvent]]) -> None:
        """Each group's events in order, up to ``concurrency`` groups at the same time."""
        if len(groups) <= 1:
            for group in groups:
                for event in group:
                    await self.handle(event)
            return
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def apply(group: list[CloudEvent]) -> None:
            async with limit:
                for event in group:
                    await self.handle(event)

        await asyncio.gather(*(apply(group) for group in groups))

    async def handle(self, event: CloudEvent) -> None:
        office = self._office(event.officeid)
        if isinstance(event, TenantContactUpdated | TenantConsentChanged | TenantErased):
            await self._tenant_event(event)
            return
        request: RequestInfo | None = None
        appointment: AppointmentInfo | None = None
        request_id = getattr(event.data, "request_id", None)
        if isinstance(event, RequestOpened):
            d = event.data
            details = {
                "tenant_ref": d.tenant_ref,
                "category": d.category.value,
                "urgency": d.urgency.value if d.urgency else None,
            }
            # the request's own messages need none of it: saved while they are decided
            saved = asyncio.ensure_future(self.store.save_request(office.id, d.request_id, details))
            try:
                await self._decide_all(event, office, None, None)
            finally:
                await saved
            return
        if isinstance(event, RequestAssigned):
            if event.data.assignee_kind.value == "contractor" and event.data.assignee_name:
                await self.store.save_request(
                    office.id, event.data.request_id, {"contractor": event.data.assignee_name}
                )
            return
        if request_id is not None:
            request = await self._request(office.id, request_id)
        if isinstance(event, AppointmentScheduled):
            a = event.data
            await self.store.save_appointment(
                office.id,
                a.request_id,
                a.appointment_id,
                {"slot_start": a.slot_start, "slot_end": a.slot_end, "contractor": a.contractor_name},
            )
            # a re-scheduled appointment: the reminder of the old slot must not go out
            await self._cancel(
                {
                    "office": office.id,
                    "request_id": a.request_id,
                    "appointment_id": a.appointment_id,
                    "template": "appointment_reminder",
                    "cause_id": {"$ne": event.id},
                },
                Reason.CANCELLED,
            )
        elif isinstance(event, AppointmentMissed):
            found = await self.store.get_appointment(office.id, event.data.request_id, event.data.appointment_id)
            if found is not None:
                appointment = AppointmentInfo(found["slot_start"], found["slot_end"], found.get("contractor"))
            await self._cancel(
                {
                    "office": office.id,
                    "request_id": event.data.request_id,
                    "appointment_id": event.data.appointment_id,
                    "template": "appointment_reminder",
                },
                Reason.CANCELLED,
            )
        elif isinstance(event, RequestClosed):
            await self._cancel(
                {"office": office.id, "request_id": event.data.request_id, "template": "appointment_reminder"},
                Reason.CANCELLED,
            )
        await self._decide_all(event, office, request, appointment)

    async def _decide_all(
        self, event: CloudEvent, office: Office, request: RequestInfo | None, appointment: AppointmentInfo | None
    ) -> None:
        now = self.clock()
        plans = plans_for(
            event,
            office,
            request=request,
            appointment=appointment,
            now=now,
            reminder_hour=self.settings.reminder_hour,
        )
        for plan in plans.messages:
            base = {
                "office": office.id,
                "cause_id": event.id,
                "cause_type": event.type.removeprefix("fr.canopee.").removesuffix(".v1"),
                "cause_time": event.time,
                "subject": event.subject,
                "tenant_ref": plans.tenant_ref if plan.recipient is Recipient.TENANT else None,
                "request_id": plans.request_id,
                "appointment_id": plans.appointment_id,
                "template": plan.template,
                "recipient": plan.recipient.value,
                "policy": plan.policy.value,
                "context": plan.context,
                "urgent": plan.urgent,
            }
            await self.decide(base, plan, event.time, now)

    async def _request(self, office: str, request_id: str) -> RequestInfo | None:
        doc = await self.store.get_request(office, request_id)
        if doc is None:
            return None
        return RequestInfo(doc.get("tenant_ref"), doc.get("category"), doc.get("urgency"), doc.get("contractor"))

    async def _tenant_event(self, event: CloudEvent) -> None:
        office = event.officeid
        if isinstance(event, TenantContactUpdated):
            d = event.data
            try:
                phone = normalise_phone(d.phone) if d.phone else None
            except InvalidContact as exc:
                raise Rejected(str(exc)) from None
            await self.store.update_contact(
                office,
                d.tenant_ref,
                event.time,
                phone=phone,
                email=d.email.strip() if d.email else None,
                preferred=d.preferred_channel,
            )
            await self._decide_awaiting(await self.store.awaiting_for(office, d.tenant_ref))
        elif isinstance(event, TenantConsentChanged):
            d2 = event.data
            await self.store.update_consent(office, d2.tenant_ref, d2.channel, d2.granted, event.time)
        elif isinstance(event, TenantErased):
            tenant = event.data.tenant_ref
            await self.store.erase_contact(office, tenant, event.time)
            await self._cancel({"office": office, "tenant_ref": tenant}, Reason.ERASED)
            for waiting in await self.store.awaiting_for(office, tenant):
                base = waiting["message"]
                nominal = Channel.EMAIL if base["policy"] == Policy.EMAIL_FIRST.value else Channel.SMS
                await self._suppress(base, nominal, Reason.ERASED, self.clock())
                await self.store.forget_awaiting(waiting["_id"])
            await self.store.mask_log(office, tenant)

    async def _cancel(self, query: Document, reason: Reason) -> None:
        for doc in await self.store.cancel_pending(query, reason.value, self.clock()):
            self._count(doc, st.SUPPRESSED)
            await self._publish_outcome(doc)

    # --- deciding ---------------------------------------------------------------------------------

    async def decide(
        self,
        base: Document,
        plan: MessagePlan,
        cause_time: datetime,
        now: datetime,
        *,
        waiting_until: datetime | None = None,
    ) -> None:
        """Pick the channel (or the reason not to send) and record the message, then send it if due.
        ``waiting_until``: the message already waited for its tenant's first contact."""
        if plan.recipient is Recipient.TENANT:
            tenant = base["tenant_ref"]
            if tenant is None:
                await self._suppress(base, Channel.SMS, Reason.UNKNOWN_REQUEST, now)
                return
            contact = await self.store.get_contact(base["office"], tenant)
            choice = choose_channels(contact, plan.policy)
            if is_stale(cause_time, now, timedelta(hours=self.settings.stale_horizon_hours)):
                await self._suppress(base, choice.nominal, Reason.STALE, now)
                return
            if (
                contact is None
                and waiting_until is None
                and self.settings.contact_wait_seconds > 0
                and not await self.store.has_contact_record(base["office"], tenant)
            ):
                # nothing known of this tenant yet: its first contact event may be on its way on
                # the other topic; the message waits for it (or for the deadline). Its texts are
                # built now all the same: a template error fails this event, not a later one.
                for option in (Channel.SMS, Channel.EMAIL):
                    if self.templates.has(base["office"], base["template"], option):
                        self.templates.render(base["office"], base["template"], option, base["context"])
                until = now + timedelta(seconds=self.settings.contact_wait_seconds)
                key = notification_id(base["cause_id"], base["template"], Channel.SMS) + "/contact"
                message = {**base, "scheduled_at": plan.scheduled_at}
                await self.store.await_contact(key, base["office"], tenant, message, until, now)
                return
            if choice.suppressed is not None:
                await self._suppress(base, choice.nominal, choice.suppressed, now)
                return
            channel, fallbacks = choice.channels[0], choice.channels[1:]
        else:
            if not office_addresses(self._office(base["office"]), base["context"].get("audience", "")):
                await self._suppress(base, Channel.EMAIL, Reason.NO_OFFICE_ADDRESS, now)
                return
            channel, fallbacks, contact = Channel.EMAIL, (), None
        await self.enqueue(base, channel, fallbacks, plan.scheduled_at, now, contact=contact, hand_off=True)

    async def _decide_awaiting(self, waiting: Sequence[Document]) -> None:
        """Decide messages that waited for their tenant's first contact (it came, or time is up)."""
        for doc in waiting:
            base = {k: v for k, v in doc["message"].items() if k != "scheduled_at"}
            plan = MessagePlan(
                template=base["template"],
                recipient=Recipient(base["recipient"]),
                policy=Policy(base["policy"]),
                context=base["context"],
                scheduled_at=doc["message"].get("scheduled_at"),
                urgent=base["urgent"],
            )
            try:
                await self.decide(base, plan, base["cause_time"], self.clock(), waiting_until=doc["until"])
            except (Rejected, TemplateProblem) as exc:  # cannot be built any more (templates changed)
                log.warning("a message waiting for a contact was dropped: %s", exc, extra={"office": base["office"]})
            await self.store.forget_awaiting(doc["_id"])

    async def enqueue(
        self,
        base: Document,
        channel: Channel,
        fallbacks: Sequence[Channel],
        scheduled_at: datetime | None,
        now: datetime,
        *,
        contact: Contact | None = None,
        hand_off: bool = False,
    ) -> None:
        """Build the message now (a template error fails here, never half-way at send time),
        record it once, and send it when due (``contact``: the tenant's, just read, if known).

        ``hand_off``: the send runs in the background (see ``_hand_off``) and this returns once
        the message is recorded and claimed, so the consumer goes on with its next batch."""
        office = self._office(base["office"])
        rendered = self.templates.render(office.id, base["template"], channel, base["context"])
        for other in fallbacks:  # the fallback must build too
            self.templates.render(office.id, base["template"], other, base["context"])
        segments = encoding = None
        text = rendered.text
        if channel is Channel.SMS:
            sms = prepare_sms(rendered.text, rewrite=self.settings.sms_gsm_rewrite)
            text, segments, encoding = sms.text, sms.segments, sms.encoding
        send_at = scheduled_at or now
        defer_reason = "scheduled" if scheduled_at else None
        if channel is Channel.SMS and base["recipient"] == Recipient.TENANT.value and not base["urgent"]:
            opening = next_opening(send_at, office.quiet_hours, office.tz)
            if opening > send_at:
                send_at, defer_reason = opening, defer_reason or "quiet_hours"
        nid = notification_id(base["cause_id"], base["template"], channel)
        doc: Document = {
            **base,
            "_id": nid,
            "channel": channel.value,
            "fallbacks": [c.value for c in fallbacks],
            "text": text,
            "subject_line": rendered.subject,
            "html": rendered.html,
            "segments": segments,
            "encoding": encoding,
            "status": st.PENDING,
            "send_at": send_at,
            "defer_reason": defer_reason,
            "lease_until": EPOCH,
            "attempts": 0,
            "created_at": now,
        }
        due = send_at <= now
        if due:  # inserting it is the claim: the unique id lets one instance only do it
            doc.update(status=st.SENDING, lease_until=now + self.lease, attempts=1)
        if not await self.store.insert(doc):
            await self._resume(nid, now)
            return
        if not due:
            self._count(doc, "deferred")
            await self.publisher.publish([deferred_event(doc)])
            return
        if hand_off:
            await self._hand_off(doc, contact)
        else:
            await self._send(doc, contact=contact)

    async def _suppress(self, base: Document, channel: Channel, reason: Reason, now: datetime) -> None:
        nid = notification_id(base["cause_id"], base["template"], channel)
        doc: Document = {
            **base,
            "_id": nid,
            "channel": channel.value,
            "fallbacks": [],
            "status": st.SUPPRESSED,
            "reason": reason.value,
            "send_at": now,
            "lease_until": EPOCH,
            "created_at": now,
            "outcome_at": now,
            "published": False,
        }
        if await self.store.insert(doc):
            self._count(doc, st.SUPPRESSED)
            await self._publish_outcome(doc)
        else:
            await self._resume(nid, now)

    async def _resume(self, nid: str, now: datetime) -> None:
        """A message decided before (redelivery, restart, another instance): finish its job."""
        doc = await self.store.get(nid)
        if doc is None:
            return
        if doc["status"] in st.TERMINAL:
            await self._publish_outcome(doc)  # same event id: downstream deduplicates
        elif doc["status"] == st.PENDING and doc["send_at"] > now:
            await self.publisher.publish([deferred_event(doc)])
        else:
            await self.dispatch(nid)

    # --- sending --------------------------------------------------------------------------------

    async def _hand_off(self, doc: Document, contact: Contact | None) -> None:
        """Send a claimed message in the background, at most ``send_concurrency`` at a time
        (the caller waits for a free slot: that is the consumer's back-pressure).

        The message is recorded as being sent by this instance until its lease ends: should the
        process die before the outcome is recorded, the dispatcher of any instance sends it after
        the lease. Messages of one request go out in the order they were decided."""
        if self._send_slots is None:
            self._send_slots = asyncio.Semaphore(self.settings.send_concurrency)
        await self._send_slots.acquire()
        key = (doc["office"], doc.get("request_id") or doc["subject"])
        before = self._last_send.get(key)
        task = asyncio.create_task(self._send_after(doc, contact, before), name=f"send {doc['_id']}")
        self._sends[task] = key
        self._last_send[key] = task
        task.add_done_callback(self._sent)

    async def _send_after(self, doc: Document, contact: Contact | None, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])
        try:
            await self._send(doc, contact=contact)
        except Exception:  # the lease ends and the dispatcher sends it: nothing is lost
            log.exception("sending a message failed, the dispatcher will take it over", extra={"office": doc["office"]})

    def _sent(self, task: asyncio.Task[None]) -> None:
        key = self._sends.pop(task)
        if self._last_send.get(key) is task:
            del self._last_send[key]
        assert self._send_slots is not None
        self._send_slots.release()

    async def drain(self, timeout: float) -> bool:
        """Wait until the sends in the background are done (at stop); False if some are left."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._sends:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._sends), timeout=left)
        return True

    async def dispatch(self, nid: str) -> None:
        """Send one due message if this instance wins its claim."""
        now = self.clock()
        doc = await self.store.claim(nid, now, self.lease)
        if doc is None:
            return
        await self._send(doc)

    async def _send(self, doc: Document, *, contact: Contact | None = None) -> None:
        """Hand a claimed message to its provider and record the outcome. ``contact`` is the
        tenant's as read when the message was decided an instant ago; otherwise it is read again
        (a deferred message goes to the address the tenant has at send time)."""
        now = self.clock()
        nid = doc["_id"]
        office = self._office(doc["office"])
        channel = Channel(doc["channel"])
        if doc["recipient"] == Recipient.TENANT.value:
            if contact is None and doc.get("tenant_ref"):
                contact = await self.store.get_contact(office.id, doc["tenant_ref"])
            reason = _unusable(contact, channel)
            if reason is not None:
                await self._finish(doc, st.SUPPRESSED, now, reason=reason.value)
                await self._fallback(doc, now)
                return
            assert contact is not None
            address = contact.address(channel)
            assert address is not None
            to: tuple[str, ...] = (address,)
        else:
            to = office_addresses(office, doc["context"].get("audience", ""))
        started = self.perf()
        try:
            if channel is Channel.SMS:
                await self.sms_limit.acquire()
                started = self.perf()
                provider_id = await self.sms.send_sms(
                    to=to[0], sender=office.sender_name, text=doc["text"], reference=nid
                )
            else:
                await self.email_limit.acquire()
                started = self.perf()
                provider_id = await self.email.send_email(
                    to=to,
                    sender_name=office.sender_name,
                    subject=doc["subject_line"],
                    text=doc["text"],
                    html=doc["html"],
                    reference=nid,
                )
        except PermanentFailure as exc:
            self.metrics.provider_seconds.labels(channel.value, "failed").observe(self.perf() - started)
            log.warning("provider refused a message: %s", exc.reason, extra={"office": office.id, "outcome": "failed"})
            await self._finish(doc, st.FAILED, self.clock(), reason=exc.reason)
            await self._fallback(doc, self.clock())
            return
        except TemporaryFailure as exc:
            self.metrics.provider_seconds.labels(channel.value, "retried").observe(self.perf() - started)
            log.warning("provider unavailable, message kept for later: %s", exc.reason, extra={"office": office.id})
            retry_at = self.clock() + timedelta(seconds=self.settings.retry_later_seconds)
            await self.store.release(nid, retry_at, exc.reason)
            self._count(doc, "retried")
            return
        self.metrics.provider_seconds.labels(channel.value, "sent").observe(self.perf() - started)
        if channel is Channel.SMS and doc.get("segments"):
            self.metrics.sms_segments.labels(office.id).inc(doc["segments"])
        masked = ", ".join(mask_recipient(a) for a in to)
        await self._finish(doc, st.SENT, self.clock(), provider_id=provider_id, recipient_masked=masked)

    async def _finish(self, doc: Document, status: str, now: datetime, **values: Any) -> None:
        """Emit the outcome, then record it; an outcome Kafka did not take is re-emitted by the
        dispatcher (``published`` False). Only the lease holder gets here."""
        final = {**doc, "status": status, "outcome_at": now, **values}
        try:
            await self.publisher.publish([outcome_event(final)])
            published = True
        except Exception:  # the broker is away: record the outcome anyway, re-emit later
            log.warning("outcome not published yet", extra={"office": doc["office"], "outcome": status})
            published = False
        if await self.store.finish(doc["_id"], int(doc.get("attempts", 0)), status, now, published=published, **values):
            self._count(doc, status)

    async def _fallback(self, doc: Document, now: datetime) -> None:
        """The first channel failed for good or became unusable: try the next one, once."""
        fallbacks = [Channel(c) for c in doc.get("fallbacks") or []]
        if not fallbacks:
            return
        base = {
            k: doc.get(k)
            for k in (
                "office",
                "cause_id",
                "cause_type",
                "cause_time",
                "subject",
                "tenant_ref",
                "request_id",
                "appointment_id",
                "template",
                "recipient",
                "policy",
                "context",
                "urgent",
            )
        }
        contact = await self.store.get_contact(doc["office"], doc["tenant_ref"]) if doc.get("tenant_ref") else None
        reason = _unusable(contact, fallbacks[0])
        if reason is not None:
            return  # the first channel's outcome already says why nothing went out
        await self.enqueue(base, fallbacks[0], fallbacks[1:], None, now)

    async def _publish_outcome(self, doc: Document) -> None:
        await self.publisher.publish([outcome_event(doc)])
        await self.store.mark_published(doc["_id"], doc["status"])

    def _count(self, doc: Document, outcome: str) -> None:
        self.metrics.messages.labels(doc["office"], doc["channel"], doc["template"], outcome).inc()

    # --- the dispatcher loop ----------------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Send what is due (deferred, scheduled, retried, or left by a crashed instance) and
        re-emit outcomes whose publication was interrupted. Safe with several instances."""
        now = self.clock()
        dispatched = 0
        for _ in range(DISPATCH_ROUNDS):  # a full batch is followed by the next one at once
            ids = await self.store.due(now, self.settings.dispatch_batch)
            await self._dispatch_all(ids)
            dispatched += len(ids)
            if len(ids) < self.settings.dispatch_batch:
                break
        stale_before = now - timedelta(seconds=self.settings.lease_seconds)
        for doc in await self.store.unpublished(self.settings.dispatch_batch):
            if (doc.get("outcome_at") or now) <= stale_before:
                await self._publish_outcome(doc)
        if now >= self._next_purge:  # claims are kept a day after their lease, then forgotten
            await self.store.purge_claims(now - CLAIMS_KEPT)
            self._next_purge = now + CLAIMS_PURGE_EVERY
        # messages whose tenant's first contact did not come in time: no_contact
        await self._decide_awaiting(await self.store.awaiting_due(now, self.settings.dispatch_batch))
        self.metrics.deferred_backlog.set(await self.store.deferred_backlog(now))
        return dispatched

    async def _dispatch_all(self, ids: Sequence[str]) -> None:
        """Dispatch messages concurrently, so that their claims and outcomes go in bulk (a Monday
        morning sends the whole weekend's deferred SMS at once); every one is tried, then the
        first failure is raised (the failed ones are due again at the next tick)."""
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def dispatch_one(nid: str) -> None:
            async with limit:
                await self.dispatch(nid)

        results = await asyncio.gather(*(dispatch_one(nid) for nid in ids), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # --- webhooks ---------------------------------------------------------------------------------

    async def delivery_receipt(self, reference: str, delivered: bool, reason: str | None) -> str:
        """A provider's delivery receipt for a sent SMS; a failure falls back to the other channel."""
        status = st.DELIVERED if delivered else st.FAILED
        # A fast provider can report delivery before this service has recorded the message as sent
        # (the send is still in flight): wait briefly for that, then ask the provider to retry.
        for attempt in range(RECEIPT_ATTEMPTS):
            now = self.clock()
            doc = await self.store.receipt(reference, status, now, reason)
            if doc is not None:
                break
            existing = await self.store.get(reference)
            if existing is None:
                return "unknown"
            if existing["status"] != st.SENDING:
                return "ignored"
            if attempt + 1 < RECEIPT_ATTEMPTS:
                await asyncio.sleep(RECEIPT_WAIT_SECONDS)
        else:
            return "in_flight"
        self._count(doc, status)
        await self._publish_outcome(doc)
        if not delivered:
            await self._fallback(doc, now)
        return status

    async def inbound_sms(self, sender: str, text: str, message_id: str) -> str:
        """An SMS a tenant sent: ``STOP`` withdraws SMS consent (and says so on office.tenants);
        anything else goes out as ``sms.replied`` for the tenant the number belongs to."""
        phone = normalise_phone(sender)
        contacts = await self.store.contacts_by_phone(phone)
        if not contacts:
            return "unknown_sender"
        now = self.clock()
        events: list[CloudEvent] = []
        stop = text.strip().upper() == "STOP"
        for contact in contacts:
            office, tenant = contact["office"], contact["tenant_ref"]
            if stop:
                await self.store.update_consent(office, tenant, Channel.SMS, False, now)
                events.append(
                    service_event(
                        TenantConsentChanged,
                        service=SERVICE,
                        officeid=office,
                        subject=tenant,
                        time=now,
                        data={"tenant_ref": tenant, "channel": "sms", "granted": False, "via": "stop_keyword"},
                        cause=[message_id, office, tenant],
                    )
                )
            else:
                events.append(
                    service_event(
                        SmsReplied,
                        service=SERVICE,
                        officeid=office,
                        subject=tenant,
                        time=now,
                        data={"tenant_ref": tenant, "text": text.strip()[:320]},
                        cause=[message_id, office, tenant],
                    )
                )
        await self.publisher.publish(events)
        return "consent_withdrawn" if stop else "replied"


def _unusable(contact: Contact | None, channel: Channel) -> Reason | None:
    if contact is None:
        return Reason.NO_CONTACT
    if contact.preferred is PreferredChannel.NONE:
        return Reason.PREFERENCE_NONE
    if not contact.address(channel):
        return Reason.NO_CONTACT
    if not contact.consents(channel):
        return Reason.CONSENT_WITHDRAWN
    return None
