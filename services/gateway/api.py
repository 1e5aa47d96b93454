"""HTTP route of the gateway: ``POST /v1/events`` (one CloudEvent or a JSON array of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from services.gateway.domain.intake import BATCH, JSON, SINGLE, BodyError, media_type
from services.gateway.handlers.intake import Intake, Refused
from shared.http import Problem

_bearer = HTTPBearer(auto_error=False, description="the office's key")
_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="the office's key (alternative header)")

_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvents 1.0 event of an office type (docs/EVENTS.md); validated strictly by the gateway.",
    "required": ["specversion", "id", "source", "type", "subject", "time", "officeid", "data"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1, "maxLength": 128},
        "source": {"type": "string", "example": "/offices/demo-nord/ikos"},
        "type": {"type": "string", "example": "fr.canopee.request.opened.v1"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 64},
        "time": {"type": "string", "format": "date-time"},
        "officeid": {"type": "string", "example": "demo-nord"},
        "datacontenttype": {"type": "string", "enum": ["application/json"]},
        "data": {"type": "object"},
    },
}
_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        JSON: {"schema": {"oneOf": [_ENVELOPE, {"type": "array", "items": _ENVELOPE, "minItems": 1}]}},
        SINGLE: {"schema": _ENVELOPE},
        BATCH: {"schema": {"type": "array", "items": _ENVELOPE, "minItems": 1}},
    },
}


class ItemReport(BaseModel):
    index: int
    id: str | None
    status: int
    type: str | None = None
    errors: list[dict[str, str]] | None = None


class Accepted(BaseModel):
    """Per-item results; ``refused`` items were not produced and can be fixed and re-posted."""

    accepted: int
    refused: int
    batch: bool
    items: list[ItemReport]


class ProblemBody(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    items: list[ItemReport] | None = None


#: the problem body's schema; the item report it names is in the document's components (``Accepted``)
_PROBLEM_SCHEMA = {
    k: v for k, v in ProblemBody.model_json_schema(ref_template="#/components/schemas/{model}").items() if k != "$defs"
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("the body is not JSON (or not the shape its Content-Type announces)"),
    401: _problem("no key, or a key no office holds"),
    403: _problem("every event belongs to another office or is a service event type"),
    413: _problem("body larger than the limit, or too many events in one request"),
    415: _problem("Content-Type is not JSON / CloudEvents JSON"),
    422: _problem("no event was valid (per-item fields listed), or all_or_nothing and one was refused"),
    429: _problem("the office's rate limit is reached; see Retry-After"),
    503: _problem("Kafka did not acknowledge; nothing was accepted, retry later"),
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, "Content Too Large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "Content Too Large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def router(intake: Callable[[], Intake], max_body_bytes: int) -> APIRouter:
    """The intake route; ``intake`` returns the running use case (created in the app's lifespan)."""
    api = APIRouter(tags=["events"])

    @api.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        responses=_RESPONSES,
        openapi_extra={"requestBody": _BODY},
        summary="Post one event or a batch of events of the caller's office",
    )
    async def post_events(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        api_key: Annotated[str | None, Security(_api_key)] = None,
        all_or_nothing: Annotated[
            bool, Query(description="refuse the whole batch when any event is refused (default: keep the valid ones)")
        ] = False,
    ) -> JSONResponse:
        use_case = intake()
        try:
            office = use_case.authenticate(
                request.headers.get("authorization"), api_key, request.client.host if request.client else "unknown"
            )
            try:
                media = media_type(request.headers.get("content-type"))
                body = await _read_body(request, max_body_bytes)
            except BodyError as exc:
                raise use_case.refuse_body(office, exc) from None
            outcome = await use_case.post(office, body, media, all_or_nothing)
        except Refused as exc:
            raise Problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra) from None
        return JSONResponse(outcome.body, status_code=outcome.status)

    return api
