"""What the use cases need from the outside, as Protocols: the stores (``store.py`` on MongoDB,
``store_memory.py`` in memory, both checked by the same contract tests), the bus publisher, the
SMS and e-mail providers (``providers.py``) and the clock (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from shared.events import Channel, CloudEvent, PreferredChannel

from .domain.followups import Followup
from .domain.messages import AppointmentInfo, RequestInfo
from .domain.policy import Contact
from .domain.records import AuditEntry, ContactRef, Message, PendingFilter, Status, Waiting


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class Publisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...


class SmsProvider(Protocol):
    """Sends one SMS; ``reference`` (the notification id) lets a provider that supports it
    deduplicate retries."""

    #: whether the provider itself drops a second send with the same ``reference`` (then even a
    #: crash between its answer and the record never reaches the tenant twice); see
    #: docs/notifications.md, "Outages and re-sends"
    deduplicates_by_reference: bool

    async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None: ...


class EmailProvider(Protocol):
    """Sends one e-mail with a plain-text and an HTML part."""

    #: whether a second send with the same ``reference`` is dropped before the tenant's mailbox
    deduplicates_by_reference: bool

    async def send_email(
        self, *, to: Sequence[str], sender_name: str, subject: str, text: str, html: str, reference: str
    ) -> str | None: ...


class ContactStore(Protocol):
    """Contacts and consents: the only place phone numbers and e-mail addresses are kept.
    Facts older than the stored one (by event time) change nothing."""

    async def update_contact(
        self,
        office: str,
        tenant_ref: str,
        at: datetime,
        *,
        phone: str | None,
        email: str | None,
        preferred: PreferredChannel,
    ) -> bool: ...

    async def update_consent(
        self, office: str, tenant_ref: str, channel: Channel, granted: bool, at: datetime
    ) -> bool: ...

    async def get_contact(self, office: str, tenant_ref: str) -> Contact | None: ...

    async def has_contact_record(self, office: str, tenant_ref: str) -> bool: ...

    async def contacts_by_phone(self, phone: str) -> list[ContactRef]: ...

    async def erase_contact(self, office: str, tenant_ref: str, at: datetime) -> None: ...


class RequestStore(Protocol):
    """What the service remembers of requests and appointments to write about them."""

    async def save_request(self, office: str, request_id: str, details: RequestInfo) -> None: ...

    async def get_request(self, office: str, request_id: str) -> RequestInfo | None: ...

    async def save_appointment(
        self, office: str, request_id: str, appointment_id: str, details: AppointmentInfo, at: datetime, cause: str
    ) -> bool:
        """Keep the slot unless a later scheduling (event time, then cause id) is kept: False then."""
        ...

    async def get_appointment(self, office: str, request_id: str, appointment_id: str) -> AppointmentInfo | None: ...


class WaitingStore(Protocol):
    """Messages waiting for their tenant's first contact."""

    async def await_contact(self, waiting: Waiting) -> None: ...

    async def awaiting_for(self, office: str, tenant_ref: str) -> list[Waiting]: ...

    async def awaiting_due(self, now: datetime, limit: int) -> list[Waiting]: ...

    async def forget_awaiting(self, key: str) -> None: ...

    async def audit_awaiting(self, office: str | None, subject: str | None, limit: int) -> list[AuditEntry]: ...


class MessageStore(Protocol):
    """The notifications log, which is also the queue of scheduled and deferred sends; conditional
    writes make every effect idempotent and let one instance only send a message."""

    async def insert(self, message: Message) -> bool: ...

    async def get(self, notification_id: str) -> Message | None: ...

    async def claim(self, notification_id: str, now: datetime, lease: timedelta) -> Message | None: ...

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
    ) -> bool: ...

    async def renew_leases(self, claims: Sequence[tuple[str, int]], until: datetime) -> None:
        """Extend to ``until`` the lease of each (message id, claim attempt) still being sent
        under that attempt (a message taken over meanwhile keeps its new holder's lease)."""
        ...

    async def release(self, notification_id: str, retry_at: datetime, reason: str) -> None: ...

    async def receipt(
        self, notification_id: str, status: Status, now: datetime, reason: str | None
    ) -> Message | None: ...

    async def mark_published(self, notification_id: str, status: Status) -> None: ...

    async def cancel_pending(self, which: PendingFilter, reason: str, now: datetime) -> list[Message]: ...

    async def due(self, now: datetime, limit: int) -> list[str]: ...

    async def unpublished(self, limit: int) -> list[Message]: ...

    async def purge_claims(self, before: datetime) -> int: ...

    async def deferred_backlog(self, now: datetime) -> int: ...

    async def mask_log(self, office: str, tenant_ref: str, at: datetime) -> None:
        """Erasure: the tenant's messages lose recipient, tenant, text and context; so do the office
        alerts about them (one of their requests, or a survey or campaign survey sent to them: the
        alert's subject) and the digests that listed such an alert. Such an alert that has not gone
        out yet (waiting, or grouped for a digest) is suppressed at ``at`` (reason ``erased``):
        blanked, it would tell the office nothing."""
        ...

    async def audit(
        self,
        office: str | None,
        subject: str | None,
        limit: int,
        *,
        status: str | None = None,
        reason: str | None = None,
    ) -> list[AuditEntry]: ...


