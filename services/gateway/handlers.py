"""The intake use case: check a request's items, produce the valid ones, say what happened to each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.gateway.intake import FORBIDDEN, BodyError, ItemError, check_item, decode_body
from services.gateway.metrics import GatewayMetrics
from services.gateway.ratelimit import RateLimiter
from shared.events import CloudEvent

log = logging.getLogger("canopee.gateway")

Publish = Callable[[Sequence[CloudEvent]], Awaitable[None]]


class Unavailable(Exception):
    """Kafka did not acknowledge in time (or is unreachable): nothing was accepted."""


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class AllRejected(Exception):
    """Every item was refused; ``status`` is 403 when all were another office's, else 422."""

    def __init__(self, errors: list[ItemError]) -> None:
        super().__init__(f"{len(errors)} events refused")
        self.errors = errors
        self.status = 403 if all(e.kind == FORBIDDEN for e in errors) else 422


@dataclass
class Intake:
    """Checks, rate-limits and produces the events an office sends."""

    max_events: int
    max_event_bytes: int
    publish_timeout: float
    limiter: RateLimiter
    metrics: GatewayMetrics
    #: the publisher while Kafka is connected, else None
    publisher: Callable[[], Publish | None]

    async def submit(self, office: str, body: bytes) -> list[dict[str, Any]]:
        """Per-item results of a request whose items were all checked and the valid ones acknowledged."""
        items, _ = decode_body(body, self.max_events)
        wait = self.limiter.take(office, len(items))
        if wait > 0:
            raise RateLimited(wait)
        checked = [check_item(i, item, office, self.max_event_bytes) for i, item in enumerate(items)]
        errors = [c for c in checked if isinstance(c, ItemError)]
        valid = [c for c in checked if isinstance(c, CloudEvent)]
        for error in errors:
            self.metrics.events.labels(office, error.kind).inc()
        if not valid:
            raise AllRejected(errors)
        publish = self.publisher()
        if publish is None:
            self.metrics.events.labels(office, "unavailable").inc(len(valid))
            raise Unavailable("Kafka is not connected")
        try:
            await asyncio.wait_for(publish(valid), self.publish_timeout)
        except Exception as exc:
            # timeouts, connection losses, and anything the producer refuses: the request is not
            # acknowledged, so the caller retries the whole request (ids make retries harmless)
            log.warning("publish failed: %s", type(exc).__name__)
            self.metrics.events.labels(office, "unavailable").inc(len(valid))
            raise Unavailable(type(exc).__name__) from exc
        self.metrics.events.labels(office, "accepted").inc(len(valid))
        results: list[dict[str, Any]] = []
        for index, entry in enumerate(checked):
            if isinstance(entry, ItemError):
                results.append(entry.as_dict())
            else:
                results.append({"index": index, "id": entry.id, "status": "accepted"})
        return results


__all__ = ["AllRejected", "BodyError", "Intake", "RateLimited", "Unavailable"]
