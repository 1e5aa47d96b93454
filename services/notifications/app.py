"""Composition root of the notifications service: ``create_app()`` and ``main()``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI

from shared.bus import CONSUMED_TOPICS
from shared.events import CloudEvent, type_name
from shared.http import bearer_auth, install_problem_handlers
from shared.observability import configure_logging
from shared.runtime import Runtime, serve
from shared.settings import load_offices_from, load_settings
from shared.store import make_client

from .api import build_router, followups_router
from .followups_page import Sessions
from .handlers import HANDLERS, Notifier, utcnow
from .handlers.holding import RENEW_EVERY
from .metrics import NotificationMetrics
from .ports import EmailProvider, SmsProvider
from .providers import FileSmsProvider, HttpSmsProvider, SmtpEmailProvider, TokenBucket, sms_session
from .settings import NotificationsSettings
from .store import INDEXES, MongoFollowupStore, NotificationStore, WebhookIds
from .templates import Templates

#: the event types this service acts on: those of the handlers' table
CONSUMED: tuple[type[CloudEvent], ...] = tuple(HANDLERS)
SERVICE_NAME = "notifications"
#: how long one request to the store may wait for its reply before it fails (and is retried)
STORE_REPLY_SECONDS = 20.0
TOPICS = CONSUMED_TOPICS[SERVICE_NAME]


def create_app(
    settings: NotificationsSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    sms_provider: SmsProvider | None = None,
    email_provider: EmailProvider | None = None,
) -> FastAPI:
    """The service: consumers, dispatcher loop and HTTP API. Providers may be injected (tests)."""
    settings = settings or load_settings(NotificationsSettings)
    offices = load_offices_from(settings)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime.create(settings, offices)
        http = sms_session(settings.sms_base_url, settings.sms_timeout_seconds)
        sms: SmsProvider
        if sms_provider is not None:
            sms = sms_provider
        elif settings.sms_provider == "file":
            sms = FileSmsProvider(settings.sms_file)
        else:
            sms = HttpSmsProvider(
                http,
                token=settings.sms_token.get_secret_value() if settings.sms_token else None,
                attempts=settings.sms_attempts,
                backoff=settings.sms_backoff_seconds,
            )
        # the SMTP connection pool is this instance's: its kept connections are closed at the stop
        smtp = SmtpEmailProvider(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
            pool_size=settings.smtp_pool_size,
        )
        email: EmailProvider = email_provider or smtp
        # the store's own client: a request without a reply (a store restarting after a crash) fails
        # after STORE_REPLY_SECONDS and is retried, instead of holding the sends behind it for ever
        store_client = make_client(settings.mongo_url, socket_timeout_ms=int(STORE_REPLY_SECONDS * 1000))
        notifier = Notifier(
            store=NotificationStore(store_client[settings.database]),
            templates=Templates(settings.templates_dir),
            offices=offices,
            sms=sms,
            email=email,
            publisher=rt.publisher,
            metrics=NotificationMetrics.create(rt.registry),
            settings=settings,
            sms_limit=TokenBucket(settings.sms_rate_per_second),
            email_limit=TokenBucket(settings.email_rate_per_second),
            clock=clock,
            webhook_ids=WebhookIds(rt.db),
            followup_store=MongoFollowupStore(rt.db),
        )
        rt.consume(SERVICE_NAME, TOPICS, notifier.handle_batch, types=[type_name(c) for c in CONSUMED])
        app.state.notifier = notifier
        jobs = [
            (settings.dispatch_seconds, notifier.dispatch_due, "notifications-dispatcher"),
            (RENEW_EVERY, notifier.renew_leases, "notifications-leases"),
            (settings.purge_seconds, notifier.purge, "retention-purge"),
        ]

        async def finish_sends() -> None:  # sends in progress record their outcome before the stop
            app.state.notifier = None
            await notifier.drain(settings.drain_seconds)

        try:
            async with rt.serving(app, indexes=INDEXES, jobs=jobs, before_stop=finish_sends):
                yield
        finally:
            app.state.notifier = None
            await http.close()
            await smtp.close()
            await store_client.close()

    app = FastAPI(title="Canopée notifications", version="1", lifespan=lifespan)
    install_problem_handlers(app)

    auth = bearer_auth(admin_token, offices, offices_file=settings.offices_file)
    app.include_router(build_router(auth))
    app.include_router(followups_router(auth, Sessions(admin_token or "")))
    return app


def main() -> None:
    """``canopee run notifications``."""
    settings = load_settings(NotificationsSettings)
    configure_logging(settings.service, settings.log_level)
    serve(create_app(settings), settings)
