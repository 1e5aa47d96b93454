"""Composition root of the feedback service: ``canopee run feedback``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from services.feedback.api import origin_of, router
from services.feedback.handlers import CONSUMED_TYPES, alerts, apply, campaigns, reminders, retention
from services.feedback.metrics import FeedbackMetrics
from services.feedback.ports import Clock, Deps
from services.feedback.settings import FeedbackSettings
from services.feedback.store import INDEXES, FeedbackMongoStore
from shared.bus import CONSUMED_TOPICS
from shared.http import bearer_auth, install_problem_handlers
from shared.observability import configure_logging
from shared.outbox import MongoOutboxStore, Outbox, utcnow
from shared.runtime import Runtime, Started, serve
from shared.settings import load_offices_from, load_settings


def create_app(settings: FeedbackSettings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """The feedback app: consumers, reminder sweep, campaign pacing, tenant survey page, alerts and
    campaigns API, health, metrics."""
    settings = settings or load_settings(FeedbackSettings)
    offices = load_offices_from(settings)
    secret = settings.form_secret.get_secret_value()
    service: Started[Deps] = Started("feedback")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime.create(settings, offices)
        deps = Deps(
            store=FeedbackMongoStore(rt.db),
            outbox=Outbox(MongoOutboxStore(rt.db), rt.publisher, clock),
            metrics=FeedbackMetrics.create(rt.registry),
            clock=clock,
            url_base=settings.survey_url_base,
            outbox_grace=timedelta(seconds=settings.outbox_grace_seconds),
            campaign_rate=settings.campaign_rate,
            offices=offices,
        )
        # one consumer over the four topics: one group membership, one rebalance at start-up; only
        # sms.replied is taken from notifications.outcomes (the other types are skipped)
        rt.consume(
            "feedback",
            list(CONSUMED_TOPICS["feedback"]),
            partial(apply, deps),
            types=CONSUMED_TYPES,
        )
        service.set(deps)
        jobs: list[tuple[float, Callable[[], Awaitable[object]], str]] = [
            (settings.reminder_seconds, partial(reminders.sweep, deps), "survey-reminders"),
            (settings.reminder_seconds, partial(alerts.refresh_gauges, deps), "open-alerts-gauge"),
            (settings.reminder_seconds, partial(alerts.report_overdue, deps), "overdue-alerts"),
            (settings.campaign_tick_seconds, partial(campaigns.send_campaigns, deps), "campaign-pacing"),
            (
                settings.purge_seconds,
                partial(retention.purge, deps, settings.comment_retention_days, settings.voice_retention_days),
                "retention-purge",
            ),
        ]
        try:
            async with rt.serving(app, indexes=INDEXES, jobs=jobs):
                yield
        finally:
            service.clear()

    app = FastAPI(
        title="Canopée feedback",
        version="1",
        description=(
            "Satisfaction surveys after repairs, survey campaigns, the tenant rating page, SMS replies, "
            "detractor alerts."
        ),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    auth = bearer_auth(
        settings.admin_token.get_secret_value() if settings.admin_token else None,
        offices,
        offices_file=settings.offices_file,
    )
    app.include_router(router(service, auth, secret, origin_of(settings.survey_url_base), frozenset(offices.ids)))
    return app


def main() -> None:
    """``canopee run feedback``: load settings, log JSON lines, serve until stopped."""
    settings = load_settings(FeedbackSettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
