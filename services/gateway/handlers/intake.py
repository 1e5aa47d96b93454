"""The intake use case: authenticate, check, rate-limit, produce what was accepted, report per item."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.gateway.domain.intake import (
    ACCEPTED,
    BodyError,
    ItemResult,
    check_items,
    decide,
    parse_body,
)
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.metrics import UNKNOWN_OFFICE, GatewayMetrics
from services.gateway.ports import EventSink, Unavailable
from shared.auth import FailureLimiter, KeyRing, Scope
from shared.offices import Offices
from shared.producer import record_of

#: status of a valid item that was not produced because the batch was refused as a whole
NOT_PRODUCED = 424

_OUTCOMES = {ACCEPTED: "accepted", 403: "forbidden", 422: "invalid", NOT_PRODUCED: "not_produced"}


class Refused(Exception):
    """A request answered with a problem: ``status``, title, detail and extra members."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]


@dataclass
class Intake:
    """Turns a posted body into produced events and a per-item report."""

    offices: Offices
    sink: EventSink
    limiter: RateLimiter
    metrics: GatewayMetrics
    topic_prefix: str
    max_events: int
    clock: Callable[[], float] = time.perf_counter
    #: the offices' keys, reloaded when the offices file changes (None: ``offices``' keys, fixed)
    keys: KeyRing | None = None
    #: failed authentications per client (brute force: 429 once over the limit)
    failures: FailureLimiter = field(default_factory=FailureLimiter)

    def authenticate(self, authorization: str | None, api_key: str | None, client: str = "unknown") -> str:
        """The caller's office from ``Authorization: Bearer <key>`` or ``X-Api-Key``, else 401
        (403 for a read-only key: it posts no events; 429 for a client that failed too often)."""
        wait = self.failures.retry_after(client)
        if wait > 0:
            self.metrics.requests.labels(UNKNOWN_OFFICE, "429").inc()
            raise Refused(
                429,
                "Too Many Requests",
                "too many failed authentications from this client",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        key = ""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer":
                key = token.strip()
        if not key and api_key:
            key = api_key.strip()
        if not key:
            self.metrics.requests.labels(UNKNOWN_OFFICE, "401").inc()
            raise Refused(
                401,
                "Unauthorized",
                "an office key is required (Authorization: Bearer <key> or X-Api-Key)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        self.keys = self.keys or KeyRing(self.offices)
        found = self.keys.identify(key)
        if found is None:
            self.failures.failed(client)
            self.metrics.requests.labels(UNKNOWN_OFFICE, "401").inc()
            raise Refused(401, "Unauthorized", "unknown office key", headers={"WWW-Authenticate": "Bearer"})
        office, scope = found
        if office is None or scope is not Scope.OFFICE_OPERATOR:
            self.metrics.requests.labels(office or UNKNOWN_OFFICE, "403").inc()
            raise Refused(403, "Forbidden", "only an office's operator key posts events")
        return office

    def refuse_body(self, office: str, error: BodyError) -> Refused:
        self.metrics.requests.labels(office, str(error.status)).inc()
        return Refused(error.status, error.title, error.detail)

    async def post(self, office: str, body: bytes, media: str, all_or_nothing: bool = False) -> Outcome:
        started = self.clock()
        try:
            items, is_batch = parse_body(body, media, self.max_events)
        except BodyError as exc:
            raise self.refuse_body(office, exc) from None
        wait = self.limiter.take(office, len(items))
        if wait > 0:
            self.metrics.requests.labels(office, "429").inc()
            self.metrics.events.labels(office, "rate_limited").inc(len(items))
            raise Refused(
                429,
                "Too Many Requests",
                f"rate limit of this office reached; retry in {wait:.1f} s",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        results = check_items(items, office)
        decision = decide(results, all_or_nothing)
        if decision.to_produce:
            records = [
                record_of(r.event, self.topic_prefix, r.raw)
                for r in decision.to_produce
                if r.event is not None and r.raw is not None
            ]
            produce_started = self.clock()
            try:
                await self.sink.send(records)
            except Unavailable as exc:
                self.metrics.requests.labels(office, "503").inc()
                self.metrics.events.labels(office, "unavailable").inc(len(items))
                raise Refused(
                    503,
                    "Service Unavailable",
                    f"{exc}; nothing was accepted, retry the same request later (event ids make it safe)",
                    headers={"Retry-After": "1"},
                ) from None
            self.metrics.produce_seconds.observe(self.clock() - produce_started)
        else:
            # valid items of a refused batch are reported as not produced
            results = [ItemResult(r.index, r.id, NOT_PRODUCED, r.errors) if r.accepted else r for r in results]
        for result in results:
            self.metrics.events.labels(office, _OUTCOMES.get(result.status, "invalid")).inc()
        report = [self._item(r) for r in results]
        accepted = sum(1 for r in results if r.accepted)
        self.metrics.requests.labels(office, str(decision.status)).inc()
        if decision.status != ACCEPTED:
            title = "Forbidden" if decision.status == 403 else "Invalid events"
            detail = (
                "no event of this request was accepted"
                if not all_or_nothing
                else "the batch was refused as a whole (all_or_nothing): nothing was produced"
            )
            raise Refused(decision.status, title, detail, accepted=0, refused=len(results), items=report)
        self.metrics.request_seconds.observe(self.clock() - started)
        return Outcome(
            ACCEPTED,
            {"accepted": accepted, "refused": len(results) - accepted, "batch": is_batch, "items": report},
        )

    @staticmethod
    def _item(result: ItemResult) -> dict[str, Any]:
        body = result.to_json()
        if result.status == NOT_PRODUCED:
            body["errors"] = [
                {"field": "", "message": "valid, but not produced: another event of the batch was refused"}
            ]
        return body
