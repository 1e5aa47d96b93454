"""In-memory twin of the notifications store (``ports.NotificationStore``), for fast use-case
tests; ``tests/notifications/test_store_contract.py`` runs the same contract against it and the
MongoDB store, so it cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.events import Channel, PreferredChannel, Recipient

from .domain.digests import DIGEST
from .domain.followups import Followup, FollowupStatus
from .domain.messages import AppointmentInfo, RequestInfo
from .domain.policy import Contact
from .domain.records import (
    TERMINAL,
    AuditEntry,
    ContactRef,
    Message,
    PendingFilter,
    Status,
    Waiting,
    about,
    audit_entry,
    waiting_entry,
)

#: what erasure leaves in the log (``mask_log``)
ERASED = "effacé"


@dataclass
class _ContactRow:
    """What the store knows of one tenant's contact, and since when (event times)."""

    office: str
    tenant_ref: str
    phone: str | None = None
    email: str | None = None
    preferred: PreferredChannel | None = None
    sms_consent: bool | None = None
    email_consent: bool | None = None
    contact_time: datetime | None = None
    sms_consent_time: datetime | None = None
    email_consent_time: datetime | None = None
    erased_at: datetime | None = None


def _newer(known: datetime | None, at: datetime) -> bool:
    return known is None or known <= at


