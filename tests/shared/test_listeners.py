"""The operator listener (``CANOPEE_<SERVICE>_ADMIN_PORT``): /metrics, the operator API and the API
documents on the admin port only; tenant pages, webhooks and the event intake on the public port
only; health on both — over real sockets, one app, one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from shared.http import health_router
from shared.listeners import ListenerSplit, bind, is_operator_route
from tests.conftest import free_port


def test_which_routes_are_operator_routes() -> None:
    operator = ["/metrics", "/v1/requests", "/v1/alerts/a/ack", "/v1/kpis.csv", "/docs", "/openapi.json", "/dashboard"]
    public = ["/s/token", "/v1/webhooks/sms/inbound", "/v1/events", "/health/ready", "/"]
    assert all(is_operator_route(p) for p in operator)
    assert not any(is_operator_route(p) for p in public)


async def test_each_listener_answers_its_own_routes_only() -> None:
    started: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started.append("once")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/s/{token}")
    async def page(token: str) -> dict[str, str]:
        return {"page": token}

    @app.get("/v1/requests")
    async def requests() -> list[str]:
        return []

    from prometheus_client import CollectorRegistry

    async def ready() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(health_router(CollectorRegistry(), ready))
    public, admin = free_port(), free_port()
    config = uvicorn.Config(ListenerSplit(app, admin), log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[bind("127.0.0.1", public), bind("127.0.0.1", admin)]))
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient() as client:

            async def status(port: int, path: str) -> int:
                return (await client.get(f"http://127.0.0.1:{port}{path}")).status_code

            assert await status(public, "/s/abc") == 200
            assert await status(admin, "/s/abc") == 404
            assert await status(admin, "/v1/requests") == 200
            assert await status(public, "/v1/requests") == 404
            assert await status(admin, "/metrics") == 200
            assert await status(public, "/metrics") == 404
            assert await status(public, "/openapi.json") == 404
            assert await status(public, "/health/live") == 200 and await status(admin, "/health/live") == 200
        assert started == ["once"]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
