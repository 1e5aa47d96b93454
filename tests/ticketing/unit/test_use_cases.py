"""The ticketing use cases on the in-memory stores (held to the Mongo stores' contract by
tests/ticketing/test_store_contract.py): no broker, no database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from services.ticketing.domain.requests import REQUEST_TYPES
from services.ticketing.domain.views import RequestFilter
from services.ticketing.handlers import HANDLERS, TicketingService
from services.ticketing.handlers.queries import InvalidCursor
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.store_memory import MemoryAlertStore, MemoryRequestStore
from shared.bus import TransientError
from shared.events import CloudEvent, full_type
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.ticketing.support import ManualClock, request_event

# Thursday 26 November 2026, 09:00 in Paris: a working day
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class Publisher:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[CloudEvent] = []

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.published.extend(events)


def instance(
    clock: ManualClock, publisher: Publisher, requests: MemoryRequestStore | None = None
) -> tuple[TicketingService, MemoryRequestStore, TicketingMetrics]:
    store = requests or MemoryRequestStore()
    metrics = TicketingMetrics.create(CollectorRegistry())
    svc = TicketingService(
        offices=load_offices(DEMO_OFFICES_FILE),
        requests=store,
        alerts=MemoryAlertStore(),
        publisher=publisher,
        metrics=metrics,
        clock=clock,
    )
    return svc, store, metrics


def counted(metrics: TicketingMetrics, kind: str, outcome: str) -> float:
    return float(metrics.facts.labels(kind, outcome)._value.get())


def test_every_request_type_has_its_use_case() -> None:
    assert sorted(HANDLERS) == sorted([*(full_type(kind) for kind in REQUEST_TYPES), full_type("tenant.erased")])


async def test_a_batch_is_applied_once_whatever_its_order_and_duplicates() -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    svc, _, metrics = instance(clock, Publisher())
    opened = request_event("request.opened", "R-1", T0, category="repair", urgency="U3")
    assigned = request_event("request.assigned", "R-1", T0 + timedelta(minutes=10))
    resumed = request_event("request.resumed", "R-1", T0 + timedelta(minutes=20))  # never on hold
    await svc.apply([assigned, opened, assigned, resumed])
    await svc.apply([opened])
    view = await svc.find("demo-nord", "R-1")
    assert view is not None
    assert [e.fact.type for e in view.request.timeline] == ["request.opened", "request.assigned", "request.resumed"]
    assert view.request.state.value == "assigned" and view.request.flagged == 1
    assert counted(metrics, "request.assigned", "applied") == 1
    assert counted(metrics, "request.assigned", "duplicate") == 1
    assert counted(metrics, "request.opened", "duplicate") == 1
    assert counted(metrics, "request.resumed", "flagged") == 1
    assert await svc.find("demo-nord", "R-2") is None


async def test_lists_page_with_an_opaque_cursor() -> None:
    svc, _, _ = instance(ManualClock(T0), Publisher())
    await svc.apply([request_event("request.opened", f"R-{n}", T0, category="repair") for n in range(3)])
    first, cursor = await svc.list_requests(RequestFilter(office="demo-nord"), 2, None)
    assert [s.request_id for s in first] == ["R-0", "R-1"] and cursor is not None
    rest, end = await svc.list_requests(RequestFilter(office="demo-nord"), 2, cursor)
    assert [s.request_id for s in rest] == ["R-2"] and end is None
    with pytest.raises(InvalidCursor):
        await svc.list_requests(RequestFilter(), 2, "%%%")


async def test_a_u1_breach_is_found_by_the_sweeper_and_published_once() -> None:
    clock = ManualClock(T0)
    publisher = Publisher()
    svc, _, _ = instance(clock, publisher)
    await svc.apply([request_event("request.opened", "R-U1", T0, urgency="U1", category="repair")])
    assert await svc.sweep() == 0
    clock.now = T0 + timedelta(hours=3, minutes=15)
    assert await svc.sweep() == 1
    assert [e.type for e in publisher.published] == ["fr.canopee.sla.at_risk.v1"]
    clock.now = T0 + timedelta(hours=4, minutes=1)
    assert await svc.sweep() == 1
    assert await svc.sweep() == 0
    assert [e.type for e in publisher.published] == ["fr.canopee.sla.at_risk.v1", "fr.canopee.sla.breached.v1"]
    assert publisher.published[1].data.model_dump()["stage"] == "intervention"


async def test_an_alert_whose_publish_failed_is_published_by_the_next_sweep() -> None:
    clock = ManualClock(T0 + timedelta(hours=5))
    publisher = Publisher(failures=1)
    svc, _, _ = instance(clock, publisher)
    late = [request_event("request.opened", "R-FLAKY", T0, urgency="U1", category="repair")]
    with pytest.raises(ConnectionError):
        await svc.apply(late)
    assert publisher.published == []
    await svc.sweep()
    assert [e.type for e in publisher.published] == ["fr.canopee.sla.breached.v1"]
    await svc.apply(late)
    await svc.sweep()
    assert len(publisher.published) == 1


class RacedStore(MemoryRequestStore):
    """Finds the written summaries stale ``times`` times (a concurrent writer landing last)."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.rounds = 0

    async def stale(self, keys: Iterable[str]) -> list[str]:
        self.rounds += 1
        if self.times:
            self.times -= 1
            return list(keys)
        return await super().stale(keys)


async def test_summaries_a_concurrent_writer_made_stale_are_computed_again() -> None:
    store = RacedStore(times=2)
    svc, _, _ = instance(ManualClock(T0), Publisher(), store)
    await svc.apply([request_event("request.opened", "R-1", T0, category="repair")])
    assert store.rounds == 3

    store = RacedStore(times=99)
    svc, _, _ = instance(ManualClock(T0), Publisher(), store)
    with pytest.raises(TransientError):
        await svc.apply([request_event("request.opened", "R-1", T0, category="repair")])
    assert store.rounds == 5


async def test_the_open_requests_gauge_counts_by_office_and_state() -> None:
    svc, _, metrics = instance(ManualClock(T0), Publisher())
    await svc.apply(
        [
            request_event("request.opened", "R-1", T0, category="repair"),
            request_event("request.opened", "R-2", T0, category="repair"),
            request_event("request.closed", "R-2", T0 + timedelta(minutes=1), resolution="resolved"),
            request_event("request.opened", "R-3", T0, office="demo-sud", category="transfer"),
        ]
    )
    await svc.refresh_gauges()
    assert metrics.open_requests.labels("demo-nord", "open")._value.get() == 1
    assert metrics.open_requests.labels("demo-sud", "open")._value.get() == 1
