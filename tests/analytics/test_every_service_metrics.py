"""``promtool check metrics`` on every service's ``/metrics``: each service is started with its
own settings on the real Kafka and FerretDB, and its exposition (FastStream transport metrics,
consumer metrics, business metrics) must be accepted by promtool."""

from __future__ import annotations

import importlib

import httpx
import pytest

from tests.support.analytics_promtool import check_metrics
from tests.support.http import running

pytestmark = pytest.mark.integration

SERVICES = {
    "gateway": "GatewaySettings",
    "ticketing": "TicketingSettings",
    "notifications": "NotificationsSettings",
    "feedback": "FeedbackSettings",
    "analytics": "AnalyticsSettings",
}

#: settings without a default, per service
REQUIRED = {"feedback": {"form_secret": "metrics-test-form-secret-0123456789abcdef"}}


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_metrics_of_every_service_pass_promtool(service: str, make_settings, topics) -> None:
    settings_cls = getattr(importlib.import_module(f"services.{service}.settings"), SERVICES[service])
    app_module = importlib.import_module(f"services.{service}.app")
    settings = make_settings(settings_cls, **REQUIRED.get(service, {}))
    async with (
        running(app_module.create_app(settings), settings.http_port) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        response = await client.get("/metrics")
        assert response.status_code == 200
        text = response.text
        assert "# TYPE" in text
        check_metrics(text)
