"""Unit tests of the pure intake rules and the rate limiter."""

from __future__ import annotations

import json

import pytest

from services.gateway.intake import (
    FORBIDDEN,
    INVALID,
    SERVICE_ONLY,
    TOO_LARGE,
    BodyError,
    ItemError,
    check_item,
    decode_body,
    media_type,
)
from services.gateway.ratelimit import RateLimiter, retry_after_header
from shared.events import CloudEvent
from tests.support.samples import sample


def test_decode_single_and_array() -> None:
    assert decode_body(b'{"a": 1}', 10) == ([{"a": 1}], False)
    assert decode_body(b"[1, 2]", 10) == ([1, 2], True)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"\xff\xfe", 400),
        (b"[]", 400),
        (b"42", 400),
        (b"NaN", 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (json.dumps([{}] * 11).encode(), 413),
    ],
)
def test_decode_refuses(body: bytes, status: int) -> None:
    with pytest.raises(BodyError) as caught:
        decode_body(body, 10)
    assert caught.value.status == status


def test_media_type_ignores_parameters() -> None:
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(None) == ""


def test_valid_item_of_the_callers_office() -> None:
    event = check_item(0, sample("request.opened"), "demo-nord", 100_000)
    assert isinstance(event, CloudEvent)
    assert event.officeid == "demo-nord"


def test_item_of_another_office_is_forbidden() -> None:
    result = check_item(3, sample("request.opened"), "demo-sud", 100_000)
    assert isinstance(result, ItemError)
    assert (result.index, result.kind, result.field) == (3, FORBIDDEN, "officeid")


def test_invalid_item_names_the_field() -> None:
    result = check_item(1, sample("request.opened", category="plumbing"), "demo-nord", 100_000)
    assert isinstance(result, ItemError)
    assert result.kind == INVALID
    assert result.field == "data.category"
    assert result.as_dict()["id"].startswith("ikos-")


def test_service_only_types_are_refused() -> None:
    result = check_item(0, sample("sla.breached"), "demo-nord", 100_000)
    assert isinstance(result, ItemError)
    assert result.kind == SERVICE_ONLY
    spoofed = sample("sla.breached")
    spoofed["source"] = "/offices/demo-nord/ikos"
    again = check_item(0, spoofed, "demo-nord", 100_000)
    assert isinstance(again, ItemError) and again.kind == SERVICE_ONLY


def test_office_event_with_a_service_source_is_refused() -> None:
    event = sample("request.opened")
    event["source"] = "/services/ticketing"
    result = check_item(0, event, "demo-nord", 100_000)
    assert isinstance(result, ItemError) and result.kind == SERVICE_ONLY


def test_non_object_and_oversized_items() -> None:
    assert isinstance(check_item(0, [1], "demo-nord", 100_000), ItemError)
    big = sample("request.opened")
    big["extension"] = "x" * 5000
    result = check_item(0, big, "demo-nord", 2000)
    assert isinstance(result, ItemError) and result.kind == TOO_LARGE


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert limiter.take("a", 20) == 0
    wait = limiter.take("a", 5)
    assert wait == pytest.approx(0.5)
    assert limiter.take("b", 1) == 0  # other offices have their own bucket
    now[0] += 0.5
    assert limiter.take("a", 5) == 0
    # a batch larger than the burst costs the whole burst, so it can pass once the bucket is full
    now[0] += 10
    assert limiter.take("a", 500) == 0
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"
