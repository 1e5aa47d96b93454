"""Analytics' rules on the real Kafka and MongoDB-wire store: an offices file with an
Alsace-Moselle office (26 December is not a working day), transfers answered in time and
interventions closed without a repair, delivered shuffled and partly twice, give exactly the
figures of live delivery."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.analytics.app import create_app
from services.analytics.settings import AnalyticsSettings
from tests.analytics.unit.test_rules import OFFICE_IDS, christmas, indicators, interventions, transfers
from tests.conftest import ADMIN_TOKEN
from tests.support.analytics_rules import OFFICES_TOML
from tests.support.http import running
from tests.support.kafka import produce_events

pytestmark = pytest.mark.integration

START, END = date(2025, 12, 1), date(2026, 2, 28)


def without_comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The API's figures less the per-1,000-homes and complaints blocks it adds around the
    rules' indicators (tested in tests/analytics/unit/test_comparable.py)."""
    for scope in [result["network"], *result["offices"].values()]:
        for row in [*scope["periods"], scope["total"]]:
            row.pop("per_1000_homes", None)
            row.pop("complaints", None)
    return result


async def test_moselle_calendar_and_exact_rules_through_kafka_and_the_store(
    make_settings: Any, topics: str, infra: dict[str, str], tmp_path: Path
) -> None:
    history = transfers() + interventions() + christmas()
    live = await indicators(sorted(history, key=lambda e: (e.time, e.id)), START, END, batch=1)
    offices = tmp_path / "offices.toml"
    offices.write_text(OFFICES_TOML, encoding="utf-8")
    settings = make_settings(AnalyticsSettings, offices_file=offices, gauge_seconds=0.5)
    rnd = random.Random(5)
    replayed = history + rnd.sample(history, len(history) // 3)
    rnd.shuffle(replayed)
    params = {"from": START.isoformat(), "to": END.isoformat(), "period": "month"}
    async with running(create_app(settings), settings.http_port) as base:
        await produce_events(infra["kafka"], topics, replayed)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as client:
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                result = without_comparable((await client.get("/v1/kpis", params=params)).json())
                assert result.pop("office_names") == {
                    "demo-lille": "Office démo Lille",
                    "demo-metz": "Office démo Metz",
                }
                if result == live or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.5)
    totals = {office: result["offices"][office]["total"] for office in OFFICE_IDS}
    assert totals["demo-metz"]["within_target"]["non_emergency"] == {"repairs": 1, "within": 1, "pct": 100.0}
    assert totals["demo-lille"]["within_target"]["non_emergency"] == {"repairs": 1, "within": 0, "pct": 0.0}
    assert totals["demo-lille"]["within_target"]["emergency"] == {"repairs": 2, "within": 1, "pct": 50.0}
    assert totals["demo-lille"]["transfer_answered_in_time"] == {"requests": 4, "in_time": 2, "pct": 50.0}
    assert result == live
