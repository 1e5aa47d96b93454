"""The events this service emits about its messages, with deterministic ids (a re-emitted
outcome is the same event, downstream deduplicates)."""

from __future__ import annotations

from typing import Any

from shared.events import (
    Channel,
    CloudEvent,
    NotificationDeferred,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    derived_id,
    service_event,
)

from .records import Message, Status

SERVICE = "notifications"

_OUTCOME_CLASSES: dict[Status, type[CloudEvent]] = {
    Status.SENT: NotificationSent,
    Status.DELIVERED: NotificationDelivered,
    Status.FAILED: NotificationFailed,
    Status.SUPPRESSED: NotificationSuppressed,
}


def notification_id(cause_id: str, template: str, channel: Channel) -> str:
    """One message per (cause event, template, channel): its id is derived from the three."""
    return derived_id("notification", cause_id, template, channel.value)


def _data(message: Message) -> dict[str, Any]:
    return {
        "notification_id": message.id,
        "cause_id": message.draft.cause_id,
        "channel": message.channel.value,
        "template": message.template,
        "recipient": message.draft.recipient.value,
    }


def outcome_event(message: Message) -> CloudEvent:
    """The ``notification.*`` event of a message in a final state (same id when re-emitted)."""
    data = _data(message)
    if message.reason:
        data["reason"] = message.reason[:200]
    sent = message.status in (Status.SENT, Status.DELIVERED)
    if message.channel is Channel.SMS and sent and message.segments:
        data["sms_segments"] = message.segments
    return service_event(
        _OUTCOME_CLASSES[message.status],
        service=SERVICE,
        officeid=message.office,
        subject=message.id,
        time=message.outcome_at or message.created_at,
        data=data,
        cause=[message.id],
    )


def deferred_event(message: Message) -> CloudEvent:
    data = {
        **_data(message),
        "reason": message.defer_reason or "quiet_hours",
        "send_at": message.send_at.isoformat(),
    }
    if message.segments:
        data["sms_segments"] = message.segments
    return service_event(
        NotificationDeferred,
        service=SERVICE,
        officeid=message.office,
        subject=message.id,
        time=message.created_at,
        data=data,
        cause=[message.id],
    )
