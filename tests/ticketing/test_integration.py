"""Ticketing on the real Kafka broker and MongoDB-wire store: lifecycle through the topic and the
API, breaches with no further event, replays, two instances, API auth, publish failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.ticketing.app import create_app
from services.ticketing.handlers import TicketingService
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.settings import TicketingSettings
from services.ticketing.store import INDEXES, MongoAlertRepository, MongoRequestRepository
from shared.events import CloudEvent, Topics, parse_event
from shared.settings import load_offices_from
from shared.store import ensure_indexes, make_client
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support import kafka as ks
from tests.support.http import running
from tests.support.waiting import eventually
from tests.ticketing.support import ManualClock, request_event, sample_event

pytestmark = pytest.mark.integration

# Thursday 26 November 2026, 09:00 in Paris: a working day
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NORD = {"Authorization": "Bearer demo-nord-demo-key"}
SUD = {"Authorization": "Bearer demo-sud-demo-key"}


@asynccontextmanager
async def service(settings: TicketingSettings, clock: ManualClock) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, clock=clock)
    async with running(app, settings.http_port) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield app, client


def ticketing_settings(make_settings: Any, **overrides: Any) -> TicketingSettings:
    settings: TicketingSettings = make_settings(TicketingSettings, sweep_seconds=0.1, gauge_seconds=0.2, **overrides)
    return settings


async def sla_events(bootstrap: str, settings: TicketingSettings, expect: int, settle: float = 0.0) -> list[CloudEvent]:
    records = await ks.read_topic(
        bootstrap, settings.topic(Topics.TICKETING_SLA), expect=expect, timeout=20, settle=settle
    )
    return [parse_event(r.value) for r in records]


async def get_request(client: httpx.AsyncClient, office: str, request_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/v1/requests/{office}/{request_id}", headers=ADMIN)
    return response.json() if response.status_code == 200 else None


async def test_full_lifecycle_through_the_topic_and_the_api(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=6))
    rid = "REQ-LIFE-1"
    events = [
        request_event("request.opened", rid, T0, urgency="U2", category="heating_hot_water"),
        request_event("request.assigned", rid, T0 + timedelta(hours=1)),
        request_event("appointment.scheduled", rid, T0 + timedelta(hours=2)),
        request_event("request.on_hold", rid, T0 + timedelta(hours=2, minutes=30)),
        request_event("request.resumed", rid, T0 + timedelta(hours=3, minutes=30)),
        request_event("repair.done", rid, T0 + timedelta(hours=5)),
        request_event("request.closed", rid, T0 + timedelta(hours=5, minutes=30)),
        request_event("request.reopened", rid, T0 + timedelta(hours=5, minutes=10)),  # late and out of order
    ]
    async with service(settings, clock) as (_, client):
        # newest first: arrival order must not matter
        await ks.produce_events(infra["kafka"], topics, events[::-1])
        body = await eventually(
            lambda: _when(get_request(client, "demo-nord", rid), lambda b: b and len(b["timeline"]) == len(events))
        )
        assert body["state"] == "closed"  # reopened at 5:10, closed again at 5:30
        assert [e["type"] for e in body["timeline"]] == [
            "request.opened",
            "request.assigned",
            "appointment.scheduled",
            "request.on_hold",
            "request.resumed",
            "repair.done",
            "request.reopened",
            "request.closed",
        ]
        assert not any(e["flagged"] for e in body["timeline"])
        assert "summary" not in body["timeline"][0]["data"]
        clocks = {c["stage"]: c for c in body["clocks"]}
        assert clocks["first_response"]["status"] == "met"
        intervention = clocks["intervention"]
        assert intervention["policy"] == "U2" and intervention["status"] == "met"
        assert intervention["elapsed_seconds"] == 4 * 3600  # 5 h minus 1 h on hold
        assert intervention["target"] == {"amount": 24.0, "unit": "hours"}
        assert datetime.fromisoformat(intervention["due_at"]) == T0 + timedelta(hours=25)

        # the projection is rewritten as later batches land: the listing converges
        listing = await eventually(
            lambda: _when(_closed(client), lambda b: [i["request_id"] for i in b["items"]] == [rid])
        )
        assert [i["request_id"] for i in listing["items"]] == [rid]
        assert (await client.get("/openapi.json")).json()["paths"]["/v1/requests/{office}/{request_id}"]
        metrics = await eventually(
            lambda: _when(
                _metrics(client),
                lambda text: (
                    'canopee_ticketing_events_total{outcome="applied"' in text
                    and 'canopee_events_consumed_total{outcome="ok",topic="office.requests"' in text
                ),
            )
        )
        assert 'canopee_events_consumed_total{outcome="ok",topic="office.requests"' in metrics
        assert (await client.get("/health/ready")).json()["ready"] is True
    assert await sla_events(infra["kafka"], settings, expect=0, settle=0.5) == []


async def test_an_erased_tenant_leaves_no_reference_in_the_store_nor_the_api(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=6))
    erased = sample_event("tenant.erased", tenant_ref="T-ERASED-1", subject="T-ERASED-1")
    before = request_event("request.opened", "REQ-ER-1", T0, tenant_ref="T-ERASED-1", housing_ref="H-ERASED-1")
    kept = request_event("request.opened", "REQ-ER-2", T0, tenant_ref="T-KEPT-1", housing_ref="H-KEPT-1")
    after = request_event("request.opened", "REQ-ER-3", T0, tenant_ref="T-ERASED-1", housing_ref="H-ERASED-2")
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, [before, kept, request_event("repair.done", "REQ-ER-1", T0)])
        await eventually(lambda: _when(get_request(client, "demo-nord", "REQ-ER-1"), lambda b: b and b["tenant_ref"]))
        await ks.produce_events(infra["kafka"], topics, [erased])
        body = await eventually(
            lambda: _when(get_request(client, "demo-nord", "REQ-ER-1"), lambda b: b and b["tenant_ref"] is None)
        )
        opened = body["timeline"][0]
        assert opened["type"] == "request.opened" and opened["data"]["tenant_erased"] is True
        assert {"tenant_ref", "housing_ref"}.isdisjoint(opened["data"]) and opened["data"]["category"]
        assert "T-ERASED-1" not in str(body) and "H-ERASED-1" not in str(body)
        # a request of the erased tenant that arrives after the erasure is stored without them
        await ks.produce_events(infra["kafka"], topics, [after])
        late = await eventually(lambda: _when(get_request(client, "demo-nord", "REQ-ER-3"), lambda b: b))
        assert late["tenant_ref"] is None and late["timeline"][0]["data"]["tenant_erased"] is True
        assert (await get_request(client, "demo-nord", "REQ-ER-2") or {})["tenant_ref"] == "T-KEPT-1"
    mongo = make_client(infra["mongo"])
    try:
        dump = str([d async for d in mongo[settings.mongo_db]["request_events"].find({})])
        dump += str([d async for d in mongo[settings.mongo_db]["requests"].find({})])
        dump += str([d async for d in mongo[settings.mongo_db]["erased_tenants"].find({})])
    finally:
        await mongo.close()
    assert "T-KEPT-1" in dump
    assert "T-ERASED-1" not in dump and "H-ERASED" not in dump


async def _closed(client: httpx.AsyncClient) -> Any:
    return (await client.get("/v1/requests", params={"state": "closed"}, headers=ADMIN)).json()


async def _metrics(client: httpx.AsyncClient) -> str:
    return (await client.get("/metrics")).text


async def _when(value: Any, predicate: Any) -> Any:
    result = await value
    return result if predicate(result) else None


async def test_u1_breach_fires_with_no_further_event_and_a_replay_emits_nothing_new(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    clock = ManualClock(T0)
    rid = "REQ-U1-1"
    events = [request_event("request.opened", rid, T0, urgency="U1", category="repair")]
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, events)
        await eventually(lambda: get_request(client, "demo-nord", rid))
        clock.now = T0 + timedelta(hours=3, minutes=30)  # 87 % of 4 hours
        at_risk = await sla_events(infra["kafka"], settings, expect=1)
        assert [(e.type, e.data.stage.value) for e in at_risk] == [("fr.canopee.sla.at_risk.v1", "intervention")]  # type: ignore[attr-defined]
        clock.now = T0 + timedelta(hours=4, minutes=1)
        emitted = await sla_events(infra["kafka"], settings, expect=2)
        breached = emitted[1]
        assert breached.type == "fr.canopee.sla.breached.v1"
        assert breached.subject == rid and breached.officeid == "demo-nord"
        assert breached.data.policy == "U1" and breached.data.due_at == T0 + timedelta(hours=4)  # type: ignore[attr-defined]
        assert breached.time == T0 + timedelta(hours=4)
        body = await get_request(client, "demo-nord", rid)
        assert body is not None
        assert {c["stage"]: c["status"] for c in body["clocks"]} == {"first_response": "ok", "intervention": "breached"}
        listing = (await client.get("/v1/requests", params={"breached": "true"}, headers=ADMIN)).json()
        assert [i["request_id"] for i in listing["items"]] == [rid]

        # replay: the same events again, later in time; nothing new may come out
        clock.now = T0 + timedelta(hours=4, minutes=30)
        await ks.produce_events(infra["kafka"], topics, events)
        await eventually(
            lambda: _when(_metrics(client), lambda text: 'outcome="duplicate",type="request.opened"} 1.0' in text)
        )
    # a restarted instance on the same store and topic finds nothing new either
    async with service(settings, clock):
        assert len(await sla_events(infra["kafka"], settings, expect=3, settle=0.3)) == 2


async def test_two_instances_split_the_partitions_and_emit_each_breach_once(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    other = settings.model_copy(update={"port": free_port()})
    clock = ManualClock(T0)
    ids = [f"REQ-PAIR-{n:02d}" for n in range(12)]
    async with AsyncExitStack() as stack:
        first, client = await stack.enter_async_context(service(settings, clock))
        second, _ = await stack.enter_async_context(service(other, clock))

        def assignments() -> list[set[Any]]:
            # the requests topic's partitions (the consumer also reads office.tenants for erasures)
            return [
                {
                    tp
                    for s in app.state.runtime.broker.subscribers
                    if s.consumer
                    for tp in s.consumer.assignment()
                    if tp.topic == settings.topic(Topics.OFFICE_REQUESTS)
                }
                for app in (first, second)
            ]

        # both members joined and the three partitions of office.requests are split between them
        await eventually(lambda: all(assignments()) and sum(map(len, assignments())) == 3, timeout=30)
        await ks.produce_events(
            infra["kafka"],
            topics,
            [request_event("request.opened", r, T0, urgency="U1", category="repair") for r in ids],
        )

        async def all_stored() -> bool:
            page = (await client.get("/v1/requests", params={"limit": 50}, headers=ADMIN)).json()
            return len(page["items"]) == len(ids)

        await eventually(all_stored)
        clock.now = T0 + timedelta(hours=5)  # past the U1 deadline: both sweepers race for every breach
        emitted = await sla_events(infra["kafka"], settings, expect=len(ids), settle=1.0)
        assert sorted(e.subject for e in emitted) == ids
        assert {e.type for e in emitted} == {"fr.canopee.sla.breached.v1"}
        assert len({e.id for e in emitted}) == len(ids)
        consumed = [
            sum(
                s.value
                for metric in app.state.runtime.registry.collect()
                if metric.name == "canopee_ticketing_events"
                for s in metric.samples
                if s.name.endswith("_total")
            )
            for app in (first, second)
        ]
        assert sum(consumed) == len(ids)
        assert all(n > 0 for n in consumed), consumed


async def test_api_auth_offices_see_only_their_own_requests(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    clock = ManualClock(T0)
    events = [request_event("request.opened", f"REQ-AUTH-{n}", T0, category="repair") for n in range(3)]
    events.append(request_event("request.opened", "REQ-SUD-1", T0, office="demo-sud", category="transfer"))
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, events)
        await eventually(lambda: get_request(client, "demo-sud", "REQ-SUD-1"))
        await eventually(lambda: get_request(client, "demo-nord", "REQ-AUTH-2"))

        assert (await client.get("/v1/requests/demo-nord/REQ-AUTH-0")).status_code == 401
        bad = await client.get("/v1/requests/demo-nord/REQ-AUTH-0", headers={"Authorization": "Bearer nope-nope-nope"})
        assert bad.status_code == 401
        own = await client.get("/v1/requests/demo-nord/REQ-AUTH-0", headers=NORD)
        assert own.status_code == 200 and own.json()["state"] == "open"
        foreign = await client.get("/v1/requests/demo-nord/REQ-AUTH-0", headers=SUD)
        assert foreign.status_code == 404
        assert foreign.headers["content-type"] == "application/problem+json"
        assert "REQ-AUTH-0" not in foreign.text or "open" not in foreign.json().get("state", "")
        missing = await client.get("/v1/requests/demo-nord/REQ-NOPE", headers=NORD)
        assert missing.status_code == 404 and missing.json()["status"] == 404

        assert (await client.get("/v1/requests", params={"office": "demo-nord"}, headers=SUD)).status_code == 403
        sud = (await client.get("/v1/requests", headers=SUD)).json()
        assert [i["request_id"] for i in sud["items"]] == ["REQ-SUD-1"]

        # pagination with an opaque cursor, as the admin
        first = (await client.get("/v1/requests", params={"office": "demo-nord", "limit": 2}, headers=ADMIN)).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (
            await client.get(
                "/v1/requests",
                params={"office": "demo-nord", "limit": 2, "cursor": first["next_cursor"]},
                headers=ADMIN,
            )
        ).json()
        assert [i["request_id"] for i in first["items"] + rest["items"]] == ["REQ-AUTH-0", "REQ-AUTH-1", "REQ-AUTH-2"]
        assert rest["next_cursor"] is None
        assert (await client.get("/v1/requests", params={"cursor": "%%%"}, headers=ADMIN)).status_code == 400
        assert (await client.get("/v1/requests", params={"state": "lost"}, headers=ADMIN)).status_code == 422


class FlakyPublisher:
    """Fails the first ``failures`` publishes, then records what it is given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[CloudEvent] = []

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.published.extend(events)


