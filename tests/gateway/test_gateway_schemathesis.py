"""Property-based API test: Schemathesis generates requests from the gateway's OpenAPI (valid and
invalid bodies, headers, query strings) and the gateway never answers with a 5xx.

Size: ``CANOPEE_FUZZ_CASES`` generated requests in total (``tests/support/fuzz.py``), spread over the
operations and the two identities; by default 160 (``make test``). No
stateful run here: the gateway's one write, ``POST /v1/events``, answers 202 with what it accepted
and leaves nothing on the gateway to read back (a request's state is ticketing's API), so its
document has no flow for links to follow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.support.fuzz import cases, fuzz, operations_of, timed_report
from tests.support.http import running

pytestmark = pytest.mark.integration

#: generated requests in total when ``CANOPEE_FUZZ_CASES`` is not set
DEFAULT_TOTAL = 160
IDENTITIES = {
    "office-key": {"Authorization": "Bearer demo-nord-demo-key"},  # an office: bodies reach validation
    "generated-auth": {},  # whatever auth the generator invents
}


@pytest.mark.parametrize("identity", list(IDENTITIES))
async def test_no_server_error_for_generated_requests(
    make_settings: Callable[..., GatewaySettings], topics: str, identity: str
) -> None:
    settings_ = make_settings(GatewaySettings, rate_per_second=100_000, rate_burst=100_000)
    app = create_app(settings_)
    async with running(app, settings_.http_port) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            spec = (await client.get("/openapi.json")).json()
        operations = operations_of(spec)
        total = cases(DEFAULT_TOTAL)
        share = -(-total // len(IDENTITIES))
        started = time.monotonic()
        statuses = await asyncio.to_thread(fuzz, url, spec, IDENTITIES[identity], share)
    timed_report(f"gateway/{identity}", started, statuses, operations=operations, budget=share, total=total)
    assert sum(statuses.values()) >= share // 2  # the budget is really spent (the report says how much)
