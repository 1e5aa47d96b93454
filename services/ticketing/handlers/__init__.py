"""The ticketing use cases, one module each (docs/ticketing.md):

- ``lifecycle``: apply a batch of request events (the ``HANDLERS`` table routes them);
- ``projections``: recompute request summaries until they are no longer stale;
- ``sweeping``: the SLA sweeper (thresholds passed with no further event);
- ``alerts``: record each SLA alert once, publish what is recorded;
- ``erasure``: ``tenant.erased`` removes the tenant's references from its requests;
- ``queries``: the request API's questions and the open-requests gauge;
- ``tracking``: the tenant's tracker links (recorded, shown, revoked on erasure).

``TicketingService`` gives the composition root, the API and the tests one object over them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from services.ticketing.domain.requests import REQUEST_TYPES
from services.ticketing.domain.tracker import TrackerPage
from services.ticketing.domain.views import AlertRecord, RequestFilter, RequestSummary, View
from services.ticketing.handlers import alerts, erasure, lifecycle, queries, sweeping, tracking
from services.ticketing.handlers.context import Ticketing, utc_now
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.ports import AlertStore, Clock, EventPublisher, RequestStore, TrackerStore
from shared.events import CloudEvent, full_type
from shared.offices import Offices

BatchHandler = Callable[[Ticketing, Sequence[CloudEvent]], Awaitable[None]]


async def erase_tenants(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """``tenant.erased``: the tenant's references leave the requests, and their tracker links close."""
    await erasure.erase_tenants(t, events)
    await tracking.erase_tenants(t, events)


#: the use case of each consumed event type (the consumer subscribes to exactly these)
HANDLERS: dict[str, BatchHandler] = {
    **{full_type(kind): lifecycle.apply_request_events for kind in REQUEST_TYPES},
    full_type(erasure.TENANT_TYPE): erase_tenants,
}


async def dispatch(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """Hand each use case its events of the batch, in order, in one call."""
    batches: dict[BatchHandler, list[CloudEvent]] = {}
    for event in events:
        batches.setdefault(HANDLERS[event.type], []).append(event)
    for handler, handled in batches.items():
        await handler(t, handled)


class TicketingService:
    """The ticketing use cases over their ports (stores, publisher, metrics, clock)."""

    def __init__(
        self,
        *,
        offices: Offices,
        requests: RequestStore,
        alerts: AlertStore,
        publisher: EventPublisher,
        metrics: TicketingMetrics,
        clock: Clock = utc_now,
        publish_lease: timedelta = timedelta(seconds=30),
        sweep_batch: int = 1000,
        alert_settle: timedelta = timedelta(0),
        trackers: TrackerStore | None = None,
        tracker_secret: str | None = None,
    ) -> None:
        self.t = Ticketing(
            offices,
            requests,
            alerts,
            publisher,
            metrics,
            clock,
            publish_lease,
            sweep_batch,
            alert_settle,
            trackers,
            tracker_secret,
        )

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        """Apply a consumed batch (``HANDLERS``)."""
        await dispatch(self.t, events)

    async def sweep(self) -> int:
        return await sweeping.sweep(self.t)

    async def publish_pending(self) -> int:
        return await alerts.publish_pending(self.t)

    async def refresh_gauges(self) -> None:
        await queries.refresh_gauges(self.t)

    async def find(self, office: str, request_id: str) -> View | None:
        return await queries.find_request(self.t, office, request_id)

    async def alerts(self, office: str, request_id: str) -> list[AlertRecord]:
        return await queries.alerts_of(self.t, office, request_id)

    async def tracker(self, token: str) -> TrackerPage | None:
        return await tracking.page_of(self.t, token)

    async def list_requests(
        self, where: RequestFilter, limit: int, cursor: str | None
    ) -> tuple[list[RequestSummary], str | None]:
        return await queries.list_requests(self.t, where, limit, cursor)


__all__ = ["HANDLERS", "Clock", "TicketingService", "dispatch", "utc_now"]
