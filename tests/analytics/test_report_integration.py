"""Contractors and the monthly report through the real Kafka and FerretDB: a generated history,
delivered shuffled and partly duplicated, gives the contractor figures the generation plan
expects (``/v1/kpis?by=contractor``); the monthly PDF of an office and of the network carries the
numbers of ``/v1/kpis`` (text extracted with pdftotext), its pages are rendered to PNG (pdftoppm)
in artifacts/analytics/report/, ``canopee report`` writes the same report, and the contractors
page ranks them in a headless Chromium."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.analytics.app import create_app
from services.analytics.domain.report import fr
from services.analytics.settings import AnalyticsSettings
from tests.analytics.unit.test_contractors import check
from tests.conftest import ADMIN_TOKEN
from tests.support.analytics_browser import chromium
from tests.support.contractor_dataset import expected, generate
from tests.support.http import running
from tests.support.kafka import produce_events
from tests.support.pdf import pdf_text

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "analytics" / "report"
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
MONTH = (date(2026, 3, 1), date(2026, 3, 31))
MONTH_PARAMS = {"from": "2026-03-01", "to": "2026-03-31", "period": "month"}


async def wait_for_contractors(client: httpx.AsyncClient, history: Any, timeout: float = 240) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    params = {"from": "2026-03-01", "to": "2026-03-31", "by": "contractor"}
    while True:
        result = (await client.get("/v1/kpis", params=params)).json()
        try:
            check(result["network"], expected(history, *MONTH, None))
            return dict(result)
        except (AssertionError, KeyError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


def row(text: str, label: str) -> list[str]:
    """The values after ``label`` on its line of the extracted text."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label) :].split()
    raise AssertionError(f"{label!r} not in the report")