class MemoryNotificationStore:
    """Every store port in dictionaries; each method completes without yielding, so concurrent
    callers see each effect whole (as the MongoDB store's conditional writes give)."""

    def __init__(self) -> None:
        self.contacts: dict[tuple[str, str], _ContactRow] = {}
        self.requests: dict[tuple[str, str], RequestInfo] = {}
        self.appointments: dict[tuple[str, str, str], AppointmentInfo] = {}
        #: the (event time, cause id) of the scheduling each appointment's slot comes from
        self.scheduled_by: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        self.messages: dict[str, Message] = {}
        self.claims: dict[str, datetime] = {}
        self.waiting: dict[str, Waiting] = {}
        self._triples: set[tuple[str, str, Channel]] = set()

    # --- contacts and consents ------------------------------------------------------------------

    def _row(self, office: str, tenant_ref: str) -> _ContactRow:
        return self.contacts.setdefault((office, tenant_ref), _ContactRow(office, tenant_ref))

    async def update_contact(
        self,
        office: str,
        tenant_ref: str,
        at: datetime,
        *,
        phone: str | None,
        email: str | None,
        preferred: PreferredChannel,
    ) -> bool:
        known = self.contacts.get((office, tenant_ref))
        if known is not None and not _newer(known.contact_time, at):
            return False
        row = self._row(office, tenant_ref)
        row.phone, row.email, row.preferred, row.contact_time = phone, email, preferred, at
        return True

    async def update_consent(self, office: str, tenant_ref: str, channel: Channel, granted: bool, at: datetime) -> bool:
        known = self.contacts.get((office, tenant_ref))
        sms = channel is Channel.SMS
        if known is not None and not _newer(known.sms_consent_time if sms else known.email_consent_time, at):
            return False
        row = self._row(office, tenant_ref)
        if sms:
            row.sms_consent, row.sms_consent_time = granted, at
        else:
            row.email_consent, row.email_consent_time = granted, at
        return True

    async def get_contact(self, office: str, tenant_ref: str) -> Contact | None:
        row = self.contacts.get((office, tenant_ref))
        if row is None or (not row.phone and not row.email and row.preferred is None):
            return None
        return Contact(
            phone=row.phone,
            email=row.email,
            preferred=row.preferred or PreferredChannel.SMS,
            sms_consent=row.sms_consent if row.sms_consent is not None else True,
            email_consent=row.email_consent if row.email_consent is not None else True,
        )

    async def has_contact_record(self, office: str, tenant_ref: str) -> bool:
        return (office, tenant_ref) in self.contacts

    async def contacts_by_phone(self, phone: str) -> list[ContactRef]:
        return [ContactRef(r.office, r.tenant_ref) for r in self.contacts.values() if r.phone == phone]

    async def erase_contact(self, office: str, tenant_ref: str, at: datetime) -> None:
        self.contacts[(office, tenant_ref)] = _ContactRow(
            office, tenant_ref, contact_time=at, sms_consent_time=at, email_consent_time=at, erased_at=at
        )

    async def purge_personal(self, bodies_before: datetime, contacts_before: datetime) -> int:
        changed = 0
        for nid, message in list(self.messages.items()):
            if message.created_at < bodies_before and (message.text is not None or message.html is not None):
                draft = replace(message.draft, context={})
                self.messages[nid] = replace(message, draft=draft, text=None, html=None)
                changed += 1
        for key, row in list(self.contacts.items()):
            times = (row.contact_time, row.sms_consent_time, row.email_consent_time)
            if all(t is None or t < contacts_before for t in times):
                del self.contacts[key]
                changed += 1
        return changed

    async def mask_log(self, office: str, tenant_ref: str, at: datetime) -> None:
        request_ids = {r for (o, r), info in self.requests.items() if o == office and info.tenant_ref == tenant_ref}
        for key in [(office, r) for r in request_ids]:
            self.requests[key] = replace(self.requests[key], tenant_ref=None)
        subjects = {
            m.draft.subject
            for m in self.messages.values()
            if m.draft.office == office and m.draft.tenant_ref == tenant_ref and m.draft.subject
        }
        digests: set[str] = set()
        for nid, message in list(self.messages.items()):
            draft = message.draft
            about = draft.request_id in request_ids or draft.subject in subjects
            if draft.office == office and about and draft.recipient is Recipient.OFFICE:
                if message.status in (Status.PENDING, Status.GROUPED):  # not gone out: never will
                    message = replace(
                        message, status=Status.SUPPRESSED, reason="erased", outcome_at=at, published=False
                    )
                self.messages[nid] = replace(message, draft=replace(draft, context={}), text=None, html=None)
                if message.digest:
                    digests.add(message.digest)
        for nid, message in list(self.messages.items()):
            draft = message.draft
            if draft.office == office and draft.cause_type == DIGEST and draft.cause_id in digests:
                self.messages[nid] = replace(message, draft=replace(draft, context={}), text=None, html=None)
        for nid, message in list(self.messages.items()):
            draft = message.draft
            if draft.office == office and draft.tenant_ref == tenant_ref:
                masked = replace(draft, tenant_ref=None, context={})
                self.messages[nid] = replace(message, draft=masked, recipient_masked=ERASED, text=None, html=None)

    # --- messages waiting for their tenant's first contact ----------------------------------

    async def await_contact(self, waiting: Waiting) -> None:
        self.waiting.setdefault(waiting.key, waiting)

    async def awaiting_for(self, office: str, tenant_ref: str) -> list[Waiting]:
        return [w for w in self.waiting.values() if (w.draft.office, w.draft.tenant_ref) == (office, tenant_ref)]

    async def awaiting_due(self, now: datetime, limit: int) -> list[Waiting]:
        return [w for w in self.waiting.values() if w.until <= now][:limit]

    async def forget_awaiting(self, key: str) -> None:
        self.waiting.pop(key, None)

    async def audit_awaiting(self, office: str | None, subject: str | None, limit: int) -> list[AuditEntry]:
        found = [
            waiting_entry(w)
            for w in self.waiting.values()
            if (not office or w.draft.office == office) and (not subject or about(w.draft, subject))
        ]
        return found[:limit]

    # --- request details ------------------------------------------------------------------------

    async def save_request(self, office: str, request_id: str, details: RequestInfo) -> None:
        known = self.requests.get((office, request_id), RequestInfo())
        given = {k: v for k, v in vars(details).items() if v is not None}
        self.requests[(office, request_id)] = replace(known, **given)

    async def get_request(self, office: str, request_id: str) -> RequestInfo | None:
        return self.requests.get((office, request_id))

    async def save_appointment(
        self, office: str, request_id: str, appointment_id: str, details: AppointmentInfo, at: datetime, cause: str
    ) -> bool:
        key = (office, request_id, appointment_id)
        known = self.scheduled_by.get(key)
        if known is not None and known > (at, cause):
            return False
        self.appointments[key] = details
        self.scheduled_by[key] = (at, cause)
        return True

    async def get_appointment(self, office: str, request_id: str, appointment_id: str) -> AppointmentInfo | None:
        return self.appointments.get((office, request_id, appointment_id))

    # --- the notifications log ------------------------------------------------------------------

    async def insert(self, message: Message) -> bool:
        triple = (message.draft.cause_id, message.template, message.channel)
        if message.id in self.messages or triple in self._triples:  # the store's unique keys
            return False
        self.messages[message.id] = message
        self._triples.add(triple)
        return True

    async def get(self, notification_id: str) -> Message | None:
        return self.messages.get(notification_id)

    async def claim(self, notification_id: str, now: datetime, lease: timedelta) -> Message | None:
        message = self.messages.get(notification_id)
        if message is None or message.status not in (Status.PENDING, Status.SENDING):
            return None
        if message.send_at > now or message.lease_until > now:
            return None
        attempt = message.attempts + 1
        while f"{notification_id}/{attempt}" in self.claims:
            if self.claims[f"{notification_id}/{attempt}"] > now:
                return None  # another instance holds it
            attempt += 1  # that attempt's holder died before recording it
        self.claims[f"{notification_id}/{attempt}"] = now + lease
        claimed = replace(message, status=Status.SENDING, lease_until=now + lease, attempts=attempt)
        self.messages[notification_id] = claimed
        return claimed

    async def renew_leases(self, claims: Sequence[tuple[str, int]], until: datetime) -> None:
        for nid, attempt in claims:
            message = self.messages.get(nid)
            if message is not None and message.status is Status.SENDING and message.attempts == attempt:
                self.messages[nid] = replace(message, lease_until=until)

    async def finish(
        self,
        notification_id: str,
        attempt: int,
        status: Status,
        now: datetime,
        *,
        published: bool | None = None,
        reason: str | None = None,
        provider_id: str | None = None,
        recipient_masked: str | None = None,
    ) -> bool:
        message = self.messages.get(notification_id)
        if message is None or message.status is not Status.SENDING or message.attempts != attempt:
            return False
        self.messages[notification_id] = replace(
            message,
            status=status,
            outcome_at=now,
            published=message.published if published is None else published,
            reason=reason or message.reason,
            provider_id=provider_id or message.provider_id,
            recipient_masked=recipient_masked or message.recipient_masked,
        )
        return True

    async def release(self, notification_id: str, retry_at: datetime, reason: str) -> None:
        message = self.messages.get(notification_id)
        if message is not None and message.status is Status.SENDING:
            self.messages[notification_id] = replace(
                message, status=Status.PENDING, send_at=retry_at, lease_until=retry_at, last_error=reason
            )

    async def receipt(self, notification_id: str, status: Status, now: datetime, reason: str | None) -> Message | None:
        message = self.messages.get(notification_id)
        if message is None or message.status is not Status.SENT:
            return None
        updated = replace(message, status=status, outcome_at=now, published=False, reason=reason)
        self.messages[notification_id] = updated
        return updated

    async def mark_published(self, notification_id: str, status: Status) -> None:
        message = self.messages.get(notification_id)
        if message is not None and message.status is status:
            self.messages[notification_id] = replace(message, published=True)

    async def cancel_pending(self, which: PendingFilter, reason: str, now: datetime) -> list[Message]:
        cancelled = []
        for message in list(self.messages.values()):
            if message.status is Status.PENDING and _matches(message, which):
                done = replace(message, status=Status.SUPPRESSED, reason=reason, outcome_at=now, published=False)
                self.messages[message.id] = done
                cancelled.append(done)
        return cancelled

    async def due_digests(self, now: datetime, limit: int) -> list[str]:
        keys = {
            m.digest for m in self.messages.values() if m.status is Status.GROUPED and m.send_at <= now and m.digest
        }
        return sorted(k for k in keys if k)[:limit]

    async def grouped(self, digest: str) -> list[Message]:
        return [m for m in self.messages.values() if m.status is Status.GROUPED and m.digest == digest]

    async def finish_grouped(
        self,
        ids: Sequence[str],
        status: Status,
        now: datetime,
        *,
        reason: str | None = None,
        recipient_masked: str | None = None,
    ) -> list[Message]:
        changed = []
        for nid in ids:
            message = self.messages.get(nid)
            if message is None or message.status is not Status.GROUPED:
                continue
            done = replace(
                message,
                status=status,
                outcome_at=now,
                published=False,
                reason=reason or message.reason,
                recipient_masked=recipient_masked or message.recipient_masked,
            )
            self.messages[nid] = done
            changed.append(done)
        return changed

    async def regroup(self, ids: Sequence[str], digest: str, send_at: datetime) -> None:
        for nid in ids:
            message = self.messages.get(nid)
            if message is not None and message.status is Status.GROUPED:
                self.messages[nid] = replace(message, digest=digest, send_at=send_at)

    async def due(self, now: datetime, limit: int) -> list[str]:
        queued = (Status.PENDING, Status.SENDING)
        found = [
            m.id for m in self.messages.values() if m.status in queued and m.send_at <= now and m.lease_until <= now
        ]
        return found[:limit]

    async def unpublished(self, limit: int) -> list[Message]:
        return [m for m in self.messages.values() if m.published is False and m.status in TERMINAL][:limit]

    async def purge_claims(self, before: datetime) -> int:
        expired = [key for key, lease_until in self.claims.items() if lease_until < before]
        for key in expired:
            del self.claims[key]
        return len(expired)

    async def deferred_backlog(self, now: datetime) -> int:
        return sum(1 for m in self.messages.values() if m.status is Status.PENDING and m.send_at > now)

    async def audit(
        self,
        office: str | None,
        subject: str | None,
        limit: int,
        *,
        status: str | None = None,
        reason: str | None = None,
    ) -> list[AuditEntry]:
        found = [
            m
            for m in self.messages.values()
            if (not office or m.office == office)
            and (not subject or about(m.draft, subject))
            and (not status or m.status.value == status)
            and (not reason or m.reason == reason)
        ]
        found.sort(key=lambda m: m.created_at)
        return [audit_entry(m) for m in found[:limit]]


