"""HTTP routes of the gateway: ``POST /v1/events``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.gateway.handlers import AllRejected, Intake, RateLimited, Unavailable
from services.gateway.intake import ACCEPTED_MEDIA_TYPES, BodyError, media_type
from services.gateway.ratelimit import retry_after_header
from shared.http import Caller, Problem

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvent 1.0 in structured JSON mode (see the contract, EVENTS.md)",
    "required": ["specversion", "id", "source", "type", "subject", "time", "officeid", "data"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string"},
        "source": {"type": "string", "example": "/offices/demo-nord/ikos"},
        "type": {"type": "string", "example": "fr.canopee.request.opened.v1"},
        "subject": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "officeid": {"type": "string"},
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "data": {"type": "object"},
    },
}
_BODY_SCHEMA = {"oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA, "minItems": 1}]}
_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: every valid event was acknowledged by Kafka; per-item results"},
    400: {"description": "The body is not JSON, or not an event or array of events", "content": _PROBLEM},
    401: {"description": "Missing or unknown office key", "content": _PROBLEM},
    403: {"description": "Every event belongs to another office", "content": _PROBLEM},
    413: {"description": "Body too large or too many events", "content": _PROBLEM},
    415: {"description": "Unsupported content type", "content": _PROBLEM},
    422: {"description": "Every event is invalid; per-item errors", "content": _PROBLEM},
    429: {"description": "The office's rate limit is exceeded (see Retry-After)", "content": _PROBLEM},
    503: {"description": "Kafka is unreachable: nothing was accepted, retry later", "content": _PROBLEM},
}


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``limit`` (never read whole into memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload too large", f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def router(
    intake: Callable[[], Intake], auth: Callable[[Request], Awaitable[Caller]], max_body_bytes: int
) -> APIRouter:
    """The intake routes; ``auth`` yields the calling office."""
    api = APIRouter(tags=["events"])

    @api.post(
        "/v1/events",
        status_code=202,
        responses=_RESPONSES,
        summary="Send one event or a batch of events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _BODY_SCHEMA},
                    "application/cloudevents+json": {"schema": _EVENT_SCHEMA},
                    "application/cloudevents-batch+json": {"schema": _BODY_SCHEMA},
                },
            }
        },
    )
    async def post_events(request: Request, caller: Caller = Depends(auth)) -> JSONResponse:
        """Validate each event; produce the valid ones to their topics and answer once Kafka
        acknowledged them, with one result per item (accepted, or rejected with the reason)."""
        service = intake()
        started = time.perf_counter()
        status = 500
        try:
            if caller.office is None:
                # the admin token is not an office: events always name the office that sends them
                raise Problem(403, "Forbidden", "send events with an office key")
            kind = media_type(request.headers.get("content-type"))
            if kind not in ACCEPTED_MEDIA_TYPES:
                raise Problem(
                    415, "Unsupported media type", f"expected one of {', '.join(sorted(ACCEPTED_MEDIA_TYPES))}"
                )
            body = await read_body(request, max_body_bytes)
            try:
                results = await service.submit(caller.office, body)
            except BodyError as exc:
                raise Problem(exc.status, exc.title, exc.detail) from None
            except RateLimited as exc:
                raise Problem(
                    429,
                    "Too many requests",
                    f"rate limit of office {caller.office} exceeded",
                    headers={"Retry-After": retry_after_header(exc.retry_after)},
                ) from None
            except AllRejected as exc:
                title = "Forbidden" if exc.status == 403 else "Invalid events"
                raise Problem(
                    exc.status, title, "no event was accepted", errors=[e.as_dict() for e in exc.errors]
                ) from None
            except Unavailable:
                raise Problem(
                    503,
                    "Service unavailable",
                    "Kafka is unreachable; nothing was accepted",
                    headers={"Retry-After": "5"},
                ) from None
            accepted = sum(1 for r in results if r["status"] == "accepted")
            status = 202
            return JSONResponse(
                {"accepted": accepted, "rejected": len(results) - accepted, "results": results}, status_code=202
            )
        except Problem as exc:
            status = exc.status
            raise
        finally:
            service.metrics.requests.labels(str(status)).inc()
            service.metrics.latency.observe(time.perf_counter() - started)

    return api
