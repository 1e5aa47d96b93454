"""Composition root of the analytics service: ``canopee run analytics``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.analytics.api import STATIC, Sessions, router
from services.analytics.feedback_words import words_source
from services.analytics.handlers import Analytics, Clock, utc_now
from services.analytics.handlers.contractors import ContractorIndicators
from services.analytics.handlers.queries import Indicators
from services.analytics.handlers.reports import MonthlyReports
from services.analytics.lag import LagProbe
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.report_pdf import render_pdf
from services.analytics.settings import AnalyticsSettings
from services.analytics.store import INDEXES, MongoAnalyticsStore
from shared.bus import CONSUMED_TOPICS
from shared.http import bearer_auth, install_problem_handlers
from shared.kafka_security import client_options
from shared.observability import configure_logging
from shared.runtime import Runtime, Started, serve
from shared.settings import load_offices_from, load_settings


def create_app(settings: AnalyticsSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The analytics app: consumer of every topic, indicator API, dashboard, health, metrics."""
    settings = settings or load_settings(AnalyticsSettings)
    offices = load_offices_from(settings)
    queries: Started[Indicators] = Started("analytics")
    contractors: Started[ContractorIndicators] = Started("analytics")
    reports: Started[MonthlyReports] = Started("analytics")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime.create(settings, offices)
        metrics = AnalyticsMetrics.create(rt.registry)
        svc = Analytics(
            offices=offices,
            store=MongoAnalyticsStore(rt.db),
            metrics=metrics,
            clock=clock,
            gauge_window_days=settings.gauge_window_days,
            contractor_min_repairs=settings.contractor_min_repairs,
        )
        rt.consume("all", list(CONSUMED_TOPICS["analytics"]), svc.apply)
        queries.set(svc.office_indicators)
        contractors.set(svc.contractors)
        render = functools.partial(render_pdf, font_dir=Path(settings.report_font_dir))
        reports.set(
            MonthlyReports(
                offices,
                svc.office_indicators,
                svc.contractors,
                render,
                words=words_source(settings),
                word_excerpts=settings.report_word_excerpts,
            )
        )
        lag = LagProbe(
            settings.kafka_bootstrap,
            settings.topic_prefix,
            settings.lag_group_list,
            rt.registry,
            client_options(settings),
        )
        jobs = [
            (settings.rollup_seconds, svc.refresh_rollups, "rollups"),
            (settings.gauge_seconds, svc.refresh_gauges, "business-gauges"),
            (settings.lag_seconds, lag.refresh, "consumer-lag"),
        ]
        try:
            async with rt.serving(app, indexes=INDEXES, jobs=jobs):
                yield
        finally:
            await lag.close()
            queries.clear()
            contractors.clear()
            reports.clear()

    app = FastAPI(
        title="Canopée analytics",
        version="1",
        description="Per-office indicators (docs/DOMAIN.md), the network dashboard and business metrics.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    auth = bearer_auth(admin or None, offices, offices_file=settings.offices_file)
    app.include_router(
        router(
            queries,
            auth,
            offices,
            Sessions(admin),
            settings.max_query_days,
            settings.secure_cookie,
            contractors=contractors,
            reports=reports,
        )
    )
    app.mount("/static/analytics", StaticFiles(directory=STATIC), name="analytics-static")
    return app


def main() -> None:
    """``canopee run analytics``: load settings, log JSON lines, serve until stopped."""
    settings = load_settings(AnalyticsSettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