def _matches(message: Message, which: PendingFilter) -> bool:
    draft = message.draft
    wanted = (
        (draft.office, which.office),
        (draft.request_id, which.request_id),
        (draft.appointment_id, which.appointment_id),
        (draft.tenant_ref, which.tenant_ref),
        (draft.template, which.template),
    )
    if any(expected is not None and value != expected for value, expected in wanted):
        return False
    return which.except_cause is None or draft.cause_id != which.except_cause


class MemoryWebhookIds:
    """Accepted webhook ids and their expiry, in a dictionary."""

    def __init__(self) -> None:
        self.ids: dict[str, datetime] = {}

    async def accept_webhook_id(self, msg_id: str, expires_at: datetime) -> bool:
        if msg_id in self.ids:
            return False
        self.ids[msg_id] = expires_at
        return True

    async def forget_webhook_id(self, msg_id: str) -> None:
        self.ids.pop(msg_id, None)

    async def purge_webhook_ids(self, now: datetime) -> int:
        expired = [k for k, at in self.ids.items() if at <= now]
        for key in expired:
            del self.ids[key]
        return len(expired)


class MemoryFollowupStore:
    """Follow-up tasks and apology owners in dictionaries."""

    def __init__(self) -> None:
        self.tasks: dict[str, Followup] = {}
        self.apologies: dict[str, str] = {}

    async def add_followup(self, task: Followup) -> bool:
        if task.id in self.tasks:
            return False
        self.tasks[task.id] = task
        return True

    async def get_followup(self, followup_id: str) -> Followup | None:
        return self.tasks.get(followup_id)

    async def followups(self, office: str | None, status: str | None, limit: int) -> list[Followup]:
        found = [
            t
            for t in self.tasks.values()
            if (office is None or t.office == office) and (status is None or t.status.value == status)
        ]
        return sorted(found, key=lambda t: (t.created_at, t.id))[:limit]

    async def finish_followup(self, task: Followup) -> bool:
        current = self.tasks.get(task.id)
        if current is None or current.status is not FollowupStatus.OPEN:
            return False
        self.tasks[task.id] = replace(
            current,
            status=task.status,
            channel=task.channel,
            outcome=task.outcome,
            done_at=task.done_at,
            published=task.published,
        )
        return True

    async def unpublished_followups(self, limit: int) -> list[Followup]:
        pending = [t for t in self.tasks.values() if not t.published]
        return sorted(pending, key=lambda t: (t.done_at or t.created_at, t.id))[:limit]

    async def mark_followups_published(self, ids: Sequence[str]) -> None:
        for i in ids:
            if i in self.tasks:
                self.tasks[i] = replace(self.tasks[i], published=True)

    async def erase_followups(self, office: str, tenant_ref: str) -> int:
        gone = [i for i, t in self.tasks.items() if t.office == office and t.tenant_ref == tenant_ref]
        for i in gone:
            del self.tasks[i]
        return len(gone)

    async def purge_followups(self, before: datetime) -> int:
        old = [i for i, t in self.tasks.items() if t.created_at < before and (t.text or t.tenant_ref is not None)]
        for i in old:
            self.tasks[i] = replace(self.tasks[i], text="", tenant_ref=None)
        return len(old)

    async def apology_cause(self, key: str, cause_id: str) -> str:
        return self.apologies.setdefault(key, cause_id)