@asynccontextmanager
async def service_store(settings: TicketingSettings) -> AsyncIterator[Any]:
    """The service's database on the real store, indexed, dropped afterwards."""
    mongo = make_client(settings.mongo_url)
    try:
        db = mongo[settings.database]
        await ensure_indexes(db, INDEXES)
        yield db
    finally:
        await mongo.drop_database(settings.database)
        await mongo.close()


def store_instance(
    settings: TicketingSettings, db: Any, publisher: FlakyPublisher, clock: ManualClock, **options: Any
) -> TicketingService:
    """One service instance on ``db`` without Kafka: events applied and sweeps run by the test."""
    return TicketingService(
        offices=load_offices_from(settings),
        requests=MongoRequestRepository(db),
        alerts=MongoAlertRepository(db),
        publisher=publisher,
        metrics=TicketingMetrics.create(CollectorRegistry()),
        clock=clock,
        **options,
    )


async def test_an_alert_whose_publish_failed_is_published_by_the_next_sweep_once(
    make_settings: Any, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    async with service_store(settings) as db:
        publisher = FlakyPublisher(failures=1)
        clock = ManualClock(T0 + timedelta(hours=5))
        svc = store_instance(settings, db, publisher, clock)
        late: Sequence[CloudEvent] = [request_event("request.opened", "REQ-FLAKY", T0, urgency="U1", category="repair")]
        with pytest.raises(ConnectionError):
            await svc.apply(late)  # recorded, not published: the batch would be retried
        assert publisher.published == []
        await svc.sweep()  # the next tick publishes what was left
        assert [e.type for e in publisher.published] == ["fr.canopee.sla.breached.v1"]
        await svc.apply(late)  # the redelivered batch changes nothing
        await svc.sweep()
        clock.now += timedelta(days=30)
        await svc.sweep()
        assert len(publisher.published) == 2  # breached intervention, then breached first response
        assert len({e.id for e in publisher.published}) == 2


async def test_concurrent_writers_of_one_request_lose_no_event(make_settings: Any, infra: dict[str, str]) -> None:
    settings = ticketing_settings(make_settings)
    async with service_store(settings) as db:
        a, b = (store_instance(settings, db, FlakyPublisher(0), ManualClock(T0)) for _ in range(2))
        rid = "REQ-RACE"
        await asyncio.gather(
            a.apply([request_event("request.opened", rid, T0, category="repair")]),
            b.apply([request_event("request.assigned", rid, T0 + timedelta(minutes=5))]),
            a.apply([request_event("request.on_hold", rid, T0 + timedelta(minutes=6))]),
            b.apply([request_event("request.resumed", rid, T0 + timedelta(minutes=7))]),
        )
        found = await a.find("demo-nord", rid)
        assert found is not None
        assert [e.fact.type for e in found.request.timeline] == [
            "request.opened",
            "request.assigned",
            "request.on_hold",
            "request.resumed",
        ]
        assert found.request.state.value == "assigned"


async def test_the_sweeper_finds_due_requests_by_slot_across_late_ticks_and_batches(
    make_settings: Any, infra: dict[str, str]
) -> None:
    settings = ticketing_settings(make_settings)
    async with service_store(settings) as db:
        clock = ManualClock(T0)

        def instance(batch: int) -> tuple[TicketingService, FlakyPublisher]:
            publisher = FlakyPublisher(0)
            return store_instance(settings, db, publisher, clock, sweep_batch=batch), publisher

        svc, publisher = instance(batch=2)
        ids = [f"REQ-SLOT-{n}" for n in range(5)]
        # U1: at risk at 3 h 12, breached at 4 h; one request opened a minute later
        await svc.apply([request_event("request.opened", r, T0, urgency="U1", category="repair") for r in ids[:4]])
        await svc.apply([request_event("request.opened", ids[4], T0 + timedelta(minutes=1), urgency="U1")])
        stored = await db["requests"].find_one({"_id": f"demo-nord|{ids[0]}"})
        assert stored is not None and stored["due_slot"] == "202611261112"  # 08:00 + 3 h 12, UTC
        assert await svc.sweep() == 0  # first tick: no sweep recorded yet, one date-range read
        assert (await db["sweeps"].find_one({}) or {}).get("slot") == "202611260800"

        # a tick in the at-risk slot, before the later request's threshold: only the first four,
        # two per tick (the batch), and the slot is not recorded until all of them are handled
        clock.now = T0 + timedelta(hours=3, minutes=12, seconds=30)
        assert await svc.sweep() == 2
        assert (await db["sweeps"].find_one({}) or {}).get("slot") == "202611260800"
        assert await svc.sweep() == 2
        assert await svc.sweep() == 0
        assert (await db["sweeps"].find_one({}) or {}).get("slot") == "202611261112"
        assert sorted(e.subject for e in publisher.published) == ids[:4]

        # a restarted instance, late by several minutes: the later request's at-risk is still found
        svc, publisher = instance(batch=1000)
        clock.now = T0 + timedelta(hours=3, minutes=40)
        assert await svc.sweep() == 1
        assert [(e.subject, e.type) for e in publisher.published] == [(ids[4], "fr.canopee.sla.at_risk.v1")]

        # past every deadline: each breach once, however many ticks follow
        clock.now = T0 + timedelta(hours=4, minutes=2)
        assert await svc.sweep() == 5
        assert await svc.sweep() == 0
        clock.now += timedelta(minutes=5)
        assert await svc.sweep() == 0
        breached = [e.subject for e in publisher.published if e.type == "fr.canopee.sla.breached.v1"]
        assert sorted(breached) == ids