async def test_contractors_and_monthly_report_on_real_infrastructure(
    make_settings: Any, topics: str, infra: Any
) -> None:
    history = generate(OFFICES, MONTH[0], per_office=90, seed=21, prefix="rp")
    events = history.cloud_events()
    rnd = random.Random(5)
    delivered = events + rnd.sample(events, len(events) // 4)
    rnd.shuffle(delivered)
    settings = make_settings(AnalyticsSettings, contractor_min_repairs=6)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with running(create_app(settings), settings.http_port) as base:
        await produce_events(infra["kafka"], topics, delivered)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=admin, timeout=120) as client:
            contractors = await wait_for_contractors(client, history)
            for office in OFFICES:
                check(contractors["offices"][office], expected(history, *MONTH, office))
            csv_text = (await client.get("/v1/kpis.csv", params={**MONTH_PARAMS, "by": "contractor"})).text
            assert csv_text.startswith("scope,contractor,from,to,name,repairs")

            # the office's report carries /v1/kpis' numbers for the month, the month before and a year before
            response = await client.get("/v1/reports/monthly", params={"month": "2026-03", "office": "demo-nord"})
            assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
            office_pdf = ARTIFACTS / "rapport-demo-nord-2026-03.pdf"
            office_pdf.write_bytes(response.content)
            text = pdf_text(office_pdf)
            kpis = [
                (await client.get("/v1/kpis", params={"from": a, "to": b, "period": "month"})).json()
                for a, b in (("2026-03-01", "2026-03-31"), ("2026-02-01", "2026-02-28"), ("2025-03-01", "2025-03-31"))
            ]
            totals = [k["offices"]["demo-nord"]["total"] for k in kpis]
            daily_kpis = (
                await client.get("/v1/kpis", params={**MONTH_PARAMS, "period": "day", "office": "demo-nord"})
            ).json()
            assert "Rapport mensuel — Office démo Nord — mars 2026" in text
            assert row(text, "Demandes ouvertes") == [fr(t["volume"]["opened"]) for t in totals]
            assert row(text, "Demandes pour 1 000 logements") == [fr(t["per_1000_homes"]["opened"]) for t in totals]
            assert row(text, "Satisfaits (%)") == [fr(t["csat"]["pct"]) for t in totals]
            assert row(text, "Urgences dans les délais (%)") == [
                fr(t["within_target"]["emergency"]["pct"]) for t in totals
            ]
            assert row(text, "Réparation, délai médian (h)") == [
                fr(t["repair_time"]["all"]["median_hours"]) for t in totals
            ]
            assert totals[0]["volume"]["opened"] > 0 and totals[1]["volume"]["opened"] > 0
            for cid, c in contractors["offices"]["demo-nord"]["contractors"].items():
                assert c["name"] in text, cid
            assert "Paroles de locataires" in text and "Non disponible" in text
            pages = int(
                subprocess.run(["pdfinfo", str(office_pdf)], capture_output=True, text=True, check=True)
                .stdout.split("Pages:")[1]
                .split()[0]
            )
            assert 3 <= pages <= 6

            # the network's report, with the offices side by side per 1,000 homes (admin only)
            nord = {"Authorization": "Bearer demo-nord-demo-key"}
            assert (
                await client.get("/v1/reports/monthly", params={"month": "2026-03"}, headers=nord)
            ).status_code == 403
            assert (await client.get("/v1/reports/monthly", params={"month": "2026-13"})).status_code == 422
            network = await client.get("/v1/reports/monthly", params={"month": "2026-03"})
            network_pdf = ARTIFACTS / "rapport-reseau-2026-03.pdf"
            network_pdf.write_bytes(network.content)
            net_text = pdf_text(network_pdf)
            assert row(net_text, "Demandes ouvertes") == [fr(k["network"]["total"]["volume"]["opened"]) for k in kpis]
            for name, total in (("Office démo Est", kpis[0]["offices"]["demo-est"]["total"]),):
                assert row(net_text, name)[:2] == [fr(total["volume"]["opened"]), fr(total["per_1000_homes"]["opened"])]
            for pdf in (office_pdf, network_pdf):
                subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(pdf.with_suffix(""))], check=True)
            pngs = sorted(ARTIFACTS.glob("rapport-demo-nord-2026-03-*.png"))
            assert len(pngs) == pages and all(p.stat().st_size > 5_000 for p in pngs)

            # the CLI writes the same report from the store
            out = ARTIFACTS / "cli-demo-nord-2026-03.pdf"
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "CANOPEE_MONGO_URL": settings.mongo_url,
                "CANOPEE_ANALYTICS_MONGO_DB": settings.database,
                "CANOPEE_ANALYTICS_CONTRACTOR_MIN_REPAIRS": "6",
            }
            done = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "tools.cli",
                    "report",
                    "--office",
                    "demo-nord",
                    "--month",
                    "2026-03",
                    "-o",
                    str(out),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, done.stderr
            assert pdf_text(out) == text

        # the contractors page in a real browser
        async with chromium(1400, 1000) as browser:
            query = "?from=2026-03-01&to=2026-03-31"
            await browser.get(f"{base}/dashboard/contractors{query}")
            await browser.type("#token", ADMIN_TOKEN)
            await browser.click("#login")
            await browser.get(f"{base}/dashboard/contractors{query}")
            # the page asks the same figures as the API above; a loaded CI machine needs more than 20 s
            ready = await browser.wait_for("return document.body.dataset.ready || null", timeout=60)
            network = contractors["network"]["contractors"]
            assert int(ready) == len(network)
            first = await browser.script(
                "return document.querySelector('#ranking tr[data-contractor]').dataset.contractor"
            )
            assert network[first]["rank"] == 1
            cells = await browser.script(
                "return Array.from(document.querySelector('#ranking tr[data-contractor]').cells).map(c => c.innerText)"
            )
            assert cells[2] == str(network[first]["repairs"])
            assert f"(n = {network[first]['within_target']['all']['repairs']})" in cells[3]
            await browser.size(1400, 900)
            png = await browser.screenshot(ARTIFACTS / "contractors.png")
            assert png.startswith(b"\x89PNG")

            # the dashboard for one office, by day: every chart has its figures in a table under it
            await browser.get(f"{base}/dashboard?from=2026-03-01&to=2026-03-31&period=day&office=demo-nord")
            ready = await browser.wait_for("return document.body.dataset.chartsReady || null")
            tables = await browser.script(
                "return Array.from(document.querySelectorAll('canvas')).map(c => "
                "c.parentElement.querySelectorAll('details.chart-data table tr').length)"
            )
            assert len(tables) == int(ready) and all(n >= 2 for n in tables), tables
            volume = await browser.script(
                "return Array.from(document.querySelectorAll('#chart-volume ~ details tr')).slice(1)"
                ".map(r => Array.from(r.cells).map(c => c.textContent))"
            )
            daily = daily_kpis["offices"]["demo-nord"]["periods"]
            assert [r[0] for r in volume] == [p["period"] for p in daily]
            assert [r[1:] for r in volume] == [[str(p["volume"]["opened"])] for p in daily]  # one office alone
            await browser.size(1400, 4200)
            await browser.screenshot(ARTIFACTS / "dashboard-one-office-by-day.png")
