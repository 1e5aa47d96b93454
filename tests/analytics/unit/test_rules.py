"""Rules of docs/DOMAIN.md kept exactly, with exact values: within target and repair time count only
requests with a repair; "transfer requests answered in time" counts transfers answered, or overdue,
never those still open within their deadline; the U3 clock skips the office's regional holidays
(Alsace-Moselle: 26 December); and a replayed history (any order, one batch) gives the figures of
live delivery (one event at a time, in order)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from services.analytics.handlers import Analytics
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.events import CloudEvent
from tests.support.analytics_rules import OFFICES, assigned, breached, closed, event, opened, paris

OFFICE_IDS = ["demo-lille", "demo-metz"]


async def indicators(events: list[CloudEvent], start: date, end: date, batch: int = 50) -> dict[str, Any]:
    svc = Analytics(OFFICES, MemoryAnalyticsStore())
    for i in range(0, len(events), batch):
        await svc.apply(events[i : i + batch])
    return await svc.indicators(OFFICE_IDS, start, end, "month")


def transfers() -> list[CloudEvent]:
    """Five transfer requests opened on Monday 1 December 2025 in Lille."""
    at = paris(2025, 12, 1, 9, 0)
    due = paris(2026, 1, 14, 9, 0)  # about 30 working days later
    transfer = {"category": "transfer", "channel": "email"}
    return [
        # answered in 2 days: in time
        opened("T-A", at, **transfer),
        assigned("T-A", at + timedelta(days=2)),
        # answered after two months (ticketing stated the breach): late
        opened("T-B", at, **transfer),
        breached("T-B", "resolution", due, policy="transfer", category="transfer"),
        assigned("T-B", paris(2026, 2, 2, 10, 0)),
        # still open, no breach stated: within its deadline, not counted
        opened("T-C", at, **transfer),
        # never answered, its deadline passed (ticketing stated the breach): overdue
        opened("T-D", at, **transfer),
        breached("T-D", "resolution", due, policy="transfer", category="transfer"),
        # a breach found while a replay had not delivered the answer yet: the answer's time decides
        opened("T-E", at, **transfer),
        breached("T-E", "resolution", due, policy="transfer", category="transfer"),
        closed("T-E", at + timedelta(days=4)),
    ]


async def test_transfers_answered_in_time_count_answered_and_overdue_only() -> None:
    result = await indicators(transfers(), date(2025, 12, 1), date(2026, 2, 28))
    cell = result["offices"]["demo-lille"]["total"]["transfer_answered_in_time"]
    assert cell == {"requests": 4, "in_time": 2, "pct": 50.0}
    (december, _, _) = result["offices"]["demo-lille"]["periods"]
    assert december["transfer_answered_in_time"] == cell  # attributed to the month they were opened
    assert result["network"]["total"]["transfer_answered_in_time"] == cell


async def test_time_on_hold_does_not_count_against_a_transfer_deadline() -> None:
    at = paris(2025, 12, 1, 9, 0)
    events = [
        opened("T-H", at, category="transfer", channel="web"),
        event("request.on_hold", "T-H", at + timedelta(hours=1), reason="tenant_unavailable"),
        # ten calendar days on hold do not count
        event("request.resumed", "T-H", at + timedelta(days=10, hours=1)),
        # 30 working days of 10 h = 300 h: 360 h to 22 January 09:00, 280 h without the hold
        assigned("T-H", paris(2026, 1, 22, 9, 0)),
    ]
    result = await indicators(events, date(2025, 12, 1), date(2026, 1, 31))
    assert result["offices"]["demo-lille"]["total"]["transfer_answered_in_time"] == {
        "requests": 1,
        "in_time": 1,
        "pct": 100.0,
    }
    # without the hold, the same answer is late
    result = await indicators([events[0], events[3]], date(2025, 12, 1), date(2026, 1, 31))
    assert result["offices"]["demo-lille"]["total"]["transfer_answered_in_time"]["in_time"] == 0


def interventions() -> list[CloudEvent]:
    at = paris(2025, 12, 2, 9, 0)
    return [
        # closed without a repair: its intervention clock is "not applicable"
        opened("R-NA", at, urgency="U2"),
        closed("R-NA", at + timedelta(hours=3), resolution="not_justified"),
        # repaired in 5 hours: within target
        opened("R-OK", at, urgency="U2"),
        event("repair.done", "R-OK", at + timedelta(hours=5)),
        closed("R-OK", at + timedelta(hours=6)),
        # repaired in 30 hours: late
        opened("R-LATE", at, urgency="U1"),
        event("repair.done", "R-LATE", at + timedelta(hours=30)),
    ]


async def test_only_requests_with_a_repair_count_for_repair_time_and_within_target() -> None:
    total = (await indicators(interventions(), date(2025, 12, 1), date(2025, 12, 31)))["offices"]["demo-lille"]["total"]
    assert total["within_target"]["emergency"] == {"repairs": 2, "within": 1, "pct": 50.0}
    assert total["repair_time"]["U2"]["n"] == 1 and total["repair_time"]["U2"]["median_hours"] == 5.0
    assert total["repair_time"]["all"]["n"] == 2


async def test_a_request_closed_without_a_repair_is_not_in_the_intervention_breach_rate() -> None:
    late_closing = [
        # closed without a repair after its U1 target had passed: the breach stands
        opened("R-BR", paris(2025, 12, 2, 9, 0), urgency="U1"),
        breached("R-BR", "intervention", paris(2025, 12, 2, 13, 0), policy="U1", category="repair", urgency="U1"),
        closed("R-BR", paris(2025, 12, 3, 9, 0), resolution="not_justified"),
    ]
    total = (await indicators(interventions() + late_closing, date(2025, 12, 1), date(2025, 12, 31)))["offices"][
        "demo-lille"
    ]["total"]
    # R-NA (closed, no repair, no breach) is left out; R-OK, R-LATE and R-BR remain
    assert total["sla_breaches"]["intervention"]["applicable"] == 3
    assert total["sla_breaches"]["intervention"]["count"] == 1
    assert total["sla_breaches"]["first_response"]["applicable"] == 4


def christmas() -> list[CloudEvent]:
    """The same U3 request in Lille and in Metz: opened Tuesday 23 December 2025 10:00, repaired
    Wednesday 31 December 11:00 — 51 working hours in Lille, 41 in Metz (26 December is a holiday
    in Alsace-Moselle); the target is 5 working days (50 h)."""
    events = []
    for office in OFFICE_IDS:
        events += [
            opened("R-XMAS", paris(2025, 12, 23, 10, 0), office=office, urgency="U3"),
            event("repair.done", "R-XMAS", paris(2025, 12, 31, 11, 0), office=office),
        ]
    return events


async def test_an_alsace_moselle_office_does_not_count_26_december() -> None:
    result = await indicators(christmas(), date(2025, 12, 1), date(2025, 12, 31))
    within = {office: result["offices"][office]["total"]["within_target"]["non_emergency"] for office in OFFICE_IDS}
    assert within["demo-lille"] == {"repairs": 1, "within": 0, "pct": 0.0}
    assert within["demo-metz"] == {"repairs": 1, "within": 1, "pct": 100.0}


async def test_a_replayed_history_gives_the_figures_of_live_delivery() -> None:
    history = transfers() + interventions() + christmas()
    live_order = sorted(history, key=lambda e: (e.time, e.id))
    start, end = date(2025, 12, 1), date(2026, 2, 28)
    live = await indicators(live_order, start, end, batch=1)
    replayed = list(history)
    random.Random(13).shuffle(replayed)
    assert await indicators(replayed, start, end, batch=len(replayed)) == live
    assert await indicators(replayed + replayed[:7], start, end, batch=5) == live
