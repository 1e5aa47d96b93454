"""The gateway's HTTP contract with an in-memory sink (no Kafka): statuses, per-item results, auth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.gateway.app import create_app
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.settings import GatewaySettings
from shared.producer import MemoryProducer
from shared.settings import load_settings
from tests.support.samples import sample

NORD = {"Authorization": "Bearer demo-nord-demo-key"}
JSON_CT = {"Content-Type": "application/json"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, MemoryProducer, FakeClock]]:
    sink = MemoryProducer()
    clock = FakeClock()
    settings = load_settings(GatewaySettings, max_events=10, max_body_bytes=16384, rate_per_second=10, rate_burst=20)
    app = create_app(settings, sink_factory=lambda _: sink, limiter=RateLimiter(10, 20, clock=clock))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client, sink, clock


async def post(client: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/v1/events", content=content, headers={**JSON_CT, **NORD, **(headers or {})})


async def test_single_event_is_produced_to_its_prefixed_topic(gateway: Any) -> None:
    client, sink, _ = gateway
    event = sample("request.opened")
    response = await post(client, event)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1 and body["batch"] is False
    assert body["items"] == [{"index": 0, "id": event["id"], "status": 202, "type": event["type"]}]
    assert [(r.topic, r.key) for r in sink.records] == [("office.requests", event["subject"].encode())]
    assert json.loads(sink.records[0].value) == event


async def test_ratings_and_tenant_events_go_to_their_topics(gateway: Any) -> None:
    client, sink, _ = gateway
    response = await post(client, [sample("satisfaction.rated"), sample("tenant.contact_updated")])
    assert response.status_code == 202
    assert [r.topic for r in sink.records] == ["feedback.ratings", "office.tenants"]


async def test_mixed_batch_produces_exactly_the_valid_items(gateway: Any) -> None:
    client, sink, _ = gateway
    good = sample("request.opened")
    bad = sample("request.opened", category="plumbing")
    other_office = sample("request.closed")
    other_office["officeid"] = "demo-sud"
    other_office["source"] = "/offices/demo-sud/ikos"
    response = await post(client, [good, bad, other_office, 42])
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["refused"]) == (1, 3)
    statuses = [item["status"] for item in body["items"]]
    assert statuses == [202, 422, 403, 422]
    assert body["items"][1]["errors"][0]["field"] == "data.category"
    assert [json.loads(r.value)["id"] for r in sink.records] == [good["id"]]


async def test_all_or_nothing_refuses_the_batch_and_reports_valid_items_as_not_produced(gateway: Any) -> None:
    client, sink, _ = gateway
    good, bad = sample("request.opened"), sample("request.opened", urgency="U9")
    response = await client.post(
        "/v1/events?all_or_nothing=true", content=json.dumps([good, bad]), headers={**JSON_CT, **NORD}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [i["status"] for i in response.json()["items"]] == [424, 422]
    assert sink.records == []


async def test_nothing_valid_is_422_with_fields(gateway: Any) -> None:
    client, sink, _ = gateway
    event = sample("request.opened")
    event["time"] = "2026-11-27T08:14:05"  # naive: invalid
    response = await post(client, event)
    assert response.status_code == 422
    problem = response.json()
    assert problem["items"][0]["errors"][0]["field"] == "time"
    assert sink.records == []


async def test_other_office_only_is_403(gateway: Any) -> None:
    client, sink, _ = gateway
    event = sample("request.opened")
    event["officeid"], event["source"] = "demo-sud", "/offices/demo-sud/ikos"
    response = await post(client, event)
    assert response.status_code == 403
    # the source alone naming another office is refused too
    event = sample("request.opened")
    event["source"] = "/offices/demo-sud/ikos"
    assert (await post(client, event)).status_code == 403
    assert sink.records == []


async def test_service_event_types_are_refused(gateway: Any) -> None:
    client, sink, _ = gateway
    event = sample("sla.breached")
    assert (await post(client, event)).status_code == 403
    event["source"] = "/offices/demo-nord/ikos"
    response = await post(client, event)
    assert response.status_code == 403
    assert response.json()["items"][0]["errors"][0]["field"] == "type"
    assert sink.records == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope-not-a-key"},
        {"Authorization": "Basic ZGVtbzpkZW1v"},
        {"X-Api-Key": "demo-nord-demo-key-wrong"},
    ],
)
async def test_missing_or_bad_key_is_401(gateway: Any, headers: dict[str, str]) -> None:
    client, sink, _ = gateway
    response = await client.post(
        "/v1/events", content=json.dumps(sample("request.opened")), headers={**JSON_CT, **headers}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert sink.records == []


async def test_x_api_key_header_authenticates(gateway: Any) -> None:
    client, sink, _ = gateway
    response = await client.post(
        "/v1/events",
        content=json.dumps(sample("request.opened")),
        headers={**JSON_CT, "X-Api-Key": "demo-nord-demo-key"},
    )
    assert response.status_code == 202
    assert len(sink.records) == 1


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"{}", 415),
        ("application/xml", b"<x/>", 415),
        ("application/json", b"{not json", 400),
        ("application/json", b"\xff\xfe", 400),
        ("application/json", b"[" * 1500 + b"]" * 1500, 400),
        ("application/json", b"[]", 422),
        ("application/json", b"3", 422),
        ("application/cloudevents+json", b"[{}]", 400),
        ("application/cloudevents-batch+json", b"{}", 400),
        ("application/json", b"[" + b",".join([b"{}"] * 11) + b"]", 413),
        ("application/json", b" " * 17000 + b"{}", 413),
    ],
)
async def test_bad_bodies(gateway: Any, content_type: str, body: bytes, status: int) -> None:
    client, sink, _ = gateway
    response = await client.post("/v1/events", content=body, headers={**NORD, "Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert sink.records == []


async def test_cloudevents_media_types_with_charset(gateway: Any) -> None:
    client, sink, _ = gateway
    single = await client.post(
        "/v1/events",
        content=json.dumps(sample("request.opened")),
        headers={**NORD, "Content-Type": "application/cloudevents+json; charset=utf-8"},
    )
    batch = await client.post(
        "/v1/events",
        content=json.dumps([sample("request.opened")]),
        headers={**NORD, "Content-Type": "application/cloudevents-batch+json"},
    )
    assert (single.status_code, batch.status_code) == (202, 202)
    assert len(sink.records) == 2


async def test_rate_limit_429_with_retry_after_then_refills(gateway: Any) -> None:
    client, sink, clock = gateway
    batch = [sample("request.opened") for _ in range(10)]
    assert (await post(client, batch)).status_code == 202
    assert (await post(client, [sample("request.opened") for _ in range(10)])).status_code == 202
    limited = await post(client, [sample("request.opened") for _ in range(5)])
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    # another office has its own bucket
    other = sample("request.opened")
    other["officeid"], other["source"] = "demo-sud", "/offices/demo-sud/ikos"
    assert (await post(client, other, {"Authorization": "Bearer demo-sud-demo-key"})).status_code == 202
    clock.now += 0.5  # 5 tokens back
    assert (await post(client, [sample("request.opened") for _ in range(5)])).status_code == 202
    assert len(sink.records) == 26


async def test_kafka_down_is_503_and_nothing_produced(gateway: Any) -> None:
    client, sink, _ = gateway
    sink.down = True
    response = await post(client, [sample("request.opened"), sample("repair.done")])
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert sink.records == []
    ready = await client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"] == {"broker": False}


async def test_metrics_count_outcomes_by_office(gateway: Any) -> None:
    client, _, _ = gateway
    await post(client, [sample("request.opened"), sample("request.opened", category="x")])
    text = (await client.get("/metrics")).text
    assert 'canopee_gateway_events_total{office="demo-nord",outcome="accepted"} 1.0' in text
    assert 'canopee_gateway_events_total{office="demo-nord",outcome="invalid"} 1.0' in text
    assert 'canopee_gateway_requests_total{office="demo-nord",outcome="202"} 1.0' in text


async def test_openapi_documents_the_route(gateway: Any) -> None:
    client, _, _ = gateway
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/events"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    }
    assert {"202", "400", "401", "403", "413", "415", "422", "429", "503"} <= set(operation["responses"])
    assert (await client.get("/docs")).status_code == 200
