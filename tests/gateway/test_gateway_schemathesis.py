"""Property-based API test: Schemathesis generates requests from the gateway's OpenAPI (valid and
invalid bodies, headers, query strings) and the gateway never answers with a 5xx."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.support.http import running

pytestmark = pytest.mark.integration

EXAMPLES = 40


def fuzz(base_url: str, spec: dict[str, object], headers: dict[str, str], examples: int = EXAMPLES) -> int:
    """Run ``examples`` generated cases per operation against ``base_url``; return the calls made."""
    schema = schemathesis.openapi.from_dict(spec)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            response = case.call(base_url=base_url, headers=headers)
            calls += 1
            assert response.status_code < 500, (response.status_code, response.text)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    return calls


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer demo-nord-demo-key"},  # an office: bodies reach validation
        {},  # whatever auth the generator invents
    ],
    ids=["office-key", "generated-auth"],
)
async def test_no_server_error_for_generated_requests(
    make_settings: Callable[..., GatewaySettings], topics: str, headers: dict[str, str]
) -> None:
    settings_ = make_settings(GatewaySettings, rate_per_second=100_000, rate_burst=100_000)
    app = create_app(settings_)
    async with running(app, settings_.http_port) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            spec = (await client.get("/openapi.json")).json()
        calls = await asyncio.to_thread(fuzz, url, spec, headers)
    assert calls >= EXAMPLES  # at least the intake route was exercised this many times
