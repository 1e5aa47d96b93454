"""The ingest use case on the in-memory store: what it keeps, what it counts, which office-days
it marks dirty (fast tests of the use case; the store contract covers the real store)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.analytics.domain.records import NotificationFact, RequestFact
from services.analytics.handlers import Analytics
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.events import parse_event
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.samples import SAMPLES, dumps, sample

OFFICES = load_offices(DEMO_OFFICES_FILE)


def build() -> tuple[Analytics, MemoryAnalyticsStore, CollectorRegistry]:
    registry = CollectorRegistry()
    store = MemoryAnalyticsStore()
    return Analytics(OFFICES, store, AnalyticsMetrics.create(registry)), store, registry


def count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_every_contract_type_is_kept_or_counted_as_ignored() -> None:
    svc, store, registry = build()
    events = [parse_event(dumps(sample(kind))) for kind in sorted(SAMPLES)]
    await svc.apply(events)
    assert len(store.events) == len(SAMPLES) - 4  # tenant.* and sms.replied are never kept
    for kind in ("tenant.contact_updated", "tenant.consent_changed", "tenant.erased", "sms.replied"):
        assert count(registry, "canopee_analytics_events_total", type=kind, outcome="ignored") == 1
    assert count(registry, "canopee_analytics_events_total", type="repair.done", outcome="new") == 1
    assert not any(e.type.startswith("tenant.") for e in store.events.values())


async def test_a_redelivered_batch_is_counted_as_duplicates_and_changes_nothing() -> None:
    svc, store, registry = build()
    batch = [parse_event(dumps(sample("request.opened"))), parse_event(dumps(sample("notification.delivered")))]
    await svc.apply(batch)
    facts, markers = dict(store.facts_by_id), dict(store.markers)
    await svc.apply([*batch, batch[0]])
    assert store.facts_by_id == facts
    assert set(store.markers) == set(markers)
    assert count(registry, "canopee_analytics_events_total", type="request.opened", outcome="duplicate") == 2
    labels = {"office": "demo-nord", "channel": "sms", "outcome": "delivered"}
    assert count(registry, "canopee_analytics_notification_outcomes_total", **labels) == 1


async def test_facts_are_folded_and_their_days_marked() -> None:
    svc, store, _ = build()
    opened = sample("request.opened")
    ack = sample("notification.sent", cause_id=opened["id"])
    await svc.apply([parse_event(dumps(ack))])  # the acknowledgement first
    await svc.apply([parse_event(dumps(opened))])
    request = next(f for f in store.facts_by_id.values() if isinstance(f, RequestFact))
    notification = next(f for f in store.facts_by_id.values() if isinstance(f, NotificationFact))
    assert not request.placeholder and request.opened_event == opened["id"]
    assert notification.cause_id == opened["id"] and notification.outcome == "sent"
    assert set(store.markers) == {f"demo-nord|{day}" for day in request.days + notification.days}
    assert svc.pending == set(store.markers)
