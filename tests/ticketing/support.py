"""Helpers of the ticketing tests: contract events of one request, a clock tests move by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.events import CloudEvent, parse_event
from tests.support.samples import sample


class ManualClock:
    """The service's clock in tests: it only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def request_event(kind: str, request_id: str, at: datetime, office: str = "demo-nord", **data: Any) -> CloudEvent:
    """A valid office event of ``kind`` about ``request_id`` that happened at ``at``."""
    raw = sample(kind, request_id=request_id, **data)
    raw["subject"] = request_id
    raw["time"] = at.astimezone(UTC).isoformat()
    raw["officeid"] = office
    raw["source"] = f"/offices/{office}/ikos"
    return parse_event(json.dumps(raw))


def sample_event(kind: str, office: str = "demo-nord", subject: str | None = None, **data: Any) -> CloudEvent:
    """A valid office event of any ``kind`` (e.g. a tenant event) for ``office``."""
    raw = sample(kind, **data)
    if subject is not None:
        raw["subject"] = subject
    raw["officeid"] = office
    raw["source"] = f"/offices/{office}/ikos"
    return parse_event(json.dumps(raw))
