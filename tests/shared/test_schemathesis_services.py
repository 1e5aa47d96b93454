"""Property-based API test of ticketing, notifications, analytics and feedback (the gateway has its
own, tests/gateway/test_gateway_schemathesis.py): Schemathesis generates
requests from each service's OpenAPI document (valid and invalid paths, queries, bodies, headers)
as the network admin, as a read-only office token and with whatever auth it invents; no answer may
be a 5xx. Size: ``CANOPEE_FUZZ_CASES`` generated requests per API in total, spread over its operations
and the three identities (``tests/support/fuzz.py``); by default the totals below.

Stateful where the API has flows: feedback's campaigns are created (``POST /v1/campaigns``), then
read, their results asked and actions applied with the id the creation answered, and alerts and voice
entries listed then acknowledged; Schemathesis infers these links from the response schemas and path
parameters. The other APIs have no such flow: ticketing's and notifications' lists are filled by
Kafka, not by their APIs, and analytics only reads."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.offices import hash_key
from tests.conftest import ADMIN_TOKEN
from tests.support.fuzz import cases, fuzz, fuzz_stateful, operations_of, report, timed_report
from tests.support.http import running

pytestmark = pytest.mark.integration

READ_TOKEN = "demo-nord-read-only-0123456789"
DEMO_OFFICES = ["demo-nord", "demo-sud", "demo-est", "demo-ouest"]
SETTINGS = {
    "ticketing": ("services.ticketing.settings", "TicketingSettings", {}),
    "notifications": (
        "services.notifications.settings",
        "NotificationsSettings",
        {"webhook_secret": "whsec_c2NoZW1hdGhlc2lzLXdlYmhvb2stc2VjcmV0LTAxMjM="},
    ),
    "analytics": ("services.analytics.settings", "AnalyticsSettings", {}),
    "feedback": (
        "services.feedback.settings",
        "FeedbackSettings",
        {"form_secret": "schemathesis-form-secret-0123456789abcdef"},
    ),
}
#: generated requests per API in total when ``CANOPEE_FUZZ_CASES`` is not set (``make test``):
#: feedback's API is the largest, 660 requests keep its run near 30 s on a busy two-core machine
DEFAULT_TOTAL = {"ticketing": 240, "notifications": 600, "analytics": 360, "feedback": 660}
#: stateful scenarios (sequences of linked calls, about 55 calls each): the fuzz size / 50, so that
#: the stateful calls come near the fuzz size too (20 scenarios by default and at the least)
STATEFUL_DEFAULT = 1000


def offices_with_a_read_token(path: Path) -> Path:
    text = Path(__file__).resolve().parents[2].joinpath("deploy", "offices.demo.toml").read_text(encoding="utf-8")
    marker = 'id = "demo-nord"'
    assert marker in text
    path.write_text(
        text.replace(marker, f'{marker}\nread_key_sha256 = ["{hash_key(READ_TOKEN)}"]', 1), encoding="utf-8"
    )
    return path


async def _start(service: str, make_settings: Callable[..., Any], tmp_path: Path) -> tuple[Any, Any]:
    module, name, overrides = SETTINGS[service]
    cls = getattr(importlib.import_module(module), name)
    settings = make_settings(cls, offices_file=offices_with_a_read_token(tmp_path / "offices.toml"), **overrides)
    return importlib.import_module(f"services.{service}.app").create_app(settings), settings


async def _spec(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    # readiness answers 503 by contract while the broker or the store is out of reach (a busy
    # test machine): not a server error of the API
    spec["paths"].pop("/health/ready", None)
    return spec


@pytest.mark.parametrize("service", list(SETTINGS))
async def test_no_server_error_for_generated_requests(
    service: str, make_settings: Callable[..., Any], topics: str, tmp_path: Path
) -> None:
    app, settings = await _start(service, make_settings, tmp_path)
    identities: tuple[dict[str, str], ...] = (
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {READ_TOKEN}"},
        {},
    )
    async with running(app, settings.http_port) as url:
        spec = await _spec(url)
        operations = operations_of(spec)
        total = cases(DEFAULT_TOTAL[service])
        share = -(-total // len(identities))
        started = time.monotonic()
        statuses: Counter[int] = Counter()
        for headers in identities:
            statuses += await asyncio.to_thread(fuzz, url, spec, headers, share)
    timed_report(service, started, statuses, operations=operations, total=total)
    assert sum(statuses.values()) >= max(3 * operations, total // 2)  # the budget is really spent


async def test_feedback_flows_statefully(make_settings: Callable[..., Any], topics: str, tmp_path: Path) -> None:
    app, settings = await _start("feedback", make_settings, tmp_path)
    scenarios = max(20, cases(STATEFUL_DEFAULT) // 50)  # fewer rarely reach a created campaign
    async with running(app, settings.http_port) as url:
        spec = await _spec(url)
        # campaigns name known offices (any other is refused, and no flow follows): the generator
        # draws them from the demo offices; every other field stays as the document says
        campaign = spec["components"]["schemas"]["CampaignIn"]["properties"]["offices"]
        campaign["items"] = {"enum": DEMO_OFFICES}
        started = time.monotonic()
        figures = await asyncio.to_thread(
            fuzz_stateful, url, spec, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, scenarios
        )
    statuses: Counter[int] = figures["statuses"]
    report(
        "feedback/stateful",
        scenarios=figures["scenarios"],
        runs_ended_by_a_diverging_replay=figures["diverged"],
        calls=figures["calls"],
        linked=figures["linked"],
        seconds=round(time.monotonic() - started, 1),
        server_errors=sum(n for code, n in statuses.items() if code >= 500),
        statuses={str(code): n for code, n in sorted(statuses.items())},
    )
    assert figures["scenarios"] >= scenarios and figures["calls"] >= scenarios
    # a campaign created by the admin is then used by a later call: the flow is really followed
    assert figures["linked"] > 0, figures
