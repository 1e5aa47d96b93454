"""The keys axis' tenant-facing indicators on the in-memory store: "status available to the
tenant" (requests whose acknowledgement carried the tracker link) and follow-ups done in person
(``followup.done``) by channel, reached tenants counting as acknowledged, in any order."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

import pytest

from services.analytics.handlers import Analytics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.events import CloudEvent, parse_event
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.samples import sample

OFFICES = load_offices(DEMO_OFFICES_FILE)
DAY = "2026-11-27T09:00:00+01:00"


def event(kind: str, subject: str, **data: Any) -> CloudEvent:
    raw = sample(kind, **data)
    raw["subject"], raw["time"], raw["officeid"] = subject, DAY, "demo-nord"
    if raw["source"].startswith("/offices/"):
        raw["source"] = "/offices/demo-nord/ikos"
    return parse_event(json.dumps(raw))


def scenario() -> list[CloudEvent]:
    opened = [event("request.opened", f"R{i}", request_id=f"R{i}", tenant_ref=f"T{i}") for i in range(4)]
    sent = [
        event("notification.sent", f"N{i}", notification_id=f"N{i}", cause_id=opened[i].id, template=template)
        for i, template in ((0, "request_opened_tracker"), (1, "request_opened_tracker"), (2, "request_opened"))
    ]
    followups = [
        event("followup.done", "F3", followup_id="F3", cause_id=opened[3].id, request_id="R3", channel="counter"),
        event("followup.done", "F9", followup_id="F9", cause_id="other-cause", channel="phone", outcome="unreachable"),
    ]
    return [*opened, *sent, *followups]


@pytest.mark.parametrize("order", [0, 1, 2])
async def test_status_available_and_follow_ups_in_person(order: int) -> None:
    events = scenario()
    random.Random(order).shuffle(events)
    svc = Analytics(OFFICES, MemoryAnalyticsStore())
    for e in events:  # one by one, in this order
        await svc.apply([e])
    await svc.apply(list(events))  # and all again: nothing changes
    result = await svc.indicators(["demo-nord"], date(2026, 11, 27), date(2026, 11, 27), "day")
    total = result["offices"]["demo-nord"]["total"]
    assert total["volume"]["opened"] == 4
    assert total["status_available_pct"] == 50.0  # R0 and R1 got the tracker link
    assert total["follow_up_coverage_pct"] == 100.0  # R2 by SMS without link, R3 reached at the counter
    assert total["follow_ups_in_person"] == {
        "done": 2,
        "reached": 1,
        "by_channel": {"phone": 1, "counter": 1, "visit": 0, "letter": 0},
    }
    assert set(total["notifications"]) == {"sms", "email"}  # the in-person channels are not notifications
