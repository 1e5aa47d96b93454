"""Helpers of the feedback tests: contract events, a clock moved by hand, waiting for a condition."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
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


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Await ``check()`` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
