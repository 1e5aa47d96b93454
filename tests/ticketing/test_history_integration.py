"""Ticketing on the real Kafka broker and MongoDB-wire store: a breach found days late is recorded as
historical and published with its due instant as time; an Alsace-Moselle office's clocks skip
26 December."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support import kafka as ks
from tests.support.waiting import eventually
from tests.ticketing.support import ManualClock, request_event
from tests.ticketing.test_integration import ADMIN, get_request, service, sla_events, ticketing_settings

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
# Thursday 26 November 2026, 09:00 in Paris
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

OFFICES = """
[[office]]
id = "demo-nord"
name = "Office démo Nord"

[[office]]
id = "demo-metz"
name = "Office démo Metz"
holiday_region = "Moselle"
"""


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


async def test_a_u1_request_opened_five_days_ago_gets_a_historical_breach_timed_at_its_due_instant(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    clock = ManualClock(T0)
    rid = "REQ-OLD-U1"
    opened_at = T0 - timedelta(days=5)
    due = opened_at + timedelta(hours=4)
    assert settings.alert_settle_seconds == 10  # the default: found by consumed events, recorded once settled
    async with service(settings, clock) as (_, client):
        await ks.produce_events(
            infra["kafka"], topics, [request_event("request.opened", rid, opened_at, urgency="U1", category="repair")]
        )
        await eventually(lambda: get_request(client, "demo-nord", rid))
        assert await sla_events(infra["kafka"], settings, expect=0, settle=0.5) == []  # settling
        clock.now = T0 + timedelta(seconds=11)  # quiet for longer than the settle time: the sweeper records
        emitted = await sla_events(infra["kafka"], settings, expect=2)
        breach = next(e for e in emitted if e.data.stage.value == "intervention")  # type: ignore[attr-defined]
        assert breach.type == "fr.canopee.sla.breached.v1"
        assert breach.time == due and breach.data.due_at == due  # type: ignore[attr-defined]
        body = await get_request(client, "demo-nord", rid)
        assert body is not None
        alerts = {(a["stage"], a["kind"]): a for a in body["alerts"]}
        assert set(alerts) == {("first_response", "breached"), ("intervention", "breached")}
        assert all(a["historical"] for a in alerts.values())
        assert datetime.fromisoformat(alerts[("intervention", "breached")]["at"]) == due
        listing = (await client.get("/v1/requests", params={"office": "demo-nord"}, headers=ADMIN)).json()
        (item,) = listing["items"]
        assert {c["stage"]: c["historical"] for c in item["clocks"]} == {"first_response": True, "intervention": True}
        metrics = (await client.get("/metrics")).text
        assert (
            'canopee_ticketing_sla_alerts_historical_total{kind="breached",office="demo-nord",stage="intervention"} 1.0'
            in metrics
        )

        # a live request next to it: its breach is found in time and is not historical
        live = "REQ-LIVE-U1"
        await ks.produce_events(
            infra["kafka"], topics, [request_event("request.opened", live, T0, urgency="U1", category="repair")]
        )
        await eventually(lambda: get_request(client, "demo-nord", live))
        clock.now = T0 + timedelta(hours=4, minutes=1)  # found by the sweeper when it runs out: live
        emitted = await sla_events(infra["kafka"], settings, expect=3)
        (live_breach,) = [e for e in emitted if e.subject == live]
        assert live_breach.type == "fr.canopee.sla.breached.v1" and live_breach.time == T0 + timedelta(hours=4)
        body = await get_request(client, "demo-nord", live)
        assert body is not None and [a["historical"] for a in body["alerts"]] == [False]


async def test_an_alsace_moselle_office_does_not_work_on_26_december(
    make_settings: Any, topics: str, infra: dict[str, str], tmp_path: Path
) -> None:
    offices = tmp_path / "offices.toml"
    offices.write_text(OFFICES, encoding="utf-8")
    settings = ticketing_settings(make_settings, offices_file=offices)
    opened_at = paris(2025, 12, 23, 10, 0)  # a Tuesday; 25 December is a Thursday
    clock = ManualClock(opened_at + timedelta(hours=1))
    events = [
        request_event("request.opened", "REQ-XMAS", opened_at, office=office, urgency="U3", category="repair")
        for office in ("demo-metz", "demo-nord")
    ]
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, events)
        metz = await eventually(lambda: get_request(client, "demo-metz", "REQ-XMAS"))
        nord = await eventually(lambda: get_request(client, "demo-nord", "REQ-XMAS"))
        due = {
            name: {c["stage"]: datetime.fromisoformat(c["due_at"]) for c in body["clocks"]}
            for name, body in (("metz", metz), ("nord", nord))
        }
        # 5 working days (50 h): Friday 26 December counts in Nord, not in Metz
        assert due["nord"]["intervention"] == paris(2025, 12, 31, 10, 0)
        assert due["metz"]["intervention"] == paris(2026, 1, 2, 10, 0)
        assert due["nord"]["first_response"] == paris(2025, 12, 26, 10, 0)
        assert due["metz"]["first_response"] == paris(2025, 12, 29, 10, 0)
