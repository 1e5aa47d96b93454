"""Composition root of the gateway: ``canopee run gateway``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.gateway.api import router
from services.gateway.handlers import Intake, Publish
from services.gateway.metrics import GatewayMetrics
from services.gateway.ratelimit import RateLimiter
from services.gateway.settings import GatewaySettings
from shared.http import bearer_auth, health_router, install_problem_handlers
from shared.observability import configure_logging
from shared.runtime import Runtime, serve
from shared.settings import load_offices_from, load_settings

log = logging.getLogger("canopee.gateway")


def create_app(settings: GatewaySettings | None = None, *, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The gateway app: ``POST /v1/events``, health, metrics. Stateless: no store is used."""
    settings = settings or load_settings(GatewaySettings)
    offices = load_offices_from(settings)
    state: dict[str, object] = {}

    def intake() -> Intake:
        running = state.get("intake")
        if not isinstance(running, Intake):
            raise RuntimeError("the gateway is not started")
        return running

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime.create(settings, offices)
        connected = asyncio.Event()

        def publisher() -> Publish | None:
            return rt.publisher.publish if connected.is_set() else None

        async def connect() -> bool:
            try:
                await rt.broker.start()
            except Exception as exc:
                # the gateway starts without Kafka: it answers 503 and reports not ready meanwhile
                log.warning(
                    "Kafka unreachable (%s); retrying every %s s", type(exc).__name__, settings.reconnect_seconds
                )
                with contextlib.suppress(Exception):
                    await rt.broker.stop()
                return False
            connected.set()
            return True

        async def reconnect() -> None:
            while True:
                await asyncio.sleep(settings.reconnect_seconds)
                if await connect():
                    return

        async def readiness() -> dict[str, bool]:
            ok = connected.is_set() and bool(await rt.broker.ping(1.5))
            rt.metrics.ready.set(1 if ok else 0)
            return {"broker": ok}

        state["intake"] = Intake(
            max_events=settings.max_events,
            max_event_bytes=settings.max_event_bytes,
            publish_timeout=settings.publish_timeout_seconds,
            limiter=RateLimiter(settings.rate_per_second, settings.rate_burst, clock),
            metrics=GatewayMetrics.create(rt.registry),
            publisher=publisher,
        )
        app.state.runtime = rt
        before = len(app.router.routes)
        app.include_router(health_router(rt.registry, readiness))
        health_routes = app.router.routes[before:]
        retry: asyncio.Task[None] | None = None
        if not await connect():
            retry = asyncio.create_task(reconnect(), name="kafka-reconnect")
        try:
            yield
        finally:
            if retry is not None:
                retry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retry
            await rt.stop()
            state.clear()
            app.router.routes[:] = [r for r in app.router.routes if r not in health_routes]

    app = FastAPI(
        title="Canopée gateway",
        version="1",
        description="Authenticated HTTP intake of the offices' events (CloudEvents 1.0, structured JSON). "
        "Each office sends with its own key (`Authorization: Bearer <key>`); the answer comes once Kafka "
        "acknowledged the accepted events.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    # no admin token here: events always come from one office
    auth = bearer_auth(None, offices)
    app.include_router(router(intake, auth, settings.max_body_bytes))
    return app


def main() -> None:
    """``canopee run gateway``: load settings, log JSON lines, serve until stopped."""
    settings = load_settings(GatewaySettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
