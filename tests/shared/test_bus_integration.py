"""Bus plumbing on the real Kafka broker and the real MongoDB-wire store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import DuplicateKeyError

from shared.bus import DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC, all_topics, create_topics
from shared.events import CONTENT_TYPE, CloudEvent, Topics, parse_event
from shared.http import health_router
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from shared.store import Index, ensure_indexes, make_client
from tests.conftest import free_port
from tests.support import kafka as ks
from tests.support.ferretdb import FerretDB
from tests.support.http import running
from tests.support.samples import sample

pytestmark = pytest.mark.integration


class BusSettings(ServiceSettings):
    service = "bustest"
    default_port = 0


def event(kind: str = "request.opened", **changes: Any) -> CloudEvent:
    return parse_event(json.dumps(sample(kind, **changes)))


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_publish_then_consume_round_trip(make_settings: Any, topics: str, infra: dict[str, str]) -> None:
    settings = make_settings(BusSettings)
    rt = Runtime.create(settings)
    received: list[CloudEvent] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        received.extend(events)

    rt.consume("requests", [Topics.OFFICE_REQUESTS], handler)
    await rt.start()
    try:
        sent = [event(), event("repair.done"), event("request.closed")]
        await rt.publisher.publish(sent)
        await wait_for(lambda: len(received) >= 3)
        assert sorted(e.id for e in received) == sorted(e.id for e in sent)
        assert {e.id: e for e in received} == {e.id: e for e in sent}
        records = await ks.read_topic(infra["kafka"], settings.topic(Topics.OFFICE_REQUESTS), expect=3)
        assert {r.key for r in records} == {b"REQ-2026-000042"}
        assert all(dict(r.headers)["content-type"] == CONTENT_TYPE.encode() for r in records)
    finally:
        await rt.stop()


async def test_poison_goes_to_the_dlq_with_headers_and_the_next_record_is_processed(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = make_settings(BusSettings)
    rt = Runtime.create(settings)
    received: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        for e in events:
            if e.data.request_id == "BOOM":  # type: ignore[attr-defined]
                raise ValueError("cannot apply this one")
            if e.id not in received:  # effects are idempotent: a batch may be re-applied one by one
                received.append(e.id)

    rt.consume("requests", [Topics.OFFICE_REQUESTS], handler)
    topic = settings.topic(Topics.OFFICE_REQUESTS)
    good_before, good_after = event(), event("repair.done")
    boom = sample("repair.done", request_id="BOOM")
    boom["subject"] = "BOOM"
    unknown_office = sample("request.opened")
    unknown_office["source"], unknown_office["officeid"] = "/offices/nowhere/ikos", "nowhere"
    key = b"REQ-2026-000042"  # one key: one partition, so order is known
    ct = [("content-type", CONTENT_TYPE.encode())]
    await ks.produce(
        infra["kafka"],
        topic,
        [
            (key, good_before.to_json(), ct),
            (key, b"{not json", ct),
            (key, json.dumps(sample("request.opened", category="plumbing")).encode(), ct),
            (key, json.dumps(boom).encode(), ct),
            (key, json.dumps(unknown_office).encode(), ct),
            (key, good_after.to_json(), ct),
        ],
    )
    await rt.start()
    try:
        await wait_for(lambda: good_after.id in received)
        assert received == [good_before.id, good_after.id]
        dead = await ks.read_topic(infra["kafka"], Topics.dlq(settings.group), expect=4)
        assert len(dead) == 4
        dead.sort(key=lambda r: int(dict(r.headers)[DLQ_OFFSET]))
        headers = [{k: v.decode() for k, v in r.headers} for r in dead]
        assert [h[DLQ_OFFSET] for h in headers] == ["1", "2", "3", "4"]
        assert all(h[DLQ_TOPIC] == topic for h in headers)
        partition = str((await ks.read_topic(infra["kafka"], topic, expect=6))[0].partition)
        assert all(h[DLQ_PARTITION] == partition for h in headers)
        assert [h[DLQ_ERROR] for h in headers] == ["InvalidEvent", "InvalidEvent", "ValueError", "Rejected"]
        assert headers[0][DLQ_REASON].startswith("not JSON")
        assert headers[1][DLQ_REASON].startswith("data.category:")
        assert "cannot apply this one" in headers[2][DLQ_REASON]
        assert "unknown office" in headers[3][DLQ_REASON]
        assert dead[0].value == b"{not json"  # the original value, unchanged
        assert rt.metrics.dead_letters.labels(settings.group, "InvalidEvent")._value.get() == 2
    finally:
        await rt.stop()


CRASHING_CONSUMER = textwrap.dedent(
    """
    import asyncio, sys
    from shared.runtime import Runtime
    from shared.settings import ServiceSettings, load_settings

    class S(ServiceSettings):
        service = "bustest"

    async def main():
        rt = Runtime.create(load_settings(S, topic_prefix=sys.argv[1], kafka_bootstrap=sys.argv[2]))
        async def handler(events):
            with open(sys.argv[3], "a") as out:
                out.write("".join(e.id + "\\n" for e in events))
            await asyncio.sleep(3600)  # dies here, before its commit
        rt.consume("requests", ["office.requests"], handler)
        await rt.start()
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_consumer_that_dies_before_its_commit_gets_the_event_again(
    make_settings: Any, topics: str, infra: dict[str, str], prefix: str, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.txt"
    seen.touch()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CONSUMER, prefix, infra["kafka"], str(seen)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    sent = event()
    try:
        await ks.produce_events(infra["kafka"], prefix, [sent])
        await wait_for(lambda: sent.id in seen.read_text(), timeout=60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    settings = make_settings(BusSettings)
    rt = Runtime.create(settings)
    again: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        again.extend(e.id for e in events)

    rt.consume("requests", [Topics.OFFICE_REQUESTS], handler)
    await rt.start()
    try:
        await wait_for(lambda: sent.id in again, timeout=60)  # after the dead member's session expires
        assert again == [sent.id]
    finally:
        await rt.stop()


async def test_a_transient_store_failure_is_retried_not_skipped(
    make_settings: Any, topics: str, infra: dict[str, str], tmp_path: Path
) -> None:
    store = FerretDB(free_port(), tmp_path)
    store.start()
    settings = make_settings(BusSettings, mongo_url=store.url, retry_attempts=3)
    rt = Runtime.create(settings)

    async def handler(events: Sequence[CloudEvent]) -> None:
        for e in events:
            await rt.db.effects.update_one({"_id": e.id}, {"$setOnInsert": {"type": e.type}}, upsert=True)

    rt.consume("requests", [Topics.OFFICE_REQUESTS], handler)
    await rt.start()
    try:
        first, second = event(), event("repair.done")
        await rt.publisher.publish([first])
        await wait_for(lambda: rt.metrics.events.labels("office.requests", first.type, "ok")._value.get() == 1)
        store.stop()
        await rt.publisher.publish([second])
        await wait_for(lambda: rt.metrics.retries.labels(settings.group)._value.get() >= 2, timeout=60)
        store.start()
        await wait_for(lambda: rt.metrics.events.labels("office.requests", second.type, "ok")._value.get() == 1, 90)
        ids = sorted([d["_id"] async for d in rt.db.effects.find({})])
        assert ids == sorted([first.id, second.id])
        assert rt.metrics.dead_letters.labels(settings.group, "ServerSelectionTimeoutError")._value.get() == 0
    finally:
        await rt.stop()
        store.stop()


async def test_a_unique_index_deduplicates_a_redelivered_effect(infra: dict[str, str], prefix: str) -> None:
    client = make_client(infra["mongo"])
    db = client[f"{prefix.rstrip('.')}_store"]
    try:
        await ensure_indexes(db, [Index("effects", [("cause_id", 1), ("purpose", 1)], unique=True)])
        await ensure_indexes(db, [Index("effects", [("cause_id", 1), ("purpose", 1)], unique=True)])  # idempotent
        await db.effects.insert_one({"cause_id": "e-1", "purpose": "ack-sms", "n": 1})
        with pytest.raises(DuplicateKeyError):
            await db.effects.insert_one({"cause_id": "e-1", "purpose": "ack-sms", "n": 2})
        # the conditional upsert used by handlers: a redelivery changes nothing
        for _ in range(3):
            await db.effects.update_one(
                {"cause_id": "e-2", "purpose": "ack-sms"}, {"$setOnInsert": {"n": 1}}, upsert=True
            )
        assert await db.effects.count_documents({}) == 2
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_readiness_follows_the_store(make_settings: Any, tmp_path: Path) -> None:
    store = FerretDB(free_port(), tmp_path)
    store.start()
    settings = make_settings(BusSettings, mongo_url=store.url)
    rt = Runtime.create(settings)
    await rt.start()
    app = FastAPI()
    app.include_router(health_router(rt.registry, rt.readiness))
    port = free_port()
    try:
        async with running(app, port) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            ready = await http.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json() == {"ready": True, "checks": {"broker": True, "store": True}}
            store.stop()
            down = await http.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["checks"] == {"broker": True, "store": False}
            assert (await http.get("/health/live")).status_code == 200
            assert "canopee_ready 0.0" in (await http.get("/metrics")).text
            store.start()
            back = await http.get("/health/ready")
            assert back.status_code == 200
    finally:
        await rt.stop()
        store.stop()


async def test_a_dead_letter_keeps_no_personal_data(make_settings: Any, topics: str, infra: dict[str, str]) -> None:
    settings = make_settings(BusSettings)
    rt = Runtime.create(settings)

    async def handler(events: Sequence[CloudEvent]) -> None:
        raise AssertionError("no valid event is sent in this test")

    rt.consume("tenants", [Topics.OFFICE_TENANTS], handler)
    poison = sample("tenant.contact_updated", phone="+33612345678", email="lea.martin@example.org")
    poison["data"]["preferred_channel"] = "pigeon"  # invalid: dead-lettered
    tenant = poison["data"]["tenant_ref"]
    ct = [("content-type", CONTENT_TYPE.encode())]
    await ks.produce(
        infra["kafka"], settings.topic(Topics.OFFICE_TENANTS), [(tenant.encode(), json.dumps(poison).encode(), ct)]
    )
    await rt.start()
    try:
        (dead,) = await ks.read_topic(infra["kafka"], Topics.dlq(settings.group), expect=1)
        stored = dead.value.decode() + (dead.key or b"").decode() + repr(dead.headers)
        for secret in ("+33612345678", "lea.martin@example.org", tenant):
            assert secret not in stored
        assert json.loads(dead.value)["data"]["preferred_channel"] == "pigeon"  # what went wrong stays readable
        assert dict(dead.headers)[DLQ_REASON].decode().startswith("data.preferred_channel")
    finally:
        await rt.stop()


async def test_dead_letter_topics_are_created_with_a_bounded_retention(infra: dict[str, str], prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    names = all_topics(prefix)
    await create_topics(infra["kafka"], names, partitions=1, retention_ms=7 * 86_400_000)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra["kafka"])
    await admin.start()
    try:
        dlq, plain = Topics.dlq(f"{prefix}ticketing"), f"{prefix}{Topics.OFFICE_REQUESTS}"
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, dlq), ConfigResource(ConfigResourceType.TOPIC, plain)]
        )
        retention = {
            resource[3]: {c[0]: c[1] for c in resource[4]}["retention.ms"]
            for response in described
            for resource in response.resources
        }
        assert retention == {dlq: str(30 * 86_400_000), plain: str(7 * 86_400_000)}
    finally:
        await admin.close()
