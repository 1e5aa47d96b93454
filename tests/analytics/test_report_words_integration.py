"""Tenants' words in the monthly report, with a real feedback service and a real analytics service
(real Kafka and FerretDB): feedback holds a few voice entries; ``GET /v1/reports/monthly`` draws a
PDF whose text (pdftotext) quotes the office's words of the month, masked, and none of another
office or month; with feedback's admin token the network's report has every office's words; a
token feedback refuses for the network, or feedback stopped, leaves the report whole, saying the
words could not be read; analytics' database holds none of the words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.feedback.app import create_app as feedback_app
from services.feedback.domain.voice import VoiceEntry, VoiceKind, VoiceStatus, voice_entry
from services.feedback.store import FeedbackMongoStore
from shared.store import make_client
from tests.conftest import ADMIN_TOKEN
from tests.feedback.test_integration import feedback_settings
from tests.support.http import running
from tests.support.pdf import pdf_text

pytestmark = pytest.mark.integration

NORD_KEY = "demo-nord-demo-key"
PHONE, EMAIL = "06 12 34 56 78", "jeanne.martin@example.org"


def seeded() -> list[VoiceEntry]:
    masked_by_feedback = voice_entry(
        "ans-1",
        office="demo-nord",
        tenant_ref="T-NORD-1",
        kind=VoiceKind.SURVEY,
        channel="web",
        text=f"Technicien très poli, joignable au {PHONE}",
        at=datetime(2026, 3, 20, 10, tzinfo=UTC),
        score=5,
    )
    # as if feedback had kept it unmasked: analytics masks the words again
    raw = VoiceEntry(
        id="VOX-raw",
        office="demo-nord",
        tenant_ref="T-NORD-2",
        kind=VoiceKind.SMS,
        channel="sms",
        text=f"Toujours la fuite, écrivez à {EMAIL} ou au {PHONE}",
        at=datetime(2026, 3, 25, 18, tzinfo=UTC),
        status=VoiceStatus.HANDLED,
        handled_at=datetime(2026, 3, 26, 9, tzinfo=UTC),
        action="rappel fait",
    )
    other_office = voice_entry(
        "ans-2",
        office="demo-sud",
        tenant_ref="T-SUD-1",
        kind=VoiceKind.SMS,
        channel="sms",
        text="Parole du sud",
        at=datetime(2026, 3, 21, 10, tzinfo=UTC),
    )
    other_month = voice_entry(
        "ans-3",
        office="demo-nord",
        tenant_ref="T-NORD-3",
        kind=VoiceKind.SMS,
        channel="sms",
        text="Parole d'avril",
        at=datetime(2026, 4, 2, 10, tzinfo=UTC),
    )
    return [masked_by_feedback, raw, other_office, other_month]


async def report_text(client: httpx.AsyncClient, tmp_path: Path, **params: str) -> str:
    response = await client.get("/v1/reports/monthly", params={"month": "2026-03", **params})
    assert response.status_code == 200, response.text
    pdf = tmp_path / f"rapport-{params.get('office', 'reseau')}.pdf"
    pdf.write_bytes(response.content)
    return " ".join(pdf_text(pdf).split())


async def test_the_report_quotes_the_month_words_from_feedback_masked(
    make_settings: Any, topics: str, infra: Any, tmp_path: Path
) -> None:
    fb_settings = feedback_settings(make_settings)
    client = make_client(fb_settings.mongo_url)
    try:
        store = FeedbackMongoStore(client[fb_settings.database])
        for entry in seeded():
            assert await store.add_voice(entry)
    finally:
        await client.close()
    async with running(feedback_app(fb_settings), fb_settings.http_port) as feedback_url:
        # the office's key: its own words only; feedback refuses it the other offices' (the network's)
        settings = make_settings(AnalyticsSettings, feedback_url=feedback_url, feedback_token=NORD_KEY)
        async with (
            running(analytics_app(settings), settings.http_port) as base,
            httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120
            ) as analytics,
        ):
            text = await report_text(analytics, tmp_path, office="demo-nord")
            assert "2 paroles de locataires reçues ce mois, dont 1 traitée." in text
            assert "Technicien très poli, joignable au [téléphone masqué]" in text
            assert "Toujours la fuite, écrivez à [e-mail masqué] ou au [téléphone masqué]" in text
            assert PHONE not in text and EMAIL not in text and "T-NORD" not in text
            assert "Parole du sud" not in text and "Parole d'avril" not in text
            assert "Non disponible" not in text

            network = await report_text(analytics, tmp_path)
            assert "n'ont pas pu être lues dans le service des enquêtes" in network
            assert "Alertes en retard" in network and "Technicien" not in network

        # the admin token: every office's words in the network's report
        admin_settings = make_settings(AnalyticsSettings, feedback_url=feedback_url, feedback_token=ADMIN_TOKEN)
        async with (
            running(analytics_app(admin_settings), admin_settings.http_port) as base,
            httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120
            ) as analytics,
        ):
            network = await report_text(analytics, tmp_path)
            assert "3 paroles de locataires reçues ce mois, dont 1 traitée." in network
            assert "Parole du sud" in network and "Parole d'avril" not in network
            assert PHONE not in network and EMAIL not in network

    # feedback stopped: the report is still drawn and says the words could not be read
    async with (
        running(analytics_app(admin_settings), admin_settings.http_port) as base,
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120) as analytics,
    ):
        down = await report_text(analytics, tmp_path, office="demo-nord")
        assert "n'ont pas pu être lues dans le service des enquêtes" in down and "Technicien" not in down

    # nothing of the words was kept by analytics
    for kept in (settings, admin_settings):
        client = make_client(kept.mongo_url)
        try:
            db = client[kept.database]
            for name in await db.list_collection_names():
                async for doc in db[name].find({}):
                    dumped = repr(doc)
                    assert "Technicien" not in dumped and "fuite" not in dumped, name
        finally:
            await client.close()
