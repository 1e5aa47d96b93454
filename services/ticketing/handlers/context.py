"""What every ticketing use case is given: the offices, the stores, the publisher, the metrics and
the clock (built once by the composition root, ``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.ticketing.metrics import TicketingMetrics
from services.ticketing.ports import AlertStore, Clock, EventPublisher, RequestStore, TrackerStore
from shared.offices import Office, Offices


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Ticketing:
    offices: Offices
    requests: RequestStore
    alerts: AlertStore
    publisher: EventPublisher
    metrics: TicketingMetrics
    clock: Clock = utc_now
    #: how long an instance may hold an alert it publishes before another one takes over
    publish_lease: timedelta = timedelta(seconds=30)
    #: most requests one sweep recomputes
    sweep_batch: int = 1000
    #: alerts revealed by consumed events wait for the request to be quiet this long, then the
    #: sweeper records them (zero: recorded by the consumer at once)
    alert_settle: timedelta = timedelta(0)
    #: tenant tracker links (None, or no secret: none recorded, every page "not found")
    trackers: TrackerStore | None = None
    tracker_secret: str | None = None

    def office(self, office_id: str) -> Office:
        office = self.offices.get(office_id)
        if office is None:  # the consumer dead-letters unknown offices before they get here
            raise ValueError(f"unknown office {office_id!r}")
        return office
