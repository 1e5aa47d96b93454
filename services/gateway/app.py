"""Composition root of the gateway: ``canopee run gateway``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.gateway.api import router
from services.gateway.contract import router as contract_router
from services.gateway.domain.ratelimit import RateLimiter
from services.gateway.handlers.intake import Intake
from services.gateway.metrics import GatewayMetrics
from services.gateway.ports import EventSink
from services.gateway.settings import GatewaySettings
from shared.auth import KeyRing
from shared.http import health_router, install_problem_handlers
from shared.kafka_security import client_options
from shared.observability import configure_logging
from shared.producer import KafkaProducer
from shared.runtime import Started, serve
from shared.settings import load_offices_from, load_settings


def create_app(
    settings: GatewaySettings | None = None,
    *,
    sink_factory: Callable[[GatewaySettings], EventSink] | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The gateway app: ``POST /v1/events``, health, metrics. Stateless: Kafka is its only resource,
    connected lazily so the gateway answers 503 (not a crash) while Kafka is down."""
    settings = settings or load_settings(GatewaySettings)
    offices = load_offices_from(settings)
    intake: Started[Intake] = Started("gateway")

    def kafka_sink(s: GatewaySettings) -> EventSink:
        return KafkaProducer(
            s.kafka_bootstrap,
            timeout=s.produce_timeout_seconds,
            reconnect_seconds=s.reconnect_seconds,
            client_id="canopee-gateway",
            options=client_options(s),
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = CollectorRegistry()
        metrics = GatewayMetrics.create(registry)
        sink = (sink_factory or kafka_sink)(settings)
        intake.set(
            Intake(
                offices=offices,
                sink=sink,
                limiter=limiter or RateLimiter(settings.rate_per_second, settings.rate_burst),
                metrics=metrics,
                topic_prefix=settings.topic_prefix,
                max_events=settings.max_events,
                keys=KeyRing(offices, None, settings.offices_file),
            )
        )

        async def readiness() -> dict[str, bool]:
            ok = await sink.ready()
            metrics.ready.set(1 if ok else 0)
            return {"broker": ok}

        before = len(app.router.routes)
        app.include_router(health_router(registry, readiness))
        health_routes = app.router.routes[before:]
        await sink.ready()  # connect now when Kafka is up; a failure only means 503s until it is
        try:
            yield
        finally:
            await sink.close()
            intake.clear()
            app.router.routes[:] = [r for r in app.router.routes if r not in health_routes]

    app = FastAPI(
        title="Canopée gateway",
        version="1",
        description=(
            "Authenticated intake of the offices' events (CloudEvents 1.0, docs/EVENTS.md). "
            "Each office posts with its own key; accepted events are on Kafka when the answer (202) comes."
        ),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(router(intake, settings.max_body_bytes))
    app.include_router(contract_router())
    return app


def main() -> None:
    """``canopee run gateway``: load settings, log JSON lines, serve until stopped."""
    settings = load_settings(GatewaySettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
