"""The records of the notifications service: a message (decided, then sent or not), a message
waiting for its tenant's first contact, and an entry of the audit list. Pure values: the store
turns them into documents and back (see docs/DOMAIN.md, notifications)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.events import Channel, Recipient

from .policy import MessagePlan, Policy

#: "never": the lease of a message nobody holds
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Status(StrEnum):
    """Where a message stands."""

    PENDING = "pending"  # waiting for its send time (deferred, scheduled, retried later)
    GROUPED = "grouped"  # an office alert waiting for its office's digest (``digest``)
    SENDING = "sending"  # claimed by one instance until ``lease_until``
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


TERMINAL = (Status.SENT, Status.DELIVERED, Status.FAILED, Status.SUPPRESSED)
#: in the audit list only: decided before anything was known of the tenant
AWAITING_CONTACT = "awaiting_contact"


@dataclass(frozen=True)
class Draft:
    """A message as its cause decided it, before its channel is chosen."""

    office: str
    cause_id: str
    cause_type: str
    cause_time: datetime
    subject: str
    tenant_ref: str | None
    request_id: str | None
    appointment_id: str | None
    template: str
    recipient: Recipient
    policy: Policy
    context: dict[str, Any] = field(default_factory=dict)
    urgent: bool = False

    @property
    def audience(self) -> str:
        """Which office team an office message goes to (``alert`` or ``manager``)."""
        return str(self.context.get("audience", ""))

    def plan(self, scheduled_at: datetime | None) -> MessagePlan:
        return MessagePlan(self.template, self.recipient, self.policy, self.context, scheduled_at, self.urgent)


@dataclass(frozen=True)
class Message:
    """One message on one channel: the notifications log's entry and the queue's item."""

    id: str
    draft: Draft
    channel: Channel
    status: Status
    send_at: datetime
    created_at: datetime
    fallbacks: tuple[Channel, ...] = ()
    lease_until: datetime = EPOCH
    attempts: int = 0
    text: str | None = None
    subject_line: str | None = None
    html: str | None = None
    segments: int | None = None
    encoding: str | None = None
    defer_reason: str | None = None
    reason: str | None = None
    outcome_at: datetime | None = None
    #: whether its outcome event is on the bus (None: no outcome yet)
    published: bool | None = None
    provider_id: str | None = None
    recipient_masked: str | None = None
    last_error: str | None = None
    #: an alert listed in a digest: that digest's key; a digest: its own key
    digest: str | None = None
    #: a digest: the ids of the alerts it lists (their outcome is the digest's)
    members: tuple[str, ...] = ()

    @property
    def office(self) -> str:
        return self.draft.office

    @property
    def template(self) -> str:
        return self.draft.template

    @property
    def to_tenant(self) -> bool:
        return self.draft.recipient is Recipient.TENANT

    @property
    def order_key(self) -> tuple[str, str]:
        """Messages with the same key go out in the order they were decided."""
        return (self.draft.office, self.draft.request_id or self.draft.subject)


@dataclass(frozen=True)
class Waiting:
    """A tenant message decided before any contact of its tenant arrived, kept until ``until``."""

    key: str
    draft: Draft
    scheduled_at: datetime | None
    until: datetime
    created_at: datetime


@dataclass(frozen=True)
class PendingFilter:
    """Which pending messages to cancel: every given field must match."""

    office: str
    request_id: str | None = None
    appointment_id: str | None = None
    tenant_ref: str | None = None
    template: str | None = None
    #: leave out the messages of this cause
    except_cause: str | None = None


class AuditEntry(BaseModel):
    """One line of the audit list (no texts, recipient masked)."""

    model_config = ConfigDict(frozen=True)

    id: str
    office: str
    cause_id: str
    cause_type: str | None
    subject: str | None
    request_id: str | None
    template: str
    #: None while the message waits for its tenant's first contact
    channel: str | None
    recipient: str
    to: str | None
    status: str
    reason: str | None
    sms_segments: int | None
    send_at: datetime | None
    created_at: datetime
    outcome_at: datetime | None


def audit_entry(message: Message) -> AuditEntry:
    draft = message.draft
    return AuditEntry(
        id=message.id,
        office=draft.office,
        cause_id=draft.cause_id,
        cause_type=draft.cause_type or None,
        subject=draft.subject or None,
        request_id=draft.request_id,
        template=draft.template,
        channel=message.channel.value,
        recipient=draft.recipient.value,
        to=message.recipient_masked,
        status=message.status.value,
        reason=message.reason,
        sms_segments=message.segments,
        send_at=message.send_at,
        created_at=message.created_at,
        outcome_at=message.outcome_at,
    )


def waiting_entry(waiting: Waiting) -> AuditEntry:
    """A message waiting for its tenant's first contact, as an entry of the log: status
    ``awaiting_contact``, no channel yet, ``send_at`` the end of the wait."""
    draft = waiting.draft
    return AuditEntry(
        id=waiting.key,
        office=draft.office,
        cause_id=draft.cause_id,
        cause_type=draft.cause_type or None,
        subject=draft.subject or None,
        request_id=draft.request_id,
        template=draft.template,
        channel=None,
        recipient=draft.recipient.value,
        to=None,
        status=AWAITING_CONTACT,
        reason=None,
        sms_segments=None,
        send_at=waiting.until,
        created_at=waiting.created_at,
        outcome_at=None,
    )


def about(draft: Draft, subject: str) -> bool:
    """Whether a message is about ``subject`` (its subject, request or tenant)."""
    return subject in (draft.subject, draft.request_id, draft.tenant_ref)


@dataclass(frozen=True)
class ContactRef:
    """A tenant a phone number belongs to."""

    office: str
    tenant_ref: str
