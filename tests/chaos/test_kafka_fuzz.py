"""Hostile records on every topic each consuming service reads (``tools.chaos_fuzz``), on the real
broker and store, each service running whole (``create_app``): no crash, every bad record in the
service's dead-letter topic with a reason, and the good record that follows them on the same key is
processed. ``CANOPEE_FUZZ_CASES`` records per topic (``tests/support/fuzz.py``; default 16: two of
each kind; ``make chaos`` sends 10,000)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.feedback.app import create_app as feedback_app
from services.feedback.settings import FeedbackSettings
from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.ticketing.app import create_app as ticketing_app
from services.ticketing.settings import TicketingSettings
from shared.bus import DLQ_REASON, DLQ_TOPIC
from shared.events import CONTENT_TYPE, Topics
from shared.store import make_client
from tests.support import kafka as ks
from tests.support.fuzz import cases, report
from tests.support.http import running
from tools.chaos_fuzz import KEY_PREFIX, KINDS, hostile_records, valid_event

pytestmark = pytest.mark.integration

COUNT = cases(16)
KEY = f"{KEY_PREFIX}REQ-GOOD"
#: service → (settings class, app factory, topics it consumes, where its store keeps the good record)
SERVICES: dict[str, tuple[Any, Any, tuple[str, ...], tuple[str, str]]] = {
    "ticketing": (TicketingSettings, ticketing_app, (Topics.OFFICE_REQUESTS,), ("request_events", "id")),
    "notifications": (
        NotificationsSettings,
        notifications_app,
        (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS, Topics.TICKETING_SLA, Topics.FEEDBACK_SURVEYS),
        ("requests", "request_id"),
    ),
    "feedback": (
        FeedbackSettings,
        feedback_app,
        (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS, Topics.FEEDBACK_RATINGS, Topics.NOTIFICATIONS_OUTCOMES),
        ("requests", "request_id"),
    ),
    "analytics": (AnalyticsSettings, analytics_app, tuple(Topics.ALL), ("events", "_id")),
}


async def _dead_letters(bootstrap: str, topic: str, expect: int, timeout: float) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(records) < expect:
            for part in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


@pytest.mark.parametrize("service", list(SERVICES))
async def test_hostile_records_are_dead_lettered_and_the_next_good_one_is_processed(
    service: str, make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings_class, factory, consumed, (collection, field) = SERVICES[service]
    extra: dict[str, Any] = {"form_secret": "fuzz-form-secret-0123456789abcdef0123"} if service == "feedback" else {}
    settings = make_settings(settings_class, **extra)
    sent: Counter[str] = Counter()
    started = time.monotonic()
    for topic in consumed:
        records = hostile_records(topic, COUNT, seed=7, key=KEY)
        sent.update(kind for kind, _ in records)
        for at in range(0, COUNT, 1000):  # bounded batches: an eighth of them are huge strings
            await ks.produce(infra["kafka"], settings.topic(topic), [raw for _, raw in records[at : at + 1000]])
        del records
    produced = time.monotonic() - started
    good = valid_event(Topics.OFFICE_REQUESTS, 999_999)
    good["id"], good["subject"], good["data"]["request_id"] = "GOOD-1", KEY, KEY
    ct = [("content-type", CONTENT_TYPE.encode())]
    await ks.produce(
        infra["kafka"], settings.topic(Topics.OFFICE_REQUESTS), [(KEY.encode(), json.dumps(good).encode(), ct)]
    )
    assert set(sent) == set(KINDS)

    expected = COUNT * len(consumed)
    # the waits grow with the records to get through (20 records/s at the least)
    wait = 90 + expected / 20
    client = make_client(infra["mongo"])
    try:
        async with running(factory(settings), settings.http_port):
            want = {field: "GOOD-1" if field != "request_id" else KEY}
            deadline = time.monotonic() + wait
            while await client[settings.mongo_db][collection].find_one(want) is None:
                assert time.monotonic() < deadline, f"{service} did not process the good record after the bad ones"
                await asyncio.sleep(0.5)
            processed = time.monotonic() - started
            dead = await _dead_letters(infra["kafka"], Topics.dlq(settings.group), expected, wait)
    finally:
        await client.close()
    report(
        f"kafka/{service}",
        topics=len(consumed),
        records_per_topic=COUNT,
        dead_letters=len(dead),
        produced_seconds=round(produced, 1),
        good_record_processed_after_seconds=round(processed, 1),
    )
    assert len(dead) == expected, f"{service}: {len(dead)} dead letters for {expected} hostile records"
    headers = [{k: v.decode(errors="replace") for k, v in r.headers} for r in dead]
    assert all(h.get(DLQ_REASON) for h in headers), "a dead letter without a reason"
    assert Counter(h[DLQ_TOPIC] for h in headers) == {settings.topic(t): COUNT for t in consumed}
    assert all(r.key == KEY.encode() for r in dead)
