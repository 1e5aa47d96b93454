"""The closed loop: % of detractor alerts acknowledged within 48 hours, over the alerts acknowledged
or past their deadline (``feedback.alert_acknowledged``, ``feedback.alert_overdue``), the same in any
arrival order; the overdue gauge."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.analytics.handlers import Analytics
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.events import CloudEvent, derived_id, full_type, parse_event
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.samples import dumps, sample

OFFICES = load_offices(DEMO_OFFICES_FILE)
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def _event(kind: str, survey: str, at: datetime, **data: Any) -> CloudEvent:
    raw = sample(kind, survey_id=survey, **data)
    raw["subject"] = survey
    raw["time"] = at.isoformat()
    if kind != "feedback.detractor_alert":
        raw["id"] = derived_id(kind, survey)
    return parse_event(dumps(raw))


def alert_life(survey: str, at: datetime, outcome: str) -> list[CloudEvent]:
    """An alert raised at ``at``, then acknowledged in time, late, left overdue or still open."""
    due = at + timedelta(hours=48)
    events = [_event("feedback.detractor_alert", survey, at, follow_up_due_at=due.isoformat())]
    if outcome in ("late", "overdue"):
        events.append(_event("feedback.alert_overdue", survey, due, follow_up_due_at=due.isoformat()))
    if outcome in ("in_time", "late"):
        ack = at + timedelta(hours=5 if outcome == "in_time" else 60)
        events.append(
            _event(
                "feedback.alert_acknowledged",
                survey,
                ack,
                acknowledged_at=ack.isoformat(),
                within_deadline=outcome == "in_time",
            )
        )
    return events


def dataset() -> list[CloudEvent]:
    outcomes = ["in_time"] * 3 + ["late", "overdue", "open"]
    return [e for n, o in enumerate(outcomes) for e in alert_life(f"S-LOOP-{n}", T0 + timedelta(hours=n), o)]


async def loop_of(events: list[CloudEvent], batch: int) -> dict[str, Any]:
    svc = Analytics(OFFICES, MemoryAnalyticsStore())
    for i in range(0, len(events), batch):
        await svc.apply(events[i : i + batch])
    result = await svc.indicators(["demo-nord"], date(2026, 11, 1), date(2026, 11, 30), "month")
    return dict(result["offices"]["demo-nord"]["total"]["closed_loop"])


async def test_the_share_is_over_alerts_acknowledged_or_past_their_deadline() -> None:
    loop = await loop_of(dataset(), batch=50)
    # 6 alerts; 5 acknowledged or overdue; 3 of them acknowledged within 48 hours
    assert loop == {"alerts": 6, "due": 5, "acknowledged_within_48h": 3, "acknowledged_within_48h_pct": 60.0}


async def test_the_same_events_in_any_order_and_twice_give_the_same_share() -> None:
    events = dataset()
    expected = await loop_of(events, batch=50)
    rnd = random.Random(4)
    for _ in range(3):
        shuffled = events + rnd.sample(events, 5)
        rnd.shuffle(shuffled)
        assert await loop_of(shuffled, batch=rnd.randint(1, 4)) == expected


async def test_the_gauges_count_overdue_and_open_alerts_and_the_share() -> None:
    registry = CollectorRegistry()
    now = T0 + timedelta(hours=49)
    svc = Analytics(OFFICES, MemoryAnalyticsStore(), AnalyticsMetrics.create(registry), clock=lambda: now)
    await svc.apply(dataset())
    await svc.gauges.refresh_gauges()
    office = {"office": "demo-nord"}
    # "overdue" is overdue; "late" was acknowledged after its deadline: no longer waiting; "open"
    # (raised 5 hours after the first) is still within its 48 hours
    assert registry.get_sample_value("canopee_analytics_overdue_alerts", office) == 1
    assert registry.get_sample_value("canopee_analytics_open_alerts", office) == 1
    assert registry.get_sample_value("canopee_analytics_closed_loop_pct", office) == 60.0
    assert full_type("feedback.alert_overdue") == "fr.canopee.feedback.alert_overdue.v1"
