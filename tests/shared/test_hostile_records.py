"""Records found by the Kafka fuzzer (tools/chaos_fuzz.py) that broke the consuming path: a header
that is not UTF-8 (FastStream's batch parser raised on it, so the batch came back forever) and a
deeply nested value (the dead letter's redaction raised RecursionError)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.bus import _tolerant_headers
from shared.events import InvalidEvent, from_record
from shared.privacy import redact_value
from tools.chaos_fuzz import KINDS, hostile_records


def record(headers: list[tuple[str, bytes]], value: bytes = b"{}") -> ConsumerRecord[Any, Any]:
    return ConsumerRecord("t", 0, 7, 0, 0, b"k", value, None, len(value), 0, headers)


async def test_a_header_that_is_not_utf8_reaches_the_consumer_replaced() -> None:
    seen: list[Any] = []

    async def original(message: Any) -> Any:
        for r in message:
            for _, value in r.headers:
                value.decode()  # what FastStream's parser does: raises on bytes that are not UTF-8
        seen.append(message)
        return message

    good = record([("content-type", b"application/cloudevents+json")])
    bad = record([("content-type", b"\xff")], value=b'{"x": 1}')
    (out,) = [await _tolerant_headers((good, bad), original)]
    assert tuple(out[0].headers) == tuple(good.headers) and out[0].value == good.value  # unchanged
    assert out[1].headers == (("content-type", "\ufffd".encode()),) and out[1].value == b'{"x": 1}'
    with pytest.raises(InvalidEvent, match="content-type"):
        from_record(out[1].value, out[1].headers)
    assert await _tolerant_headers((good,), original) == (good,)
    assert seen


def test_a_huge_string_is_redacted_in_linear_time() -> None:
    import time

    started = time.perf_counter()
    value, _ = redact_value(json.dumps({"id": "A" * 400_000, "email": "a@b.org"}).encode())
    assert value is not None and b"a@b.org" not in value
    assert time.perf_counter() - started < 5  # it took minutes when quadratic


def test_a_deeply_nested_value_is_redacted_as_text() -> None:
    value, removed = redact_value(b"[" * 100_000)
    assert value == b"[" * 100_000 and removed == set()


def test_every_hostile_record_is_invalid_and_every_kind_is_made() -> None:
    from shared.events import Topics

    for topic in Topics.ALL:
        records = hostile_records(topic, 64, seed=3, key="FUZZ-1")
        assert {kind for kind, _ in records} == set(KINDS)
        for _, (_, value, headers) in records:
            with pytest.raises(InvalidEvent):
                from_record(value, headers)
            redact_value(value)  # never raises
    assert json.loads(json.dumps(KINDS))
