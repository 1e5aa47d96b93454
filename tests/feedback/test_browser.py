"""A real browser answers a survey: headless Chromium opens the link on a phone-sized window,
chooses a score with the keyboard-accessible radio group, writes a comment, sends the form and
sees the thanks page. Screenshots are kept in artifacts/feedback/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.feedback.app import create_app
from shared.events import Topics, parse_event
from tests.feedback.support import ManualClock, event
from tests.feedback.test_integration import feedback_settings
from tests.support import kafka as ks
from tests.support.analytics_browser import chromium
from tests.support.http import running

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "feedback"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


async def test_a_tenant_answers_the_survey_in_a_real_browser(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=2))
    app = create_app(settings, clock=clock)
    rid = "REQ-BROWSER-1"
    async with running(app, settings.http_port):
        await ks.produce_events(
            infra["kafka"],
            topics,
            [
                event("request.opened", rid, T0, request_id=rid, tenant_ref="T-BR"),
                event("repair.done", rid, T0 + timedelta(hours=1), request_id=rid),
            ],
        )
        records = await ks.read_topic(infra["kafka"], settings.topic(Topics.FEEDBACK_SURVEYS), expect=1)
        url = str(parse_event(records[0].value).data.url)  # type: ignore[attr-defined]
        async with chromium(width=412, height=915) as browser:
            await browser.get(url)
            assert await browser.script("return document.documentElement.lang") == "fr"
            await browser.screenshot(ARTIFACTS / "survey.png")
            await browser.click('label:has(input[name="score"][value="4"])')
            await browser.click('label:has(input[name="nps"][value="9"])')
            await browser.type("#comment", "Intervention rapide, merci")
            await browser.click('button[type="submit"]')
            heading = await browser.wait_for(
                "const h = document.querySelector('h1'); return h && h.textContent.includes('Merci') && h.textContent"
            )
            assert "Merci pour votre avis" in heading
            png = await browser.screenshot(ARTIFACTS / "thanks.png")
            assert png.startswith(b"\x89PNG")
            # the same link again: already answered
            await browser.get(url)
            assert "déjà répondu" in await browser.script("return document.body.textContent")
        ratings = await ks.read_topic(infra["kafka"], settings.topic(Topics.FEEDBACK_RATINGS), expect=1)
        rated = parse_event(ratings[0].value).data
        assert (rated.score, rated.nps, rated.channel.value) == (4, 9, "web")  # type: ignore[attr-defined]
        assert rated.comment == "Intervention rapide, merci"  # type: ignore[attr-defined]
