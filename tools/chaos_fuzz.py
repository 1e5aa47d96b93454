"""Malformed and hostile Kafka records for every topic of the contract: truncated JSON, wrong types,
huge strings, invalid UTF-8, unknown types, missing or wrong ``content-type`` headers, values that
are not an event at all. Every record is invalid by construction (a valid event of the topic, then
broken), keyed ``FUZZ-…`` so that its dead letter is recognised. Deterministic for a seed."""

from __future__ import annotations

import json
import random
from typing import Any

from shared.events import CONTENT_TYPE, SPECVERSION, Topics, full_type

#: the key prefix of every hostile record (its dead letter keeps the key)
KEY_PREFIX = "FUZZ-"
KINDS = (
    "truncated",
    "wrong_type",
    "huge_string",
    "invalid_utf8",
    "unknown_type",
    "no_header_not_event",
    "wrong_content_type",
    "not_an_object",
)
Raw = tuple[bytes, bytes, list[tuple[str, bytes]]]


def valid_event(topic: str, n: int, office: str = "demo-nord") -> dict[str, Any]:
    """A valid event of ``topic`` (the base each hostile record breaks)."""
    request = f"{KEY_PREFIX}REQ-{n:06d}"
    when = "2026-11-30T10:00:00+01:00"
    kind, subject, data = {
        Topics.OFFICE_REQUESTS: (
            "request.opened",
            request,
            {"request_id": request, "tenant_ref": "T-FUZZ-1", "category": "repair", "urgency": "U3", "channel": "web"},
        ),
        Topics.OFFICE_TENANTS: (
            "tenant.consent_changed",
            "T-FUZZ-1",
            {"tenant_ref": "T-FUZZ-1", "channel": "sms", "granted": True, "via": "office"},
        ),
        Topics.FEEDBACK_RATINGS: (
            "satisfaction.rated",
            request,
            {"request_id": request, "tenant_ref": "T-FUZZ-1", "score": 4, "channel": "phone"},
        ),
        Topics.TICKETING_SLA: (
            "sla.at_risk",
            request,
            {
                "request_id": request,
                "stage": "first_response",
                "policy": "U3",
                "due_at": when,
                "category": "repair",
            },
        ),
        Topics.FEEDBACK_SURVEYS: (
            "survey.requested",
            f"SRV-{n:06d}",
            {
                "survey_id": f"SRV-{n:06d}",
                "request_id": request,
                "tenant_ref": "T-FUZZ-1",
                "url": "https://example.org/s/abc",
                "expires_at": when,
                "reminder": False,
            },
        ),
        Topics.NOTIFICATIONS_OUTCOMES: (
            "notification.suppressed",
            f"N-{n:06d}",
            {
                "notification_id": f"N-{n:06d}",
                "cause_id": f"C-{n:06d}",
                "channel": "sms",
                "template": "request_opened",
                "recipient": "tenant",
            },
        ),
    }[topic]
    source = "/services/fuzz" if topic in (Topics.TICKETING_SLA, Topics.FEEDBACK_SURVEYS) else f"/offices/{office}/ikos"
    if topic == Topics.NOTIFICATIONS_OUTCOMES:
        source = "/services/notifications"
    return {
        "specversion": SPECVERSION,
        "id": f"{KEY_PREFIX}{topic}-{n:06d}",
        "source": source,
        "type": full_type(kind),
        "subject": subject,
        "time": when,
        "officeid": office,
        "datacontenttype": "application/json",
        "data": data,
    }


def hostile(topic: str, n: int, rng: random.Random, key: bytes) -> tuple[str, Raw]:
    """The ``n``-th hostile record of ``topic`` (its kind cycles through ``KINDS``)."""
    kind = KINDS[n % len(KINDS)]
    event = valid_event(topic, n)
    ct = [("content-type", CONTENT_TYPE.encode())]
    body = json.dumps(event, ensure_ascii=False).encode()
    value: bytes
    headers = ct
    if kind == "truncated":
        value = body[: rng.randint(1, len(body) - 2)]
    elif kind == "wrong_type":
        field, wrong = rng.choice(
            [("specversion", 1.0), ("id", 12345), ("type", ["x"]), ("time", 1700000000), ("officeid", {"a": 1}),
             ("data", "not an object"), ("subject", None), ("source", False)]
        )  # fmt: skip
        event[field] = wrong
        value = json.dumps(event).encode()
    elif kind == "huge_string":
        field = rng.choice(["id", "subject", "officeid", "type"])
        event[field] = "A" * rng.randint(200, 400_000)
        value = json.dumps(event).encode()
    elif kind == "invalid_utf8":
        at = body.index(b'"subject"') + len(b'"subject": "')
        value = body[:at] + b"\xff\xfe\xc3" + body[at:]
    elif kind == "unknown_type":
        event["type"] = rng.choice(["fr.canopee.bogus.v1", "fr.canopee.request.opened.v9", "com.example.x", ""])
        value = json.dumps(event).encode()
    elif kind == "no_header_not_event":
        headers = []
        value = rng.choice([b"", b"null", b"42", b'"text"', b"[]", b"{}", b"\x00\x01\x02", b"[" * 3000])
    elif kind == "wrong_content_type":
        headers = [("content-type", rng.choice([b"text/plain", b"application/cloudevents+avro", b"\xff"]))]
        value = body
    else:  # not_an_object
        value = json.dumps([event]).encode()
    return kind, (key, value, headers)


def hostile_records(topic: str, count: int, seed: int, key: str) -> list[tuple[str, Raw]]:
    """``count`` hostile records for ``topic``, all under one Kafka key (one partition: what follows
    them on that key comes after them)."""
    rng = random.Random(f"{seed}/{topic}")
    return [hostile(topic, n, rng, key.encode()) for n in range(count)]
