"""Feedback on the real Kafka broker and MongoDB-wire store: surveys from request events (once,
also after redelivery), cap, reminder and expiry with a clock moved by hand, the tenant page over
HTTP, SMS replies, office ratings, detractor alerts and their acknowledgement, erasure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.feedback.app import create_app
from services.feedback.settings import FeedbackSettings
from shared.events import CloudEvent, Topics, parse_event
from shared.store import make_client
from shared.web_security import missing_headers
from tests.conftest import ADMIN_TOKEN, free_port
from tests.feedback.support import SECRET, ManualClock, event
from tests.support import kafka as ks
from tests.support.http import running
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NORD = {"Authorization": "Bearer demo-nord-demo-key"}
SUD = {"Authorization": "Bearer demo-sud-demo-key"}


def feedback_settings(make_settings: Any, **overrides: Any) -> FeedbackSettings:
    port = free_port()
    settings: FeedbackSettings = make_settings(
        FeedbackSettings,
        port=port,
        survey_url_base=f"http://127.0.0.1:{port}",
        form_secret=SECRET,
        reminder_seconds=0.1,
        outbox_grace_seconds=5,
        **overrides,
    )
    return settings


@asynccontextmanager
async def service(settings: FeedbackSettings, clock: ManualClock) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, clock=clock)
    async with running(app, settings.http_port) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield app, client


async def topic_events(
    infra: dict[str, str], settings: FeedbackSettings, topic: str, expect: int, settle: float = 0.0
) -> list[CloudEvent]:
    records = await ks.read_topic(infra["kafka"], settings.topic(topic), expect=expect, timeout=20, settle=settle)
    return [parse_event(r.value) for r in records]


def repair(rid: str, tenant: str, at: datetime, office: str = "demo-nord") -> list[CloudEvent]:
    return [
        event("request.opened", rid, at, office, request_id=rid, tenant_ref=tenant),
        event("repair.done", rid, at + timedelta(hours=1), office, request_id=rid),
    ]


def token_of(survey: CloudEvent) -> str:
    url = str(survey.data.url)  # type: ignore[attr-defined]
    return url.rsplit("/s/", 1)[1]


def form_field(html: str) -> str:
    match = re.search(r'name="form" value="([0-9a-f]+)"', html)
    assert match, "the form has its anti-forgery field"
    return match.group(1)


async def test_repair_done_sends_exactly_one_survey_also_after_redelivery(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=2))
    events = repair("REQ-FB-1", "T-1", T0)
    async with service(settings, clock):
        await ks.produce_events(infra["kafka"], topics, events)
        surveys = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1)
        # the same events again (a redelivery) and the request's resolved closing
        closed = event("request.closed", "REQ-FB-1", T0 + timedelta(hours=2), request_id="REQ-FB-1")
        await ks.produce_events(infra["kafka"], topics, [*events, closed])
        # nothing more may arrive: read what is there, then listen a while for extras
        surveys = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1, settle=3.0)
    assert len(surveys) == 1
    survey = surveys[0]
    assert survey.type == "fr.canopee.survey.requested.v1"
    assert survey.data.request_id == "REQ-FB-1" and survey.data.tenant_ref == "T-1"  # type: ignore[attr-defined]
    assert survey.data.reminder is False  # type: ignore[attr-defined]
    assert survey.data.url.startswith(settings.survey_url_base + "/s/")  # type: ignore[attr-defined]
    assert survey.data.expires_at == clock.now + timedelta(days=14)  # type: ignore[attr-defined]
    # the token is stored hashed only
    mongo = make_client(settings.mongo_url)
    try:
        doc = await mongo[settings.database]["surveys"].find_one({"_id": survey.subject})
        assert doc is not None and token_of(survey) not in str(doc)
    finally:
        await mongo.close()


async def test_cap_reminder_expiry_and_consent_with_an_injected_clock(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0)
    withdrawn = [
        event("tenant.consent_changed", "T-NO", T0, tenant_ref="T-NO", channel=ch, granted=False, via="office")
        for ch in ("sms", "email")
    ]
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, withdrawn)
        await ks.produce_events(infra["kafka"], topics, repair("REQ-CAP-1", "T-CAP", T0))
        first = (await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1))[0]
        # six days later: same tenant, another repair → capped; the tenant without consent → nothing
        clock.now = T0 + timedelta(days=2)
        await ks.produce_events(
            infra["kafka"], topics, repair("REQ-CAP-2", "T-CAP", T0) + repair("REQ-NO-1", "T-NO", T0)
        )
        await eventually(lambda: _metric(client, 'outcome="capped"} 1.0', 'outcome="no_consent"} 1.0'))
        # three days without an answer → one reminder (the sweep runs every 0.1 s)
        clock.now = T0 + timedelta(days=3, minutes=1)
        got = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2, settle=1.5)
        assert len(got) == 2, [(e.data.request_id, e.data.reminder) for e in got]  # type: ignore[attr-defined]
        reminder = got[1]
        assert reminder.subject == first.subject and reminder.data.reminder is True  # type: ignore[attr-defined]
        # the reminder carries a fresh link to the same survey (tokens are only stored hashed)
        assert reminder.data.url != first.data.url  # type: ignore[attr-defined]
        assert (await client.get(f"/s/{token_of(reminder)}")).status_code == 200
        # eight days after the first: the cap is over, a new repair gets its survey
        clock.now = T0 + timedelta(days=8)
        await ks.produce_events(infra["kafka"], topics, repair("REQ-CAP-3", "T-CAP", clock.now))
        got = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=3, settle=1.0)
        assert [e.data.request_id for e in got] == ["REQ-CAP-1", "REQ-CAP-1", "REQ-CAP-3"]  # type: ignore[attr-defined]
        assert "T-NO" not in {e.data.tenant_ref for e in got}  # type: ignore[attr-defined]
        # the link works until 14 days, then answers exactly like an unknown link
        token = token_of(first)
        assert (await client.get(f"/s/{token}")).status_code == 200
        clock.now = T0 + timedelta(days=14, seconds=1)
        expired = await client.get(f"/s/{token}")
        unknown = await client.get("/s/" + "A" * 43)
        assert expired.status_code == unknown.status_code == 404
        assert expired.text == unknown.text and "plus valable" in expired.text
        metrics = (await client.get("/metrics")).text
        assert 'canopee_feedback_surveys_total{office="demo-nord",outcome="capped"} 1.0' in metrics
        assert 'canopee_feedback_surveys_total{office="demo-nord",outcome="no_consent"} 1.0' in metrics
        assert 'canopee_feedback_reminders_total{office="demo-nord"} 1.0' in metrics


async def test_tenant_page_answer_once_and_refuse_forged_posts(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=2))
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, repair("REQ-WEB-1", "T-WEB", T0))
        survey = (await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1))[0]
        token = token_of(survey)
        form = await client.get(f"/s/{token}")
        assert form.status_code == 200 and 'lang="fr"' in form.text
        field = form_field(form.text)
        answer = {"form": field, "score": "4", "nps": "9", "comment": "Très rapide, merci"}
        # another site's form, and a post without the form's field, are refused
        forged = await client.post(f"/s/{token}", data=answer, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
        assert (await client.post(f"/s/{token}", data={"score": "4"})).status_code == 403
        # the form's field is bound to the page's SameSite=Strict cookie: a post without it is refused
        cookie = form.headers["set-cookie"].lower()
        assert "samesite=strict" in cookie and "httponly" in cookie
        async with httpx.AsyncClient(base_url=str(client.base_url)) as stranger:
            assert (await stranger.post(f"/s/{token}", data=answer)).status_code == 403
        # a missing score shows the form again
        assert (await client.post(f"/s/{token}", data={"form": field})).status_code == 422
        own = {"Origin": settings.survey_url_base}
        thanks = await client.post(f"/s/{token}", data=answer, headers=own)
        assert thanks.status_code == 200 and "Merci pour votre avis" in thanks.text
        again = await client.post(f"/s/{token}", data=answer | {"score": "1"}, headers=own)
        assert again.status_code == 200 and "déjà répondu" in again.text
        assert "déjà répondu" in (await client.get(f"/s/{token}")).text
        ratings = await topic_events(infra, settings, Topics.FEEDBACK_RATINGS, expect=1, settle=1.5)
        assert len(ratings) == 1
        rated = ratings[0].data
        assert (rated.survey_id, rated.score, rated.nps, rated.channel.value) == (  # type: ignore[attr-defined]
            survey.subject,
            4,
            9,
            "web",
        )
        # the consumer saw our own event and recorded nothing more: still one answer, no alert
        alerts = await client.get("/v1/alerts", headers=ADMIN)
        assert alerts.json() == []
        metrics = (await client.get("/metrics")).text
        assert 'canopee_feedback_answers_total{channel="web",office="demo-nord",score="4"} 1.0' in metrics
        assert 'score="1"' not in metrics
        # every tenant page, whatever its outcome, carries the strict headers
        unknown = await client.get("/s/no-such-token")
        pages = [form, forged, thanks, again, unknown, await client.post("/s/no-such-token", data=answer)]
        for response in pages:
            assert response.headers["content-type"].startswith("text/html"), response.status_code
            assert missing_headers(response.headers) == [], (response.request.url, response.status_code)
            assert "<script" not in response.text.lower()


async def test_sms_replies_office_ratings_alerts_ack_and_erasure(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=2))
    async with service(settings, clock) as (_, client):
        await ks.produce_events(
            infra["kafka"], topics, repair("REQ-SMS-1", "T-S1", T0) + repair("REQ-SMS-2", "T-S2", T0)
        )
        surveys = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2)
        by_tenant = {e.data.tenant_ref: e.subject for e in surveys}  # type: ignore[attr-defined]
        replies = [
            event("sms.replied", "T-S1", T0, tenant_ref="T-S1", text="4 merci, rapide"),
            event("sms.replied", "T-S2", T0, tenant_ref="T-S2", text="merci"),
            # an office rating without a survey, score 1, with personal data in the comment
            event(
                "satisfaction.rated",
                "REQ-OFF-9",
                T0,
                request_id="REQ-OFF-9",
                survey_id=None,
                tenant_ref="T-S3",
                score=1,
                nps=None,
                comment="Inadmissible, rappelez-moi au 06 12 34 56 78 ou t3@example.org",
                channel="phone",
            ),
        ]
        await ks.produce_events(infra["kafka"], topics, replies)
        ratings = await topic_events(infra, settings, Topics.FEEDBACK_RATINGS, expect=2, settle=1.0)
        ours = [r for r in ratings if r.source == "/services/feedback"]
        assert len(ours) == 1
        assert ours[0].data.survey_id == by_tenant["T-S1"] and ours[0].data.score == 4  # type: ignore[attr-defined]
        assert ours[0].data.channel.value == "sms"  # type: ignore[attr-defined]
        # the score-1 rating raised one alert, its comment redacted
        alerts = (await eventually(lambda: _alerts(client, NORD))).json()
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert["request_id"] == "REQ-OFF-9" and alert["score"] == 1
        assert "06 12" not in alert["comment"] and "example.org" not in alert["comment"]
        # the follow-up is due 48 hours after the tenant rated (the event's time), not after we read it
        due = datetime.fromisoformat(alert["follow_up_due_at"])
        assert due == T0 + timedelta(hours=48) and alert["historical"] is False
        events = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=3)
        assert [e.type for e in events].count("fr.canopee.feedback.detractor_alert.v1") == 1
        # another office cannot see or acknowledge it; its own office closes it
        assert (await client.get("/v1/alerts", headers=SUD)).json() == []
        assert (await client.get("/v1/alerts?office=demo-nord", headers=SUD)).status_code == 403
        refused = await client.post(f"/v1/alerts/{alert['id']}/ack", headers=SUD)
        assert refused.status_code == 404
        assert (await client.post(f"/v1/alerts/{alert['id']}/ack")).status_code == 401
        acked = await client.post(f"/v1/alerts/{alert['id']}/ack", headers=NORD)
        assert acked.status_code == 200 and acked.json()["open"] is False
        assert (await client.get("/v1/alerts?open=true", headers=NORD)).json() == []
        closed = (await client.get("/v1/alerts?open=false", headers=ADMIN)).json()
        assert [a["id"] for a in closed] == [alert["id"]]
        # the unparsed SMS is kept, not counted
        mongo = make_client(settings.mongo_url)
        try:
            db = mongo[settings.database]
            unparsed = await db["unparsed_replies"].find_one({"tenant_ref": "T-S2"})
            assert unparsed is not None and unparsed["reason"] == "no_score"
            assert await db["answers"].count_documents({}) == 2
            # erasure: personal data gone, scores kept
            await ks.produce_events(infra["kafka"], topics, [event("tenant.erased", "T-S3", T0, tenant_ref="T-S3")])

            async def erased() -> bool:
                return await db["answers"].count_documents({"tenant_ref": "T-S3"}) == 0

            await eventually(erased)
            answer = await db["answers"].find_one({"request_id": "REQ-OFF-9"})
            assert answer is not None and answer["score"] == 1 and answer["comment"] is None
            stored_alert = await db["alerts"].find_one({"_id": alert["id"]})
            assert stored_alert is not None and stored_alert["comment"] is None
        finally:
            await mongo.close()


async def _alerts(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response | None:
    response = await client.get("/v1/alerts", headers=headers)
    return response if response.status_code == 200 and response.json() else None


async def _metric(client: httpx.AsyncClient, *needles: str) -> bool:
    text = (await client.get("/metrics")).text
    return all(needle in text for needle in needles)


async def test_two_instances_send_one_survey_and_one_reminder(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    first = feedback_settings(make_settings)
    second = first.model_copy(update={"port": free_port()})
    clock = ManualClock(T0)
    async with service(first, clock), service(second, clock):
        await ks.produce_events(
            infra["kafka"], topics, repair("REQ-TWO-1", "T-TWO", T0) + repair("REQ-TWO-2", "T-TWO", T0)
        )
        got = await topic_events(infra, first, Topics.FEEDBACK_SURVEYS, expect=1, settle=1.0)
        assert len(got) == 1  # one tenant, two requests: the cap holds across instances
        # both sweeps run every 0.1 s on the same store: the reminder is claimed once
        clock.now = T0 + timedelta(days=3, minutes=1)
        got = await topic_events(infra, first, Topics.FEEDBACK_SURVEYS, expect=2, settle=1.5)
    assert [e.data.reminder for e in got] == [False, True]  # type: ignore[attr-defined]
