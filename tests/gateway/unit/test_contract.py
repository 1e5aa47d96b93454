"""The gateway serves the published event contract: ``/asyncapi.json`` is the shipped
docs/asyncapi.json, and every payload schema it references resolves, relative to it, to the shipped
docs/schemas/ file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urljoin

import httpx
import pytest_asyncio

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.asyncapi import ASYNCAPI_FILE
from shared.producer import MemoryProducer
from shared.schemas import SCHEMA_DIR
from shared.settings import load_settings


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    sink = MemoryProducer()
    app = create_app(load_settings(GatewaySettings), sink_factory=lambda _: sink)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


async def test_the_asyncapi_document_is_served_as_shipped(client: httpx.AsyncClient) -> None:
    answer = await client.get("/asyncapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == ASYNCAPI_FILE.read_bytes(), "regenerate: canopee events schemas"
    document = answer.json()
    assert document["asyncapi"].startswith("3.")
    refs = {m["payload"]["$ref"] for m in document["components"]["messages"].values()}
    assert refs
    for ref in sorted(refs):
        schema = await client.get(urljoin(str(answer.url), ref))
        assert schema.status_code == 200, ref
        assert schema.headers["content-type"] == "application/schema+json"
        assert schema.content == (SCHEMA_DIR / ref.removeprefix("schemas/")).read_bytes(), ref


async def test_an_unknown_schema_is_a_404_problem(client: httpx.AsyncClient) -> None:
    answer = await client.get("/schemas/fr.canopee.no.such.v1.json")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
