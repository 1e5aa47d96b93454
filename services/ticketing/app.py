"""Composition root of the ticketing service: ``canopee run ticketing``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from services.ticketing.api import router, tracker_router
from services.ticketing.handlers import HANDLERS, Clock, TicketingService, utc_now
from services.ticketing.metrics import TicketingMetrics
from services.ticketing.settings import TicketingSettings
from services.ticketing.store import INDEXES, MongoAlertRepository, MongoRequestRepository, MongoTrackerRepository
from shared.bus import CONSUMED_TOPICS
from shared.http import bearer_auth, install_problem_handlers
from shared.observability import configure_logging
from shared.runtime import Runtime, Started, serve
from shared.settings import load_offices_from, load_settings


def create_app(settings: TicketingSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The ticketing app: consumer of office.requests, SLA sweeper, request API, health, metrics."""
    settings = settings or load_settings(TicketingSettings)
    offices = load_offices_from(settings)
    service: Started[TicketingService] = Started("ticketing")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime.create(settings, offices)
        metrics = TicketingMetrics.create(rt.registry)
        svc = TicketingService(
            offices=offices,
            requests=MongoRequestRepository(rt.db),
            alerts=MongoAlertRepository(rt.db),
            publisher=rt.publisher,
            metrics=metrics,
            clock=clock,
            publish_lease=timedelta(seconds=settings.publish_lease_seconds),
            sweep_batch=settings.sweep_batch,
            alert_settle=timedelta(seconds=settings.alert_settle_seconds),
            trackers=MongoTrackerRepository(rt.db),
            tracker_secret=settings.tracker_secret.get_secret_value() if settings.tracker_secret else None,
        )
        rt.consume(
            "requests",
            list(CONSUMED_TOPICS["ticketing"]),
            svc.apply,
            types=list(HANDLERS),
        )
        service.set(svc)
        jobs = [
            (settings.sweep_seconds, svc.sweep, "sla-sweeper"),
            (settings.gauge_seconds, svc.refresh_gauges, "open-requests-gauge"),
        ]
        try:
            async with rt.serving(app, indexes=INDEXES, jobs=jobs):
                yield
        finally:
            service.clear()

    app = FastAPI(
        title="Canopée ticketing",
        version="1",
        description="Request lifecycle, timeline and SLA clocks of the offices' tenant requests.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    auth = bearer_auth(
        settings.admin_token.get_secret_value() if settings.admin_token else None,
        offices,
        offices_file=settings.offices_file,
    )
    app.include_router(router(service, auth))
    app.include_router(tracker_router(service))
    return app


def main() -> None:
    """``canopee run ticketing``: load settings, log JSON lines, serve until stopped."""
    settings = load_settings(TicketingSettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
