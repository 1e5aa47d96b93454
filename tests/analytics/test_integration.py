"""Analytics through the real Kafka and FerretDB: a shuffled, partly duplicated multi-office
dataset gives the expected indicators; auth, CSV, metrics (promtool) and the dashboard in a
headless Chromium (screenshot kept in artifacts/analytics/)."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.analytics.app import create_app
from services.analytics.settings import AnalyticsSettings
from tests.analytics.support import assert_campaign, assert_totals
from tests.conftest import ADMIN_TOKEN
from tests.support.analytics_browser import chromium
from tests.support.analytics_dataset import OFFICES, RANGE, generate
from tests.support.analytics_promtool import check_metrics
from tests.support.http import running
from tests.support.kafka import produce_events

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "analytics"
PARAMS = {"from": RANGE[0].isoformat(), "to": RANGE[1].isoformat(), "period": "month"}


async def wait_for_totals(client: httpx.AsyncClient, ds: Any, timeout: float = 60) -> dict[str, Any]:
    """Poll the API until the network totals and campaign match the dataset (or fail with the last
    mismatch): the campaign's events come on other topics than the requests', so they may land later."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = (await client.get("/v1/kpis", params=PARAMS)).json()
        try:
            assert_totals(ds, result["network"]["total"], None)
            assert_campaign(ds, result["network"]["campaigns"], None, "itcamp-2026")
            return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_indicators_dashboard_and_metrics_on_real_infrastructure(make_settings, topics, infra) -> None:
    ds = generate(per_office=12, seed=5, prefix="it")
    events = ds.cloud_events()
    rnd = random.Random(9)
    delivered = events + rnd.sample(events, len(events) // 4)  # a quarter delivered twice
    rnd.shuffle(delivered)
    settings = make_settings(AnalyticsSettings, gauge_seconds=0.5)
    app = create_app(settings)
    async with running(app, settings.http_port) as base:
        await produce_events(infra["kafka"], topics, delivered)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as client:
            result = await wait_for_totals(client, ds)
            for office in OFFICES:
                assert_totals(ds, result["offices"][office]["total"], office)
            assert_campaign(ds, result["network"]["campaigns"], None, "itcamp-2026")

            # an office token sees its office and the network totals, not the other offices
            nord = {"Authorization": "Bearer demo-nord-demo-key"}
            own = (await client.get("/v1/kpis", params=PARAMS, headers=nord)).json()
            assert list(own["offices"]) == ["demo-nord"]
            assert own["network"]["total"] == result["network"]["total"]
            assert (await client.get("/v1/kpis", params={"office": "demo-sud"}, headers=nord)).status_code == 403
            assert (await client.get("/v1/kpis", headers={"Authorization": "Bearer nope-nope"})).status_code == 401
            # a date near year 1 is refused by name, not counted back out of the calendar (was a 500)
            ancient = await client.get("/v1/kpis.csv", params={"to": "0001-01-05"})
            assert ancient.status_code == 422 and ancient.json()["errors"][0]["field"] == "query.to"

            # CSV: the same numbers
            text = (await client.get("/v1/kpis.csv", params=PARAMS)).text
            rows = {(r["scope"], r["period"]): r for r in csv.DictReader(io.StringIO(text))}
            assert int(rows[("network", "total")]["volume.opened"]) == result["network"]["total"]["volume"]["opened"]
            assert rows[("demo-est", "total")]["backlog"] == str(result["offices"]["demo-est"]["total"]["backlog"])

            # metrics: promtool accepts them; business gauges appear once refreshed
            await asyncio.sleep(1.2)
            exposition = (await client.get("/metrics")).text
            check_metrics(exposition)
            assert 'canopee_analytics_backlog{office="demo-nord"}' in exposition
            assert "canopee_analytics_events_total" in exposition
            assert "faststream_received_messages_total" in exposition

        # the dashboard in a real browser: log in with the form, wait until the charts rendered
        async with chromium(1400, 1000) as browser:
            query = f"?from={PARAMS['from']}&to={PARAMS['to']}&period=week"
            await browser.get(f"{base}/dashboard{query}")
            await browser.type("#token", ADMIN_TOKEN)
            await browser.click("#login")
            await browser.get(f"{base}/dashboard{query}")
            ready = await browser.wait_for("return document.body.dataset.chartsReady || null")
            canvases = await browser.script("return document.querySelectorAll('canvas').length")
            assert int(ready) == canvases >= 14
            assert await browser.script("return document.body.getAttribute('data-rendered')") == ready
            # every chart drew pixels (not only an empty canvas)
            inked = await browser.script(
                """return Array.from(document.querySelectorAll('canvas')).map(c => {
                     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                     let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                     return n; })"""
            )
            assert all(n > 500 for n in inked), inked
            assert "Esprit Client" in await browser.script("return document.querySelector('h1').textContent")
            await browser.size(1400, 4200)
            png = await browser.screenshot(ARTIFACTS / "dashboard.png")
            assert png.startswith(b"\x89PNG") and len(png) > 50_000
            await browser.size(390, 2400)  # a phone
            await browser.screenshot(ARTIFACTS / "dashboard-phone.png")


async def test_dashboard_requires_a_token(make_settings, topics) -> None:
    settings = make_settings(AnalyticsSettings)
    async with (
        running(create_app(settings), settings.http_port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as client,
    ):
        page = await client.get("/dashboard")
        assert page.status_code == 200 and 'name="token"' in page.text
        assert (await client.get("/v1/kpis")).status_code == 401
        bad = await client.post("/dashboard/login", data={"token": "wrong-token-wrong"})
        assert bad.status_code == 401
        good = await client.post("/dashboard/login", data={"token": "demo-sud-demo-key"})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        seen = (await client.get("/v1/kpis")).json()  # the cookie jar now carries the session
        assert list(seen["offices"]) == ["demo-sud"]
        assert "chart.umd.min.js" in (await client.get("/dashboard")).text
        client.cookies.set("canopee_analytics_session", "admin.9999999999.forged")
        assert (await client.get("/v1/kpis")).status_code == 401