class DigestStore(Protocol):
    """Office alerts waiting for their office's digest (status ``grouped``); the digest itself is
    a message of the log, recorded once under its key like every message."""

    async def due_digests(self, now: datetime, limit: int) -> list[str]: ...

    async def grouped(self, digest: str) -> list[Message]: ...

    async def finish_grouped(
        self,
        ids: Sequence[str],
        status: Status,
        now: datetime,
        *,
        reason: str | None = None,
        recipient_masked: str | None = None,
    ) -> list[Message]: ...

    async def regroup(self, ids: Sequence[str], digest: str, send_at: datetime) -> None: ...


class RetentionStore(Protocol):
    async def purge_personal(self, bodies_before: datetime, contacts_before: datetime) -> int:
        """Storage limitation: the texts of messages created before ``bodies_before`` dropped (the
        log of what happened stays); the contacts (and erasure tombstones) whose latest fact is
        older than ``contacts_before`` forgotten. Returns how many records changed."""
        ...


class WebhookIdStore(Protocol):
    """The ids of the webhook calls accepted (Standard Webhooks ``webhook-id``), kept until they
    expire so that a replayed call is refused."""

    async def accept_webhook_id(self, msg_id: str, expires_at: datetime) -> bool:
        """Record the id; False when it is already recorded (a replay)."""
        ...

    async def forget_webhook_id(self, msg_id: str) -> None:
        """Give an id back (its call failed and the sender may retry it)."""
        ...

    async def purge_webhook_ids(self, now: datetime) -> int:
        """Forget the ids expired at ``now``; return how many."""
        ...


class FollowupStore(Protocol):
    """Follow-up tasks (one per cause and message) and the first cause of each tenant apology."""

    async def add_followup(self, task: Followup) -> bool:
        """Keep a new task; False when one with its id exists (a redelivered cause)."""
        ...

    async def get_followup(self, followup_id: str) -> Followup | None: ...

    async def followups(self, office: str | None, status: str | None, limit: int) -> list[Followup]:
        """Tasks of an office (every office: None), optionally of one status, oldest first."""
        ...

    async def finish_followup(self, task: Followup) -> bool:
        """Record a task done (``task`` as done) if it is still open; False if it was not."""
        ...

    async def unpublished_followups(self, limit: int) -> list[Followup]:
        """Tasks done whose ``followup.done`` has not reached the bus yet."""
        ...

    async def mark_followups_published(self, ids: Sequence[str]) -> None: ...

    async def erase_followups(self, office: str, tenant_ref: str) -> int:
        """Delete every task about the tenant; return how many."""
        ...

    async def purge_followups(self, before: datetime) -> int:
        """Storage limitation: blank the text and the tenant reference of the tasks created before
        ``before`` (open or done; the task, its status, outcome and dates stay); return how many
        changed."""
        ...

    async def apology_cause(self, key: str, cause_id: str) -> str:
        """The cause that owns the apology ``key`` (this one if none did yet)."""
        ...


class NotificationStore(ContactStore, RequestStore, WaitingStore, MessageStore, DigestStore, RetentionStore, Protocol):
    """Every store port at once (one database)."""


__all__ = [
    "Clock",
    "ContactStore",
    "DigestStore",
    "EmailProvider",
    "FollowupStore",
    "MessageStore",
    "NotificationStore",
    "Publisher",
    "RequestStore",
    "SmsProvider",
    "WaitingStore",
    "WebhookIdStore",
]
