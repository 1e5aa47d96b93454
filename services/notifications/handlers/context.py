"""What every use case of the notifications service shares: its ports, settings and the few
helpers they all use (the office of a message, counting an outcome, publishing it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.bus import Rejected
from shared.offices import Office, Offices

from ..domain.outcomes import outcome_event
from ..domain.records import Message
from ..metrics import NotificationMetrics
from ..ports import Clock, NotificationStore, Publisher
from ..settings import NotificationsSettings
from ..templates import Templates


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """The ports and settings of the use cases (built in ``app.py``)."""

    store: NotificationStore
    templates: Templates
    offices: Offices
    publisher: Publisher
    metrics: NotificationMetrics
    settings: NotificationsSettings
    clock: Clock = utcnow

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def office(self, office_id: str) -> Office:
        office = self.offices.get(office_id)
        if office is None:
            raise Rejected(f"officeid: unknown office {office_id!r}")
        return office

    def count(self, message: Message, outcome: str) -> None:
        self.metrics.messages.labels(message.office, message.channel.value, message.template, outcome).inc()

    async def publish_outcome(self, message: Message) -> None:
        """(Re-)emit the outcome of a message in a final state, then mark it published."""
        await self.publisher.publish([outcome_event(message)])
        await self.store.mark_published(message.id, message.status)
