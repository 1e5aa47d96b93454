"""One contract for the ticketing stores, run on the in-memory twins and on the Mongo stores against
the real MongoDB-wire store: what the use cases rely on, so the twins cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.tracker import TrackerLink
from services.ticketing.domain.views import AlertRecord, ClockSummary, RequestFilter, RequestSummary
from services.ticketing.ports import AlertStore, RequestStore, TrackerStore
from services.ticketing.store import INDEXES, MongoAlertRepository, MongoRequestRepository, MongoTrackerRepository
from services.ticketing.store_memory import MemoryAlertStore, MemoryRequestStore, MemoryTrackerStore
from shared.store import ensure_indexes, make_client

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RequestStore, AlertStore]]:
    if request.param == "memory":
        yield MemoryRequestStore(), MemoryAlertStore()
        return
    infra: dict[str, str] = request.getfixturevalue("infra")
    client = make_client(infra["mongo"])
    name = f"contract_ticketing_{uuid.uuid4().hex[:10]}"
    try:
        db = client[name]
        await ensure_indexes(db, INDEXES)
        yield MongoRequestRepository(db), MongoAlertRepository(db)
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
def requests(stores: tuple[RequestStore, AlertStore]) -> RequestStore:
    return stores[0]


@pytest.fixture
def alerts(stores: tuple[RequestStore, AlertStore]) -> AlertStore:
    return stores[1]


def fact(n: int, kind: str = "request.opened", minutes: int = 0, **data: str) -> Fact:
    return Fact(f"e{n}", kind, T0 + timedelta(minutes=minutes, microseconds=n), data)


def summary(request_id: str, office: str = "demo-nord", **fields: Any) -> RequestSummary:
    base = RequestSummary(
        office=office,
        request_id=request_id,
        n_events=1,
        state="open",
        placeholder=False,
        category="repair",
        urgency="U3",
        channel="phone",
        opened_at=T0,
        last_event_at=T0 + timedelta(minutes=5),
        flagged=0,
        breached=False,
        at_risk=False,
        clocks=(ClockSummary("intervention", "U3", "ok", T0 + timedelta(days=7), False),),
        next_check_at=None,
        updated_at=T0 + timedelta(hours=1),
    )
    return replace(base, **fields)


def alert(request_id: str, kind: str = "breached", stage: str = "intervention") -> AlertRecord:
    return AlertRecord("demo-nord", request_id, stage, "U1", kind, f'{{"id": "{request_id}-{stage}-{kind}"}}')


# --- request events ------------------------------------------------------------------------------


async def test_events_are_stored_once_and_read_back_by_request(requests: RequestStore) -> None:
    a, b = "demo-nord|R-1", "demo-nord|R-2"
    first = Fact("e1", "request.opened", T0, {"category": "repair"})
    assert await requests.add_events({a: [first, fact(2, "request.assigned", 5)], b: [fact(3)]}) == set()
    # a redelivered event, and one given twice in the same call
    known = await requests.add_events({a: [first, fact(4, "request.on_hold", 6)], b: [fact(5), fact(5)]})
    assert known == {(a, "e1"), (b, "e5")}
    stored = await requests.facts_of([a, b, "demo-nord|R-none", a])
    assert sorted(stored) == sorted([a, b, "demo-nord|R-none"])
    assert sorted(f.id for f in stored[a]) == ["e1", "e2", "e4"]
    assert sorted(f.id for f in stored[b]) == ["e3", "e5"]
    assert stored["demo-nord|R-none"] == []
    assert next(f for f in stored[a] if f.id == "e1") == first  # time to the microsecond, data kept
    assert next(f for f in stored[a] if f.id == "e2") == fact(2, "request.assigned", 5)
    got = await requests.get("demo-nord", "R-2")
    assert got is not None and sorted(f.id for f in got) == ["e3", "e5"]
    assert await requests.get("demo-nord", "R-none") is None
    assert await requests.get("demo-sud", "R-1") is None


async def test_erasing_a_tenant_strips_its_references_from_its_office_requests_only(requests: RequestStore) -> None:
    mine = Fact("e1", "request.opened", T0, {"tenant_ref": "T-1", "housing_ref": "H-1", "category": "repair"})
    other = Fact("e2", "request.opened", T0, {"tenant_ref": "T-2", "housing_ref": "H-2", "category": "repair"})
    elsewhere = Fact("e3", "request.opened", T0, {"tenant_ref": "T-1", "category": "repair"})
    await requests.add_events({"demo-nord|R-1": [mine, fact(4, "request.assigned", 5)], "demo-nord|R-2": [other]})
    await requests.add_events({"demo-sud|R-1": [elsewhere]})
    assert await requests.erased_among([("demo-nord", "T-1"), ("demo-sud", "T-1")]) == set()

    assert await requests.erase_tenant("demo-nord", "T-1", T0) == 1
    stored = await requests.facts_of(["demo-nord|R-1", "demo-nord|R-2", "demo-sud|R-1"])
    opened = next(f for f in stored["demo-nord|R-1"] if f.id == "e1")
    assert opened.data == {"category": "repair", "tenant_erased": True}
    assert next(f for f in stored["demo-nord|R-1"] if f.id == "e4") == fact(4, "request.assigned", 5)
    assert stored["demo-nord|R-2"] == [other]  # another tenant
    assert stored["demo-sud|R-1"] == [elsewhere]  # the same reference in another office
    assert await requests.erased_among([("demo-nord", "T-1"), ("demo-sud", "T-1"), ("demo-nord", "T-2")]) == {
        ("demo-nord", "T-1")
    }
    assert await requests.erase_tenant("demo-nord", "T-1", T0) == 0  # again: nothing left


async def test_a_summary_is_stale_until_written_from_every_stored_event(requests: RequestStore) -> None:
    key = "demo-nord|R-1"
    await requests.add_events({key: [fact(1), fact(2, "request.assigned", 1)]})
    assert await requests.stale([key, "demo-nord|R-none"]) == [key, "demo-nord|R-none"]
    await requests.write([summary("R-1", n_events=1)])
    assert await requests.stale([key]) == [key]  # an older writer's summary
    await requests.write([summary("R-1", n_events=2)])
    assert await requests.stale([key, key]) == []
    await requests.add_events({key: [fact(3, "request.on_hold", 2)]})
    assert await requests.stale([key]) == [key]
    assert await requests.stale([]) == []


# --- summaries: lists, filters, gauges ------------------------------------------------------------


async def test_summaries_are_replaced_in_place_and_read_back_typed(requests: RequestStore) -> None:
    first = summary("R-1")
    await requests.write([first])
    await requests.write([summary("R-1", state="assigned", n_events=2)])
    items, more = await requests.page(RequestFilter(), 10, None)
    assert [(s.request_id, s.state, s.n_events) for s in items] == [("R-1", "assigned", 2)]
    assert not more
    assert items[0] == summary("R-1", state="assigned", n_events=2)


async def test_a_clock_summary_keeps_whether_its_alert_was_historical(requests: RequestStore) -> None:
    clocks = (
        ClockSummary("first_response", "first_response", "met", T0 + timedelta(days=1), False),
        ClockSummary("intervention", "U1", "breached", T0 + timedelta(hours=4), False, historical=True),
    )
    await requests.write([summary("R-1", clocks=clocks)])
    items, _ = await requests.page(RequestFilter(), 10, None)
    assert items[0].clocks == clocks


async def test_pages_are_ordered_by_key_filtered_and_say_whether_more_follow(requests: RequestStore) -> None:
    await requests.write(
        [
            summary("R-3"),
            summary("R-1", breached=True, state="assigned"),
            summary("R-2", category="transfer"),
            summary("R-9", office="demo-sud"),
            summary("R-4", state="closed"),
        ]
    )
    first, more = await requests.page(RequestFilter(office="demo-nord"), 2, None)
    assert [s.request_id for s in first] == ["R-1", "R-2"] and more
    rest, more = await requests.page(RequestFilter(office="demo-nord"), 2, first[-1].key)
    assert [s.request_id for s in rest] == ["R-3", "R-4"] and not more
    every, _ = await requests.page(RequestFilter(), 10, None)
    assert [s.key for s in every] == [
        "demo-nord|R-1",
        "demo-nord|R-2",
        "demo-nord|R-3",
        "demo-nord|R-4",
        "demo-sud|R-9",
    ]

    async def ids(where: RequestFilter) -> list[str]:
        return [s.request_id for s in (await requests.page(where, 10, None))[0]]

    assert await ids(RequestFilter(breached=True)) == ["R-1"]
    assert await ids(RequestFilter(breached=False, office="demo-nord")) == ["R-2", "R-3", "R-4"]
    assert await ids(RequestFilter(state="closed")) == ["R-4"]
    assert await ids(RequestFilter(category="transfer")) == ["R-2"]
    assert await ids(RequestFilter(office="demo-sud", state="open")) == ["R-9"]
    assert await ids(RequestFilter(office="demo-nord", state="on_hold")) == []
    assert await requests.count_open() == {
        ("demo-nord", "open"): 2,
        ("demo-nord", "assigned"): 1,
        ("demo-sud", "open"): 1,
    }


# --- the sweeper's due reads -----------------------------------------------------------------------


async def test_due_requests_come_earliest_first_a_batch_at_a_time(requests: RequestStore) -> None:
    await requests.write(
        [
            summary("R-late", next_check_at=T0 + timedelta(minutes=30)),
            summary("R-a", next_check_at=T0 + timedelta(minutes=3)),
            summary("R-b", next_check_at=T0 + timedelta(minutes=1)),
            summary("R-c", next_check_at=T0 + timedelta(minutes=2)),
            summary("R-none", next_check_at=None),
        ]
    )
    now = T0 + timedelta(minutes=10)
    batch = await requests.due(now, 2)
    assert batch.keys == ["demo-nord|R-b", "demo-nord|R-c"]
    assert batch.swept_slot is None  # more is due than one batch takes
    batch = await requests.due(now, 3)
    assert batch.keys == ["demo-nord|R-b", "demo-nord|R-c", "demo-nord|R-a"]
    assert batch.swept_slot == "202611260810"
    await requests.swept(batch)
    # handled: the summaries moved on
    await requests.write([summary(r, next_check_at=T0 + timedelta(hours=5)) for r in ("R-a", "R-b", "R-c")])
    assert (await requests.due(now + timedelta(seconds=30), 3)).keys == []


async def test_after_a_sweep_only_the_slots_since_it_are_read(requests: RequestStore) -> None:
    now = T0 + timedelta(hours=1)
    await requests.swept(await requests.due(now, 10))  # nothing due: the current slot is recorded
    # written late with a threshold well before the last swept slot (less the overlap): not read
    await requests.write(
        [
            summary("R-old", next_check_at=now - timedelta(minutes=10)),
            summary("R-overlap", next_check_at=now - timedelta(minutes=1)),
            summary("R-new", next_check_at=now + timedelta(minutes=1)),
        ]
    )
    batch = await requests.due(now + timedelta(minutes=2), 10)
    assert batch.keys == ["demo-nord|R-overlap", "demo-nord|R-new"]
    assert batch.swept_slot == "202611260902"
    # a batch not complete records nothing
    await requests.swept(await requests.due(now + timedelta(minutes=2), 1))
    assert (await requests.due(now + timedelta(minutes=2), 10)).keys == ["demo-nord|R-overlap", "demo-nord|R-new"]


# --- alerts ------------------------------------------------------------------------------------------


async def test_an_alert_is_recorded_once(alerts: AlertStore) -> None:
    a, b = alert("R-1"), alert("R-1", kind="at_risk")
    assert await alerts.record([a, b, a], T0) == [a, b]
    assert await alerts.record([a, alert("R-2")], T0) == [alert("R-2")]
    assert await alerts.record([], T0) == []


async def test_recorded_alerts_are_read_back_by_key_and_by_request_with_whether_historical(
    alerts: AlertStore,
) -> None:
    old = replace(alert("R-1"), historical=True)
    live = alert("R-1", kind="at_risk")
    other = replace(alert("R-2"), historical=True)
    assert await alerts.record([old, live, other], T0) == [old, live, other]
    unknown = "demo-nord|R-9|intervention|breached"
    assert await alerts.recorded([old.key, live.key, unknown, old.key]) == {old.key: True, live.key: False}
    assert await alerts.recorded([]) == {}
    assert await alerts.of_request("demo-nord", "R-1") == [live, old]  # ordered by key
    assert await alerts.of_request("demo-sud", "R-1") == []
    assert await alerts.of_request("demo-nord", "R-9") == []
    # what was recorded first stands: recording it again as live changes nothing
    assert await alerts.record([replace(old, historical=False)], T0) == []
    assert await alerts.recorded([old.key]) == {old.key: True}
    assert (await alerts.of_request("demo-nord", "R-1"))[1].historical


async def test_claimed_alerts_are_held_for_the_lease_then_published_once(alerts: AlertStore) -> None:
    await alerts.record([alert("R-1"), alert("R-2")], T0)
    owner, won = await alerts.claim(T0, LEASE)
    assert sorted(r.key for r in won) == ["demo-nord|R-1|intervention|breached", "demo-nord|R-2|intervention|breached"]
    assert {r.event for r in won} == {alert("R-1").event, alert("R-2").event}
    assert (await alerts.claim(T0 + timedelta(seconds=1), LEASE))[1] == []  # held by the first owner
    await alerts.mark_published(owner, [won[0].key])
    # the lease lapsed: what was not published is taken again, once
    _, again = await alerts.claim(T0 + LEASE + timedelta(seconds=1), LEASE)
    assert [r.key for r in again] == [won[1].key]
    assert (await alerts.claim(T0 + LEASE + timedelta(seconds=2), LEASE))[1] == []


async def test_a_released_claim_is_taken_again_at_once(alerts: AlertStore) -> None:
    await alerts.record([alert("R-1")], T0)
    owner, won = await alerts.claim(T0, LEASE)
    assert len(won) == 1
    await alerts.release(owner, [won[0].key])
    other, again = await alerts.claim(T0 + timedelta(seconds=1), LEASE)
    assert [r.key for r in again] == [won[0].key] and other != owner
    await alerts.mark_published(other, [won[0].key])
    await alerts.release(other, [won[0].key])  # published: a late release changes nothing
    assert (await alerts.claim(T0 + timedelta(hours=1), LEASE))[1] == []


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def trackers(request: pytest.FixtureRequest) -> AsyncIterator[TrackerStore]:
    if request.param == "memory":
        yield MemoryTrackerStore()
        return
    infra: dict[str, str] = request.getfixturevalue("infra")
    client = make_client(infra["mongo"])
    name = f"contract_tracker_{uuid.uuid4().hex[:10]}"
    try:
        db = client[name]
        await ensure_indexes(db, INDEXES)
        yield MongoTrackerRepository(db)
    finally:
        await client.drop_database(name)
        await client.close()


async def test_tracker_links_are_recorded_once_and_found_by_digest(trackers: TrackerStore) -> None:
    a = TrackerLink("d" * 64, "demo-nord", "REQ-1", "T-1")
    b = TrackerLink("e" * 64, "demo-sud", "REQ-2", None)
    assert await trackers.record([a, b, a]) == 2
    assert await trackers.record([replace(a, request_id="REQ-OTHER")]) == 0  # first recording stands
    assert await trackers.find("d" * 64) == a
    assert await trackers.find("e" * 64) == b
    assert await trackers.find("f" * 64) is None


async def test_erasing_a_tenant_revokes_its_links_in_its_office_and_refuses_later_ones(
    trackers: TrackerStore,
) -> None:
    mine = TrackerLink("1" * 64, "demo-nord", "REQ-1", "T-1")
    same_ref_elsewhere = TrackerLink("2" * 64, "demo-sud", "REQ-2", "T-1")
    other = TrackerLink("3" * 64, "demo-nord", "REQ-3", "T-2")
    await trackers.record([mine, same_ref_elsewhere, other])
    assert await trackers.erase("demo-nord", "T-1") == 1
    assert await trackers.find(mine.digest) is None
    assert await trackers.find(same_ref_elsewhere.digest) == same_ref_elsewhere
    assert await trackers.find(other.digest) == other
    later = TrackerLink("4" * 64, "demo-nord", "REQ-4", "T-1")
    assert await trackers.record([later]) == 0
    assert await trackers.find(later.digest) is None
    assert await trackers.erase("demo-nord", "T-1") == 0  # again: nothing left, no error
