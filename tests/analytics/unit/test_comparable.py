"""Complaints (their own answer clock) and per-1,000-homes figures, as /v1/kpis gives them:
expected values are worked out here from the events and the offices file's housing stock."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

from services.analytics.handlers import Analytics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.events import CloudEvent, parse_event
from shared.offices import DEMO_OFFICES_FILE, load_offices

OFFICES = load_offices(DEMO_OFFICES_FILE)
N = 0


def event(office: str, kind: str, rid: str, at: str, source: str | None = None, **data: Any) -> CloudEvent:
    global N
    N += 1
    return parse_event(
        json.dumps(
            {
                "specversion": "1.0",
                "id": f"cmp-{N}",
                "source": source or f"/offices/{office}/ikos",
                "type": f"fr.canopee.{kind}.v1",
                "subject": rid,
                "time": at,
                "officeid": office,
                "data": {"request_id": rid, **data},
            }
        )
    )


def opened(office: str, rid: str, at: str, complaint: bool | None = None) -> CloudEvent:
    extra: dict[str, Any] = {} if complaint is None else {"complaint": complaint}
    return event(
        office, "request.opened", rid, at, tenant_ref="T-1", category="administrative", channel="letter", **extra
    )


def history() -> list[CloudEvent]:
    return [
        # answered after 2 working days (Mon → Wed): in time
        opened("demo-nord", "C-1", "2026-03-02T09:00:00+01:00", True),
        event(
            "demo-nord",
            "request.assigned",
            "C-1",
            "2026-03-04T09:00:00+01:00",
            assignee_kind="agent",
            assignee_ref="A1",
        ),
        event("demo-nord", "request.closed", "C-1", "2026-03-06T09:00:00+01:00", resolution="resolved"),
        # answered after 15 working days: late
        opened("demo-nord", "C-2", "2026-03-03T09:00:00+01:00", True),
        event("demo-nord", "request.closed", "C-2", "2026-03-24T09:00:00+01:00", resolution="resolved"),
        # not answered
        opened("demo-nord", "C-3", "2026-03-10T09:00:00+01:00", True),
        # not complaints
        opened("demo-nord", "P-1", "2026-03-11T09:00:00+01:00", False),
        opened("demo-nord", "P-2", "2026-03-12T09:00:00+01:00"),
        opened("demo-sud", "P-3", "2026-03-12T09:00:00+01:00"),
        event(
            "demo-sud",
            "sla.breached",
            "P-3",
            "2026-03-20T09:00:00+01:00",
            "/services/ticketing",
            stage="first_response",
            policy="first_response",
            due_at="2026-03-16T09:00:00+01:00",
            category="administrative",
        ),
    ]


async def test_complaints_and_figures_per_1000_homes() -> None:
    events = history()
    rnd = random.Random(4)
    delivered = events + rnd.sample(events, 4)
    rnd.shuffle(delivered)
    svc = Analytics(OFFICES, MemoryAnalyticsStore())
    await svc.apply(delivered)
    result = await svc.office_indicators.indicators(OFFICES.ids, date(2026, 3, 1), date(2026, 3, 31), "month")
    nord = result["offices"]["demo-nord"]["total"]
    c = nord["complaints"]
    assert (c["opened"], c["answered"], c["answered_in_time"], c["unanswered"]) == (3, 2, 1, 1)
    assert c["answered_in_time_pct"] == 50.0
    assert c["resolved"] == 2
    assert c["resolution"]["median_hours"] == 4 * 24  # nearest rank of (4 days, 21 days)
    assert result["offices"]["demo-nord"]["periods"][0]["complaints"] == c
    assert result["network"]["total"]["complaints"]["opened"] == 3
    per = nord["per_1000_homes"]
    assert per["homes"] == 18500
    assert per["opened"] == round(1000 * 5 / 18500, 2)
    assert per["complaints"] == round(1000 * 3 / 18500, 2)
    sud = result["offices"]["demo-sud"]["total"]["per_1000_homes"]
    assert sud["breaches"] == round(1000 * 1 / 9200, 2)
    network = result["network"]["total"]["per_1000_homes"]
    homes = 18500 + 9200 + 31000 + 6400
    assert network["homes"] == homes
    assert network["opened"] == round(1000 * 6 / homes, 2)
    assert network["complaints"] == round(1000 * 3 / homes, 2)
    assert network["detractors"] == 0.0
