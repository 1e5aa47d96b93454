"""Rules kept exactly: the intervention clock stops at ``repair.done`` only (a closing with no repair
ends it as "not applicable"); an alert found after the office's horizon is historical (recorded,
counted, published with the threshold instant as its time); every clock uses the office's holiday
region (Alsace-Moselle: 26 December is not a working day)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from services.ticketing.domain.requests import Fact, fold
from services.ticketing.domain.sla import AlertKind, Clock, Evaluation, Status, evaluate
from services.ticketing.domain.views import RequestFilter, alert_records, project
from services.ticketing.handlers import TicketingService
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.store_memory import MemoryAlertStore, MemoryRequestStore
from shared.calendar import WorkingCalendar, office_calendar
from shared.events import CloudEvent, Stage
from shared.offices import DEMO_OFFICES_FILE, Office, Offices, SlaTargets, load_offices
from tests.ticketing.support import ManualClock, request_event

PARIS = ZoneInfo("Europe/Paris")
CAL = WorkingCalendar(PARIS)
# Thursday 26 November 2026, 09:00 in Paris: a working day
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NORD = load_offices(DEMO_OFFICES_FILE).get("demo-nord")
assert NORD is not None
METZ = Office.model_validate({"id": "demo-metz", "name": "Office démo Metz", "holiday_region": "Moselle"})
LILLE = Office.model_validate({"id": "demo-lille", "name": "Office démo Lille"})


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


def fact(n: int, kind: str, hours: float, **data: object) -> Fact:
    return Fact(f"ev-{n:03d}", kind, T0 + timedelta(hours=hours), data)


def intervention(facts: list[Fact], now: datetime) -> tuple[Clock, Evaluation]:
    evaluation = evaluate(fold(facts), SlaTargets(), CAL, now)
    return next(c for c in evaluation.clocks if c.stage == Stage.INTERVENTION), evaluation


# --- the intervention clock stops at repair.done only ---------------------------------------------


def test_closing_without_a_repair_ends_the_intervention_clock_as_not_applicable() -> None:
    opened = fact(1, "request.opened", 0, category="repair", urgency="U2")
    closed = fact(2, "request.closed", 3, resolution="not_justified")
    clock, evaluation = intervention([opened, closed], T0 + timedelta(days=3))
    assert clock.status == Status.NOT_APPLICABLE  # not met: no repair was done
    assert clock.stopped_at == T0 + timedelta(hours=3) and clock.elapsed == timedelta(hours=3)
    assert evaluation.alerts == [] and not evaluation.breached
    assert evaluation.next_check_at is None


def test_a_repair_stops_the_intervention_clock_met_or_breached() -> None:
    opened = fact(1, "request.opened", 0, category="repair", urgency="U2")
    on_time, _ = intervention(
        [opened, fact(2, "repair.done", 20), fact(3, "request.closed", 21)], T0 + timedelta(days=3)
    )
    late, _ = intervention([opened, fact(2, "repair.done", 30), fact(3, "request.closed", 31)], T0 + timedelta(days=3))
    assert (on_time.status, on_time.stopped_at) == (Status.MET, T0 + timedelta(hours=20))
    assert (late.status, late.stopped_at) == (Status.BREACHED, T0 + timedelta(hours=30))


def test_a_clock_that_ran_out_before_a_closing_without_repair_stays_breached() -> None:
    opened = fact(1, "request.opened", 0, category="repair", urgency="U1")
    closed = fact(2, "request.closed", 10, resolution="resolved")
    clock, evaluation = intervention([opened, closed], T0 + timedelta(days=1))
    assert clock.status == Status.BREACHED
    due = T0 + timedelta(hours=4)
    assert [(a.stage, a.kind, a.at) for a in evaluation.alerts] == [(Stage.INTERVENTION, AlertKind.BREACHED, due)]
    # the same whether the closing was known when the clock ran out or arrived afterwards
    alone, _ = intervention([opened], due + timedelta(minutes=1))
    assert alone.status == Status.BREACHED


# --- live or history -------------------------------------------------------------------------------


def test_an_alert_found_after_the_horizon_is_historical_and_timed_at_its_threshold() -> None:
    assert NORD is not None
    opened = fact(1, "request.opened", 0, category="repair", urgency="U1")
    due = T0 + timedelta(hours=4)
    late = T0 + timedelta(days=5)
    (record,) = [
        r for r in alert_records(project(NORD, "R-OLD", [opened], late), NORD, late) if r.stage == "intervention"
    ]
    assert record.kind == "breached" and record.historical
    assert record.at == due and record.due_at == due
    # found within the horizon (48 h after the threshold): live
    soon = due + timedelta(hours=47)
    (live,) = [
        r for r in alert_records(project(NORD, "R-OLD", [opened], soon), NORD, soon) if r.stage == "intervention"
    ]
    assert not live.historical and live.event == record.event  # the same fact, the same event


class Publisher:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        self.published.extend(events)


def service(
    clock: ManualClock, offices: Offices | None = None, settle: timedelta = timedelta(0)
) -> tuple[TicketingService, Publisher, MemoryAlertStore, TicketingMetrics]:
    publisher, alerts = Publisher(), MemoryAlertStore()
    metrics = TicketingMetrics.create(CollectorRegistry())
    svc = TicketingService(
        offices=offices or load_offices(DEMO_OFFICES_FILE),
        requests=MemoryRequestStore(),
        alerts=alerts,
        publisher=publisher,
        metrics=metrics,
        clock=clock,
        alert_settle=settle,
    )
    return svc, publisher, alerts, metrics


async def test_a_breach_found_days_late_is_recorded_historical_published_at_its_due_time_and_counted() -> None:
    opened_at = T0 - timedelta(days=5)
    clock = ManualClock(T0)
    svc, publisher, alerts, metrics = service(clock)
    await svc.apply([request_event("request.opened", "R-OLD", opened_at, urgency="U1", category="repair")])
    breaches = [e for e in publisher.published if e.type == "fr.canopee.sla.breached.v1"]
    intervention_breach = next(e for e in breaches if e.data.model_dump()["stage"] == "intervention")
    assert intervention_breach.time == opened_at + timedelta(hours=4)  # the due instant, not the sweep time
    recorded = await svc.alerts("demo-nord", "R-OLD")
    assert recorded and all(r.historical for r in recorded)
    assert {(r.stage, r.kind) for r in recorded} == {("first_response", "breached"), ("intervention", "breached")}
    assert metrics.historical.labels("demo-nord", "intervention", "breached")._value.get() == 1
    assert metrics.breaches.labels("demo-nord", "intervention", "U1")._value.get() == 1
    (summary,), _ = await svc.list_requests(RequestFilter(office="demo-nord"), 10, None)
    assert {c.stage: c.historical for c in summary.clocks} == {"first_response": True, "intervention": True}
    # a later event recomputes the request: the alerts stay historical, nothing new is published
    clock.now = T0 + timedelta(minutes=5)
    await svc.apply([request_event("request.assigned", "R-OLD", T0, assignee_kind="agent", assignee_ref="A-1")])
    assert len(publisher.published) == 2
    (summary,), _ = await svc.list_requests(RequestFilter(office="demo-nord"), 10, None)
    assert {c.stage: c.historical for c in summary.clocks} == {"first_response": True, "intervention": True}
    assert alerts.alerts[recorded[0].key].record.historical


async def test_a_breach_found_late_but_within_the_horizon_is_live() -> None:
    clock = ManualClock(T0)
    svc, publisher, _, metrics = service(clock)
    await svc.apply([request_event("request.opened", "R-NEW", T0, urgency="U1", category="repair")])
    assert publisher.published == []
    # the first sweep in 40 hours (a stopped service): both thresholds crossed less than 48 h ago
    clock.now = T0 + timedelta(hours=40)
    await svc.sweep()
    assert sorted((e.data.model_dump()["stage"], e.time) for e in publisher.published) == [
        ("first_response", T0 + timedelta(hours=24)),  # one working day for demo-nord: Friday 09:00
        ("intervention", T0 + timedelta(hours=4)),
    ]
    assert [r.historical for r in await svc.alerts("demo-nord", "R-NEW")] == [False, False]
    assert metrics.historical.labels("demo-nord", "intervention", "breached")._value.get() == 0


async def replay(settle: timedelta) -> list[tuple[str, str, bool]]:
    """A request of five days ago whose events come in three batches, a second apart; the sweeper
    ticks between them and once more after ``settle``."""
    clock = ManualClock(T0)
    svc, publisher, _, _ = service(clock, settle=settle)
    opened_at = T0 - timedelta(days=5)  # Saturday 21 November, 09:00 in Paris
    batches = [
        [request_event("request.opened", "R-REPLAY", opened_at, urgency="U2", category="repair")],
        [
            request_event(
                "request.assigned",
                "R-REPLAY",
                opened_at + timedelta(hours=1),
                assignee_kind="agent",
                assignee_ref="A-1",
            )
        ],
        [request_event("repair.done", "R-REPLAY", opened_at + timedelta(hours=30))],  # U2: 24 h, late
    ]
    for batch in batches:
        await svc.apply(batch)
        clock.now += timedelta(seconds=1)
        await svc.sweep()
    clock.now += settle + timedelta(seconds=1)
    await svc.sweep()
    assert all(
        e.time == opened_at + timedelta(hours=24)
        for e in publisher.published
        if e.data.model_dump()["stage"] == "intervention"
    )
    return sorted((r.stage, r.kind, r.historical) for r in await svc.alerts("demo-nord", "R-REPLAY"))


async def test_a_replay_split_over_batches_records_only_what_the_whole_history_calls_for() -> None:
    # judged on its first batch alone, the first response looked breached (no assignment yet)
    assert await replay(timedelta(0)) == [("first_response", "breached", True), ("intervention", "breached", True)]
    # waiting for the request to settle: only the intervention, repaired 30 hours after opening
    assert await replay(timedelta(seconds=10)) == [("intervention", "breached", True)]


# --- holiday region per office ----------------------------------------------------------------------


def test_moselle_26_december_is_not_a_working_day_in_the_office_calendar() -> None:
    assert not office_calendar(METZ).is_working_day(date(2025, 12, 26))
    assert office_calendar(LILLE).is_working_day(date(2025, 12, 26))


def test_every_clock_of_a_moselle_office_skips_26_december() -> None:
    opened = Fact(
        "ev-1", "request.opened", paris(2025, 12, 23, 10, 0).astimezone(UTC), {"category": "transfer", "urgency": "U3"}
    )
    now = paris(2025, 12, 23, 11, 0)
    due = {
        office.id: {c.stage: c.due_at for c in project(office, "R-XMAS", [opened], now).evaluation.clocks}
        for office in (METZ, LILLE)
    }
    # U3, 5 working days (50 h) from Tuesday 23 December 10:00; 25 December and 1 January are holidays
    assert due["demo-lille"][Stage.INTERVENTION] == paris(2025, 12, 31, 10, 0)
    assert due["demo-metz"][Stage.INTERVENTION] == paris(2026, 1, 2, 10, 0)
    # first response, 2 working days: Wednesday 24 then Friday 26 (Lille) or Monday 29 (Metz)
    assert due["demo-lille"][Stage.FIRST_RESPONSE] == paris(2025, 12, 26, 10, 0)
    assert due["demo-metz"][Stage.FIRST_RESPONSE] == paris(2025, 12, 29, 10, 0)
    # the transfer deadline (30 working days) is one working day later in Moselle too
    lille, metz = due["demo-lille"][Stage.RESOLUTION], due["demo-metz"][Stage.RESOLUTION]
    assert lille is not None and metz is not None
    assert office_calendar(METZ).working_time_between(lille, metz) == timedelta(hours=10)
