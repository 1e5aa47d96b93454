"""The producer port (the gateway's ``EventSink``, the tools' and the services' way out): one contract
run against the in-memory twin and the real producers on Kafka, so the twin the unit tests use
cannot drift from what Kafka does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio

from services.gateway.ports import EventSink, Unavailable
from shared.bus import make_broker
from shared.events import CONTENT_TYPE, CloudEvent, Topics, parse_event
from shared.producer import BrokerProducer, KafkaProducer, MemoryProducer, Record, record_of
from shared.settings import CommonSettings
from tests.conftest import free_port
from tests.support.kafka import create_all_topics, read_topic
from tests.support.samples import dumps, sample

Read = Callable[[str, int], Awaitable[list[Record]]]


@dataclass
class Subject:
    sink: EventSink
    read: Read
    prefix: str


def _memory_reader(sink: MemoryProducer) -> Read:
    async def read(topic: str, expect: int) -> list[Record]:
        return [r for r in sink.records if r.topic == topic]

    return read


def _kafka_reader(bootstrap: str) -> Read:
    async def read(topic: str, expect: int) -> list[Record]:
        records = await read_topic(bootstrap, topic, expect=expect, settle=0.3)
        return [Record(r.topic, r.key, r.value, list(r.headers)) for r in records]

    return read


@pytest_asyncio.fixture(
    params=[
        "memory",
        pytest.param("kafka", marks=pytest.mark.integration),
        pytest.param("broker", marks=pytest.mark.integration),
    ]
)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        memory = MemoryProducer()
        yield Subject(memory, _memory_reader(memory), "mem.")
        return
    infra: dict[str, str] = request.getfixturevalue("infra")
    prefix: str = request.getfixturevalue("prefix")
    await create_all_topics(infra["kafka"], prefix, partitions=3)
    if request.param == "kafka":
        producer = KafkaProducer(infra["kafka"], timeout=10.0)
        try:
            yield Subject(producer, _kafka_reader(infra["kafka"]), prefix)
        finally:
            await producer.close()
        return
    broker = make_broker(CommonSettings(kafka_bootstrap=infra["kafka"]))
    await broker.start()
    try:
        yield Subject(BrokerProducer(broker), _kafka_reader(infra["kafka"]), prefix)
    finally:
        await broker.stop()


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def unreachable(request: pytest.FixtureRequest) -> EventSink:
    if request.param == "memory":
        return MemoryProducer(down=True)
    return KafkaProducer(f"127.0.0.1:{free_port()}", timeout=1.0, reconnect_seconds=30.0)


def _opened(request_id: str) -> CloudEvent:
    raw = sample("request.opened", request_id=request_id)
    raw["subject"] = request_id
    return parse_event(dumps(raw))


async def test_events_are_sent_with_subject_key_json_value_and_content_type(subject: Subject) -> None:
    events = [_opened(f"REQ-{i}") for i in range(5)]
    await subject.sink.send([record_of(e, subject.prefix) for e in events])
    got = sorted(await subject.read(f"{subject.prefix}office.requests", len(events)), key=lambda r: r.key or b"")
    assert [r.key for r in got] == [e.subject.encode() for e in events]
    assert [parse_event(r.value or b"") for r in got] == events
    assert all(("content-type", CONTENT_TYPE.encode()) in list(r.headers) for r in got)


async def test_a_raw_record_keeps_its_value_key_and_headers(subject: Subject) -> None:
    topic = Topics.dlq(f"{subject.prefix}ticketing")
    record = Record(topic, b"k1", b"{broken", [("dlq-reason", b"not JSON"), ("content-type", b"text/plain")])
    await subject.sink.send([record])
    (got,) = await subject.read(topic, 1)
    assert (got.topic, got.key, got.value) == (topic, b"k1", b"{broken")
    assert {("dlq-reason", b"not JSON"), ("content-type", b"text/plain")} <= set(got.headers)


async def test_an_already_serialized_value_is_sent_as_it_is(subject: Subject) -> None:
    raw = sample("repair.done")
    text = json.dumps(raw, separators=(",", ":")).encode()
    await subject.sink.send([record_of(parse_event(text), subject.prefix, text)])
    (got,) = await subject.read(f"{subject.prefix}office.requests", 1)
    assert got.value == text


async def test_nothing_to_send_is_a_no_op_and_the_sink_is_ready(subject: Subject) -> None:
    await subject.sink.send([])
    assert await subject.sink.ready() is True
    assert await subject.read(f"{subject.prefix}office.tenants", 0) == []


async def test_an_unreachable_kafka_raises_unavailable_and_is_not_ready(unreachable: EventSink) -> None:
    event = parse_event(dumps(sample("request.opened")))
    with pytest.raises(Unavailable):
        await unreachable.send([record_of(event)])
    assert await unreachable.ready() is False
    await unreachable.close()
    await unreachable.close()  # closing twice is harmless
