"""What every use case of the notifications service shares: its ports, settings and the few
helpers they all use (the office of a message, counting an outcome, publishing it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.bus import Rejected
from shared.offices import Office, Offices
from shared.outbox import Relay

from ..domain.records import Message
from ..metrics import NotificationMetrics
from ..ports import Clock, FollowupStore, NotificationStore, Publisher
from ..settings import NotificationsSettings
from ..templates import Templates
from .publishing import RecordedOutcomes


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
    #: follow-up tasks and apology owners (None: no task is opened, no apology sent)
    followup_store: FollowupStore | None = None
    outcomes: RecordedOutcomes = field(init=False)
    #: publishes recorded outcomes and marks them published (``shared/outbox.py``)
    relay: Relay = field(init=False)

    def __post_init__(self) -> None:
        self.outcomes = RecordedOutcomes(self.store)
        self.relay = Relay(self.outcomes, self.publisher, self.clock)

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
        """(Re-)emit the recorded outcome of a message in a final state, then mark it published."""
        await self.relay.publish([self.outcomes.event(message)])
