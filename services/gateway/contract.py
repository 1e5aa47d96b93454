"""The published event contract, served by the gateway for the offices' integrators:
``GET /asyncapi.json`` (the AsyncAPI 3 document, generated from the code like docs/asyncapi.json)
and ``GET /schemas/{type}.json`` (the payload schemas it references, relative to it)."""

from __future__ import annotations

import json
from functools import cache

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from shared.asyncapi import asyncapi_text
from shared.schemas import render_schemas


@cache
def _asyncapi() -> bytes:
    return asyncapi_text().encode()


@cache
def _schemas() -> dict[str, bytes]:
    return {name: text.encode() for name, text in render_schemas().items()}


def router() -> APIRouter:
    api = APIRouter(tags=["contract"])

    @api.get(
        "/asyncapi.json",
        summary="The event API as an AsyncAPI 3 document (channels, messages, payload schemas)",
        response_class=Response,
        responses={200: {"content": {"application/json": {}}}},
    )
    async def asyncapi() -> Response:
        return Response(_asyncapi(), media_type="application/json")

    @api.get(
        "/schemas/{name}",
        summary="The JSON Schema of one event type, e.g. fr.canopee.request.opened.v1.json",
        response_class=Response,
        responses={200: {"content": {"application/schema+json": {}}}, 404: {"description": "no such event type"}},
    )
    async def schema(name: str) -> Response:
        body = _schemas().get(name)
        if body is None:
            raise HTTPException(404, f"no schema named {json.dumps(name)}")
        return Response(body, media_type="application/schema+json")

    return api
