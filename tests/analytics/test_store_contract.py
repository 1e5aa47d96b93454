"""One contract for analytics' stores, run against the in-memory twin and the real store
(FerretDB/MongoDB): what the use cases rely on, so the twin the unit tests use cannot drift.
The last test runs the use cases themselves on each store over a shuffled, duplicated dataset."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from services.analytics.domain.contractors import Cell, ContractorDay
from services.analytics.domain.indicators import Bucket, Query, compute
from services.analytics.domain.records import (
    AlertFact,
    Appointment,
    CampaignAnswer,
    Fact,
    Interval,
    Missed,
    Net,
    NotificationFact,
    Rating,
    RequestFact,
    StoredEvent,
    SurveyFact,
)
from services.analytics.domain.rollups import CampaignEntry, Rollup
from services.analytics.handlers import Analytics
from services.analytics.ports import AnalyticsStore
from services.analytics.store import INDEXES, MongoAnalyticsStore, rollup_document, rollup_of
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.store import ensure_indexes, make_client
from tests.support.analytics_dataset import OFFICES, RANGE, generate

T0 = datetime(2026, 3, 2, 9, 30, 15, 123000, tzinfo=UTC)  # millisecond precision, as the store keeps
OFFICES_CONFIG = load_offices(DEMO_OFFICES_FILE)


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[AnalyticsStore]:
    if request.param == "memory":
        yield MemoryAnalyticsStore()
        return
    infra = request.getfixturevalue("infra")
    client = make_client(infra["mongo"], timeout_ms=10_000)
    name = f"t{uuid.uuid4().hex[:10]}_analytics"
    try:
        db = client[name]
        await ensure_indexes(db, INDEXES)
        yield MongoAnalyticsStore(db)
    finally:
        await client.drop_database(name)
        await client.close()


def event(n: int, key: str = "r|demo-nord|R-1", type_: str = "request.opened", **data: object) -> StoredEvent:
    return StoredEvent(
        id=f"ev-{n}", key=key, office=key.split("|")[1], type=type_, time=T0 + timedelta(minutes=n), data=data
    )


def request_fact(key: str, n_events: int = 1, opened_event: str = "ev-1", **values: Any) -> RequestFact:
    office = key.split("|")[1]
    return RequestFact(
        key=key,
        office=office,
        n_events=n_events,
        days=("2026-03-02", "2026-03-03"),
        placeholder=False,
        opened_at=T0,
        opened_event=opened_event,
        first_response_at=T0 + timedelta(hours=2),
        first_response_seconds=7200.0,
        open_intervals=(Interval(T0, T0 + timedelta(days=1)), Interval(T0 + timedelta(days=2), None)),
        appointments=(Appointment("AP-1", T0 + timedelta(hours=5)),),
        missed=(Missed(T0 + timedelta(hours=5), "tenant"),),
        breaches={"first_response": T0 + timedelta(hours=30)},
        assignees=2,
        **values,
    )


def placeholder_fact(key: str) -> RequestFact:
    return RequestFact(key=key, office=key.split("|")[1], n_events=1, placeholder=True, repair_done_at=T0)


def survey_fact(key: str) -> SurveyFact:
    return SurveyFact(
        key=key,
        office=key.split("|")[1],
        n_events=3,
        days=("2026-03-02",),
        sent_at=T0,
        origin="campaign",
        campaign_id="c-1",
        rating=Rating(T0 + timedelta(hours=1), 4, 9, "sms"),
        campaign_answer=CampaignAnswer(T0 + timedelta(hours=2), {"keys": 4, "team": 5}, None),
    )


def notification_fact(key: str, cause_id: str) -> NotificationFact:
    return NotificationFact(
        key=key,
        office=key.split("|")[1],
        n_events=2,
        days=("2026-03-02",),
        first_at=T0,
        channel="sms",
        template="request_opened",
        recipient="tenant",
        cause_id=cause_id,
        outcome="delivered",
        outcomes=("sent", "delivered"),
        sms_segments=2,
    )


def alert_fact(key: str, **fields: Any) -> AlertFact:
    return AlertFact(
        key=key,
        office=key.split("|")[1],
        n_events=1,
        raised_at=T0,
        score=1,
        due_at=T0 + timedelta(hours=48),
        **fields,
    )


def a_bucket() -> Bucket:
    bucket = Bucket(opened=3, digital=1, first_response=[3600.5, 12.25], scores=[2, 4, 4], nps=[0, 10])
    bucket.by_category.update({"repair": 2, "transfer": 1})
    bucket.repair["U1"].extend([7200.0, 60.0])
    bucket.within["emergency"] = [2, 1]
    bucket.alerts, bucket.loop_due, bucket.loop_within = 4, 3, 2
    bucket.stage_breached["first_response"] += 0
    bucket.notifications["sms"].update({"sent": 2, "failed": 1})
    bucket.notifications["letter"] = Counter({"sent": 1})
    return bucket


def a_rollup(office: str, day: date, gen: str | None, net: int = 1) -> Rollup:
    campaigns = [
        CampaignEntry("c-1", "s", None, 2, 1, {"keys": {4: 1}, "team": {2: 1}}, {9: 1}),
        CampaignEntry("c-1", "a", day - timedelta(days=3), 0, 1, {"keys": {5: 1}}, {}),
    ]
    return Rollup(
        office=office,
        day=day,
        bucket=a_bucket(),
        campaigns=campaigns,
        starts=(T0, T0 + timedelta(hours=2, microseconds=7)),  # instants keep their microseconds
        ends=(T0 + timedelta(hours=1),),
        net=net,
        n_facts=3,
        gen=gen,
        contractors=ContractorDay(
            {
                "C-PLOMB": Cell(
                    names=Counter({"Plomberie Martin": 2}),
                    repairs=2,
                    within={"emergency": [1, 1], "non_emergency": [1, 0]},
                    times=[60.5, 7200.0],
                    first_visit=[1, 1],
                    missed=1,
                    repeats=1,
                    scores=[2, 5, 5],
                    candidates=[("0a1b2c3d4e5f60718293", "repair", T0 + timedelta(microseconds=3))],
                ),
                "name:ets. l'électricien $1": Cell(missed=1),
            },
            (("0a1b2c3d4e5f60718293", "repair", T0), ("ffff", "heating_hot_water", T0 + timedelta(hours=1))),
        ),
    )


def by_key(records: list[Fact]) -> dict[str, Fact]:
    return {r.key: r for r in records}


async def test_events_are_kept_once_and_read_back_by_key(store: AnalyticsStore) -> None:
    first = event(1, channel="web", category="repair")
    second = event(2, type_="request.assigned", assignee_ref="A-1")
    other = event(3, key="s|demo-sud|S-1", type_="survey.requested", reminder=False)
    assert await store.add_events([first, second, other]) == set()
    assert await store.add_events([first, event(4)]) == {"ev-1"}
    found = await store.events_of(["r|demo-nord|R-1", "s|demo-sud|S-1", "r|demo-nord|none"])
    assert sorted(found["r|demo-nord|R-1"], key=lambda e: e.id) == [first, second, event(4)]
    assert found["s|demo-sud|S-1"] == [other]
    assert found["r|demo-nord|none"] == []
    assert await store.events_of([]) == {}


async def test_facts_are_replaced_whole_and_read_by_office_and_key(store: AnalyticsStore) -> None:
    nord = request_fact("r|demo-nord|R-1", category="repair")
    sud = request_fact("r|demo-sud|R-2", category="transfer", transfer_in_time=False)
    await store.write_facts([nord, sud])
    replaced = request_fact(
        "r|demo-nord|R-1", n_events=2, channel="web", within_target=True, reopened=True, transfer_in_time=True
    )
    acked = alert_fact("a|demo-nord|S-2", acknowledged_at=T0 + timedelta(hours=50), within_deadline=False, overdue=True)
    others = [placeholder_fact("r|demo-nord|R-3"), survey_fact("s|demo-nord|S-1"), alert_fact("a|demo-nord|S-1"), acked]
    await store.write_facts([replaced, *others, notification_fact("n|demo-nord|N-1", "ev-1")])
    assert by_key(await store.facts(["demo-sud"])) == {sud.key: sud}
    found = by_key(await store.facts(["demo-nord", "demo-sud"]))
    assert found == by_key([replaced, sud, *others, notification_fact("n|demo-nord|N-1", "ev-1")])
    assert by_key(await store.facts_by_key([sud.key, "r|demo-est|none", sud.key])) == {sud.key: sud}
    assert await store.days_of([replaced.key, "r|demo-est|none"]) == {replaced.key: ["2026-03-02", "2026-03-03"]}
    assert await store.facts([]) == []


async def test_a_fact_is_stale_unless_computed_from_every_stored_event(store: AnalyticsStore) -> None:
    await store.add_events([event(1), event(2), event(3, key="r|demo-nord|R-2")])
    await store.write_facts([request_fact("r|demo-nord|R-1", n_events=1), request_fact("r|demo-nord|R-2")])
    keys = ["r|demo-nord|R-1", "r|demo-nord|R-2", "r|demo-nord|R-3"]
    # one event of two; R-2: fresh; R-3: no events and no fact (counted stale by both stores)
    assert await store.stale(keys) == ["r|demo-nord|R-1", "r|demo-nord|R-3"]
    await store.write_facts([request_fact("r|demo-nord|R-1", n_events=2)])
    assert await store.stale(keys[:2]) == []
    assert await store.stale([]) == []


async def test_memberships_are_kept_once_per_day_and_fact(store: AnalyticsStore) -> None:
    day, other = "demo-nord|2026-03-02", "demo-nord|2026-03-03"
    await store.add_members([(day, "r|demo-nord|R-1"), (day, "n|demo-nord|N-1"), (other, "r|demo-nord|R-1")])
    await store.add_members([(day, "r|demo-nord|R-1")])
    found = await store.members([day, other, "demo-sud|2026-03-02"])
    assert sorted(found[day]) == ["n|demo-nord|N-1", "r|demo-nord|R-1"]
    assert found[other] == ["r|demo-nord|R-1"]
    assert found["demo-sud|2026-03-02"] == []
    await store.add_members([])


async def test_requests_notifications_and_alerts_are_found_by_their_links(store: AnalyticsStore) -> None:
    request = request_fact("r|demo-nord|R-1", opened_event="ev-1")
    ack = notification_fact("n|demo-sud|N-1", cause_id="ev-1")
    alert, elsewhere = alert_fact("a|demo-nord|S-1"), alert_fact("a|demo-est|S-2")
    await store.write_facts([request, ack, alert, elsewhere])
    assert await store.opened_by(["ev-1", "ev-9"]) == [request]
    assert await store.acknowledging(["ev-1"]) == [ack]
    assert await store.acknowledging([]) == []
    assert await store.alerts(["demo-nord", "demo-sud"]) == [alert]
    about = SurveyFact(
        key="s|demo-nord|S-1",
        office="demo-nord",
        n_events=1,
        sent_at=T0,
        origin="request",
        campaign_id=None,
        rating=None,
        campaign_answer=None,
        request_id="R-1",
    )
    same_id_elsewhere = replace(about, key="s|demo-sud|S-1", office="demo-sud")
    await store.write_facts([about, same_id_elsewhere])
    assert await store.surveys_about([("demo-nord", "R-1"), ("demo-nord", "R-9")]) == [about]
    assert await store.surveys_about([]) == []


async def test_dirty_markers_keep_the_last_generation(store: AnalyticsStore) -> None:
    await store.mark_dirty(["demo-nord|2026-03-02", "demo-nord|2026-03-03", "demo-sud|2026-03-02"], "g1")
    await store.mark_dirty(["demo-nord|2026-03-03"], "g2")
    await store.mark_dirty([], "g3")
    assert await store.dirty(["demo-nord"]) == {"demo-nord|2026-03-02": "g1", "demo-nord|2026-03-03": "g2"}
    assert await store.dirty_of(["demo-sud|2026-03-02", "demo-est|2026-03-02"]) == {"demo-sud|2026-03-02": "g1"}
    assert await store.dirty([]) == {}


async def test_rollups_and_their_nets_are_replaced_and_read_back(store: AnalyticsStore) -> None:
    day = date(2026, 3, 2)
    older, sud = a_rollup("demo-nord", day, "g1", net=2), a_rollup("demo-sud", day, None, net=-1)
    await store.write_rollups([older, sud])
    newer = a_rollup("demo-nord", day, "g2", net=5)
    await store.write_rollups([newer])
    await store.write_rollups([])
    assert await store.rollups(["demo-nord|2026-03-02", "demo-est|2026-03-02"]) == [newer]
    assert await store.rollups(["demo-sud|2026-03-02"]) == [sud]
    assert await store.nets(["demo-nord"]) == [Net("demo-nord", day, 5, "g2")]
    assert sorted(await store.nets(["demo-nord", "demo-sud"]), key=lambda n: n.key) == [newer.as_net(), sud.as_net()]


async def test_the_use_cases_give_the_indicators_of_the_facts_on_either_store(store: AnalyticsStore) -> None:
    events = generate(per_office=6, seed=41, prefix="ct").cloud_events()
    rnd = random.Random(8)
    delivered = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(delivered)
    svc = Analytics(OFFICES_CONFIG, store)
    for i in range(0, len(delivered), 25):
        await svc.apply(delivered[i : i + 25])
    await svc.refresh_rollups()
    zones = {o.id: o.tz for o in OFFICES_CONFIG.office}
    query = Query(start=RANGE[0], end=RANGE[1], period="week", offices=list(OFFICES), tz=zones)
    expected = compute(query, await store.facts(list(OFFICES)))
    assert await svc.indicators(list(OFFICES), RANGE[0], RANGE[1], "week") == expected
    assert expected["network"]["total"]["volume"]["opened"] == 4 * 6


async def test_contractor_and_complaint_fields_round_trip_and_complaints_are_found_by_opening(
    store: AnalyticsStore,
) -> None:
    repaired = request_fact(
        "r|demo-nord|R-7",
        contractor="C-PLOMB",
        contractor_name="Plomberie Martin",
        first_visit=False,
        housing="0a1b2c3d4e5f60718293",
        complaint=True,
        complaint_answered_in_time=True,
    )
    later = replace(request_fact("r|demo-nord|R-8", complaint=True), opened_at=T0 + timedelta(days=40))
    plain = request_fact("r|demo-nord|R-9")
    elsewhere = request_fact("r|demo-est|R-1", complaint=True)
    rated = SurveyFact(
        key="s|demo-nord|S-7",
        office="demo-nord",
        n_events=2,
        sent_at=T0,
        origin="request",
        campaign_id=None,
        rating=Rating(T0 + timedelta(hours=1), 2, None, "sms"),
        campaign_answer=None,
        request_id="R-7",
    )
    await store.write_facts([repaired, later, plain, elsewhere, rated])
    assert await store.facts_by_key(["r|demo-nord|R-7", "s|demo-nord|S-7"]) in ([repaired, rated], [rated, repaired])
    found = await store.complaints(["demo-nord"], T0, T0 + timedelta(days=40))
    assert found == [repaired]  # the end is exclusive; other offices and plain requests are not complaints
    assert await store.complaints([], T0, T0 + timedelta(days=90)) == []


def test_a_rollup_stored_before_contractor_shares_is_read_as_stale() -> None:
    stored = rollup_document(a_rollup("demo-nord", date(2026, 3, 2), "g1"))
    assert rollup_of(stored) == a_rollup("demo-nord", date(2026, 3, 2), "g1")
    del stored["contractors"]
    assert rollup_of(stored).gen is None  # no marker's generation: computed again when read
