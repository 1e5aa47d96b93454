"""Helpers of the feedback tests: contract events, a clock moved by hand, waiting for a condition."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.events import CloudEvent, parse_event
from tests.support.samples import sample

SECRET = "feedback-test-form-secret-0123456789abcdef"


class ManualClock:
    """The service's clock in tests: it only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def event(kind: str, subject: str, at: datetime, office: str = "demo-nord", **data: Any) -> CloudEvent:
    """A valid event of ``kind`` with ``subject``, at ``at``, for ``office``."""
    raw = sample(kind, **data)
    raw["subject"] = subject
    raw["time"] = at.astimezone(UTC).isoformat()
    raw["officeid"] = office
    if raw["source"].startswith("/offices/"):
        raw["source"] = f"/offices/{office}/ikos"
    return parse_event(json.dumps(raw))
