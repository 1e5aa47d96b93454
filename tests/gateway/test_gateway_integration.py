"""The gateway against the real Kafka: what a 202 says is on the topic, and nothing else is."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import free_port
from tests.support.http import running
from tests.support.kafka import read_topic
from tests.support.samples import sample

pytestmark = pytest.mark.integration

NORD = {"Authorization": "Bearer demo-nord-demo-key", "Content-Type": "application/json"}


def as_office(event: dict[str, Any], office: str) -> dict[str, Any]:
    event["officeid"], event["source"] = office, f"/offices/{office}/ikos"
    return event


async def test_mixed_batch_produces_exactly_the_valid_events(
    make_settings: Callable[..., GatewaySettings], topics: str, infra: dict[str, str]
) -> None:
    settings = make_settings(GatewaySettings)
    good = [sample("request.opened"), sample("repair.done"), sample("satisfaction.rated")]
    bad = [sample("request.opened", channel="pigeon"), as_office(sample("request.closed"), "demo-sud")]
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/events", content=json.dumps([good[0], bad[0], good[1], bad[1], good[2]]), headers=NORD
        )
    assert response.status_code == 202
    assert [i["status"] for i in response.json()["items"]] == [202, 422, 202, 403, 202]
    requests = await read_topic(infra["kafka"], f"{topics}office.requests", expect=2, settle=1.0)
    ratings = await read_topic(infra["kafka"], f"{topics}feedback.ratings", expect=1)
    assert sorted(json.loads(r.value)["id"] for r in requests) == sorted([good[0]["id"], good[1]["id"]])
    assert [json.loads(r.value)["id"] for r in ratings] == [good[2]["id"]]
    record = requests[0]
    assert record.key == json.loads(record.value)["subject"].encode()
    assert ("content-type", b"application/cloudevents+json") in list(record.headers)


async def test_cross_office_and_bad_keys_produce_nothing(
    make_settings: Callable[..., GatewaySettings], topics: str, infra: dict[str, str]
) -> None:
    settings = make_settings(GatewaySettings)
    sud_event = as_office(sample("request.opened"), "demo-sud")
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as client:
        # demo-nord's key for a demo-sud event
        assert (await client.post("/v1/events", content=json.dumps(sud_event), headers=NORD)).status_code == 403
        for headers in ({"Authorization": "Bearer demo-sud-wrong"}, {"X-Api-Key": ""}, {}):
            response = await client.post(
                "/v1/events", content=json.dumps(sud_event), headers={"Content-Type": "application/json", **headers}
            )
            assert response.status_code == 401
        # the right key is accepted: the topic then holds exactly that one event
        ok = await client.post(
            "/v1/events",
            content=json.dumps(sud_event),
            headers={"Authorization": "Bearer demo-sud-demo-key", "Content-Type": "application/json"},
        )
        assert ok.status_code == 202
    records = await read_topic(infra["kafka"], f"{topics}office.requests", expect=1, settle=1.0)
    assert [json.loads(r.value)["id"] for r in records] == [sud_event["id"]]


async def test_kafka_unreachable_is_503_quickly_and_ready_is_false(
    make_settings: Callable[..., GatewaySettings], topics: str, infra: dict[str, str]
) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(GatewaySettings, kafka_bootstrap=dead, produce_timeout_seconds=1.0, reconnect_seconds=0)
    event = sample("request.opened")
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as client:
        started = time.monotonic()
        response = await client.post("/v1/events", content=json.dumps([event, sample("repair.done")]), headers=NORD)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        assert elapsed < 5
        assert (await client.get("/health/ready")).status_code == 503
        assert (await client.get("/health/live")).status_code == 200
    # nothing reached the real cluster under this test's prefix
    assert await read_topic(infra["kafka"], f"{topics}office.requests", timeout=1.0) == []
