"""Integration tests of POST /v1/events on the real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.events import Topics
from tests.conftest import free_port
from tests.support.http import running
from tests.support.kafka import read_topic
from tests.support.samples import dumps, sample

pytestmark = [pytest.mark.integration]

NORD = {"Authorization": "Bearer demo-nord-demo-key", "Content-Type": "application/json"}


def _ids(records: list[Any]) -> list[str]:
    return sorted(json.loads(r.value)["id"] for r in records)


async def test_single_event_is_produced_with_its_subject_as_key(
    make_settings: Callable[..., GatewaySettings], topics: str
) -> None:
    settings = make_settings(GatewaySettings)
    event = sample("request.opened")
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/health/ready")
        answer = await http.post(
            "/v1/events",
            content=dumps(event),
            headers={**NORD, "Content-Type": "application/cloudevents+json; charset=utf-8"},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["results"] == [{"index": 0, "id": event["id"], "status": "accepted"}]
        metrics = (await http.get("/metrics")).text
    assert ready.status_code == 200
    assert 'canopee_gateway_events_total{office="demo-nord",outcome="accepted"} 1.0' in metrics
    records = await read_topic(settings.kafka_bootstrap, topics + Topics.OFFICE_REQUESTS, expect=1)
    assert len(records) == 1
    assert records[0].key == event["subject"].encode()
    assert json.loads(records[0].value)["id"] == event["id"]
    assert dict(records[0].headers)["content-type"] == b"application/cloudevents+json"


async def test_batch_produces_exactly_the_valid_items(
    make_settings: Callable[..., GatewaySettings], topics: str
) -> None:
    settings = make_settings(GatewaySettings)
    good = [sample("request.opened"), sample("tenant.contact_updated"), sample("satisfaction.rated")]
    bad_category = sample("request.opened", category="plumbing")
    other_office = sample("request.closed")
    other_office["officeid"], other_office["source"] = "demo-sud", "/offices/demo-sud/ikos"
    service_only = sample("sla.breached")
    batch = [good[0], bad_category, good[1], other_office, "nonsense", service_only, good[2]]
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(
            "/v1/events",
            content=json.dumps(batch),
            headers={**NORD, "Content-Type": "application/cloudevents-batch+json"},
        )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (3, 4)
    statuses = [(r["index"], r["status"], r.get("error"), r.get("field")) for r in body["results"]]
    assert statuses == [
        (0, "accepted", None, None),
        (1, "rejected", "invalid", "data.category"),
        (2, "accepted", None, None),
        (3, "rejected", "forbidden", "officeid"),
        (4, "rejected", "invalid", None),
        (5, "rejected", "service_only", "source"),
        (6, "accepted", None, None),
    ]
    requests = await read_topic(settings.kafka_bootstrap, topics + Topics.OFFICE_REQUESTS, expect=1, settle=0.5)
    tenants = await read_topic(settings.kafka_bootstrap, topics + Topics.OFFICE_TENANTS, expect=1, settle=0.2)
    ratings = await read_topic(settings.kafka_bootstrap, topics + Topics.FEEDBACK_RATINGS, expect=1, settle=0.2)
    sla = await read_topic(settings.kafka_bootstrap, topics + Topics.TICKETING_SLA, expect=0, timeout=0.5)
    assert _ids(requests) == [good[0]["id"]]
    assert _ids(tenants) == [good[1]["id"]]
    assert _ids(ratings) == [good[2]["id"]]
    assert sla == []


async def test_refusals(make_settings: Callable[..., GatewaySettings], topics: str) -> None:
    settings = make_settings(GatewaySettings, max_body_bytes=4096, max_events=3)
    event = dumps(sample("request.opened"))
    foreign = sample("request.opened")
    foreign["officeid"], foreign["source"] = "demo-sud", "/offices/demo-sud/ikos"
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        no_key = await http.post("/v1/events", content=event, headers={"Content-Type": "application/json"})
        bad_key = await http.post(
            "/v1/events", content=event, headers={**NORD, "Authorization": "Bearer demo-nord-wrong-key"}
        )
        text = await http.post("/v1/events", content=event, headers={**NORD, "Content-Type": "text/plain"})
        no_type = await http.post("/v1/events", content=event, headers={"Authorization": NORD["Authorization"]})
        huge = await http.post("/v1/events", content=b"[" + b" " * 5000 + b"]", headers=NORD)
        many = await http.post("/v1/events", content=f"[{event},{event},{event},{event}]", headers=NORD)
        not_json = await http.post("/v1/events", content=b"{oops", headers=NORD)
        cross = await http.post("/v1/events", content=json.dumps(foreign), headers=NORD)
        invalid = await http.post("/v1/events", content=json.dumps([{"specversion": "1.0"}]), headers=NORD)
    for answer, status in [
        (no_key, 401),
        (bad_key, 401),
        (text, 415),
        (no_type, 415),
        (huge, 413),
        (many, 413),
        (not_json, 400),
        (cross, 403),
        (invalid, 422),
    ]:
        assert answer.status_code == status, (status, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert no_key.headers["www-authenticate"] == "Bearer"
    assert cross.json()["errors"][0]["field"] == "officeid"
    assert invalid.json()["errors"][0]["index"] == 0
    assert await read_topic(settings.kafka_bootstrap, topics + Topics.OFFICE_REQUESTS, expect=0, timeout=0.5) == []


async def test_rate_limit_answers_429_with_retry_after(
    make_settings: Callable[..., GatewaySettings], topics: str
) -> None:
    settings = make_settings(GatewaySettings, rate_per_second=0.5, rate_burst=2)
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        batch = json.dumps([sample("request.opened"), sample("request.opened")])
        first = await http.post("/v1/events", content=batch, headers=NORD)
        second = await http.post("/v1/events", content=dumps(sample("request.opened")), headers=NORD)
        other = await http.post(
            "/v1/events",
            content=dumps(sample("request.opened")),
            headers={**NORD, "Authorization": "Bearer demo-sud-demo-key"},
        )
    assert first.status_code == 202
    assert second.status_code == 429
    assert second.headers["retry-after"] == "2"
    assert second.headers["content-type"] == "application/problem+json"
    # demo-sud has its own bucket: its (foreign-office) event is judged, not rate-limited
    assert other.status_code == 403


async def test_kafka_unreachable_answers_503_and_produces_nothing(
    make_settings: Callable[..., GatewaySettings], topics: str
) -> None:
    settings = make_settings(GatewaySettings, kafka_bootstrap=f"127.0.0.1:{free_port()}", reconnect_seconds=60)
    event = sample("request.opened")
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/health/ready")
        answer = await http.post("/v1/events", content=dumps(event), headers=NORD)
        invalid = await http.post("/v1/events", content=dumps(sample("request.opened", urgency="U9")), headers=NORD)
        live = await http.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"broker": False}
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert invalid.status_code == 422  # bad input is still judged as such
    assert live.status_code == 200
    produced = await read_topic(
        make_settings(GatewaySettings).kafka_bootstrap, topics + Topics.OFFICE_REQUESTS, expect=0, timeout=0.5
    )
    assert produced == []


async def test_openapi_is_served(make_settings: Callable[..., GatewaySettings], topics: str) -> None:
    settings = make_settings(GatewaySettings)
    async with running(create_app(settings), settings.http_port) as url, httpx.AsyncClient(base_url=url) as http:
        spec = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    assert "/v1/events" in spec["paths"]
    assert "429" in spec["paths"]["/v1/events"]["post"]["responses"]
    assert docs.status_code == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _mutated_events() -> st.SearchStrategy[Any]:
    kinds = ["request.opened", "request.closed", "tenant.contact_updated", "satisfaction.rated", "sla.breached"]

    def mutate(kind: str, key: str, value: Any, in_data: bool) -> dict[str, Any]:
        event = sample(kind)
        (event["data"] if in_data else event)[key] = value
        return event

    keys = st.sampled_from(["id", "source", "type", "subject", "time", "officeid", "category", "score", "phone"])
    return st.builds(mutate, st.sampled_from(kinds), keys, JSON_VALUES, st.booleans())


BODIES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    _mutated_events().map(lambda e: json.dumps(e).encode()),
    st.lists(_mutated_events(), min_size=1, max_size=5).map(lambda e: json.dumps(e).encode()),
    st.binary(max_size=200),
)


@contextlib.contextmanager
def _serving_in_a_thread(settings: GatewaySettings) -> Iterator[str]:
    """The gateway on its own event loop in a thread, so that hypothesis can drive a synchronous test."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.http_port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_random_bodies_never_cause_a_server_error(make_settings: Callable[..., GatewaySettings], topics: str) -> None:
    settings = make_settings(GatewaySettings, rate_burst=100_000, rate_per_second=100_000)
    seen: set[int] = set()
    with _serving_in_a_thread(settings) as url, httpx.Client(base_url=url) as http:

        @settings_profile
        @given(body=BODIES, kind=st.sampled_from(["application/json", "application/cloudevents+json", "text/csv"]))
        def post(body: bytes, kind: str) -> None:
            answer = http.post("/v1/events", content=body, headers={**NORD, "Content-Type": kind})
            seen.add(answer.status_code)
            assert answer.status_code < 500, answer.text
            if answer.status_code != 202:
                assert answer.headers["content-type"] == "application/problem+json"

        post()
    assert seen - {202}
    assert seen <= {202, 400, 403, 413, 415, 422}


settings_profile = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
