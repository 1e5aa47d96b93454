"""The closed loop and the tenants' words on the real Kafka broker and MongoDB-wire store: a score-1
answer raises an alert, its acknowledgement through the API publishes ``feedback.alert_acknowledged``
once and analytics counts the loop closed (100 %); an alert left alone past 48 hours (injected
clock) publishes one ``feedback.alert_overdue`` and notifications e-mails the office's managers once
(real SMTP on loopback); a free-text SMS reply and a comment are listed for their office only, can be
marked handled, and are erased with the tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from shared.events import CloudEvent, Topics, derived_id, full_type
from shared.store import make_client
from tests.conftest import ADMIN_TOKEN, free_port
from tests.feedback.support import ManualClock, event
from tests.feedback.test_integration import NORD, SUD, feedback_settings, service, topic_events
from tests.support import kafka as ks
from tests.support.http import running
from tests.support.notifications_fakes import SmtpCatcher
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ACK = full_type("feedback.alert_acknowledged")
OVERDUE = full_type("feedback.alert_overdue")
DETRACTOR = full_type("feedback.detractor_alert")


def rating(survey: str, request: str, tenant: str, at: datetime, score: int, comment: str | None = None) -> CloudEvent:
    data: dict[str, Any] = {"survey_id": survey, "request_id": request, "tenant_ref": tenant, "score": score}
    data["channel"] = "web"
    if comment is not None:
        data["comment"] = comment
    return event("satisfaction.rated", survey, at, **data)


async def one_alert(client: httpx.AsyncClient) -> dict[str, Any]:
    async def listed() -> list[dict[str, Any]] | None:
        alerts = (await client.get("/v1/alerts", headers=NORD)).json()
        return alerts or None

    alerts = await eventually(listed, timeout=60)
    assert len(alerts) == 1
    return dict(alerts[0])


def of(events: list[CloudEvent], kind: str) -> list[CloudEvent]:
    """The distinct events of a type (the outbox publishes at least once: consumers dedupe by id)."""
    return list({e.id: e for e in events if e.type == kind}.values())


async def test_an_acknowledged_alert_is_on_the_bus_once_and_closes_the_loop_in_analytics(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=1))
    analytics = make_settings(AnalyticsSettings, gauge_seconds=0.5)
    async with running(analytics_app(analytics), analytics.http_port) as analytics_url:
        async with service(settings, clock) as (_, client):
            await ks.produce_events(infra["kafka"], topics, [rating("S-CL-1", "REQ-CL-1", "T-CL-1", T0, 1, "Nul")])
            alert = await one_alert(client)
            assert alert["score"] == 1 and alert["open"] is True
            clock.now = T0 + timedelta(hours=5)
            action = {"action": "Rappelée au 06 12 34 56 78, plombier repasse lundi"}
            acked = await client.post(f"/v1/alerts/{alert['id']}/ack", json=action, headers=NORD)
            assert acked.status_code == 200, acked.text
            assert acked.json()["open"] is False
            # a second acknowledgement (a double click) changes nothing and publishes nothing
            again = await client.post(f"/v1/alerts/{alert['id']}/ack", json={"action": "autre"}, headers=NORD)
            assert again.status_code == 200 and again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]
            # another office's token does not see it
            assert (await client.post(f"/v1/alerts/{alert['id']}/ack", headers=SUD)).status_code == 404
            too_long = await client.post(f"/v1/alerts/{alert['id']}/ack", json={"action": "a" * 301}, headers=NORD)
            assert too_long.status_code == 422
            assert too_long.headers["content-type"].startswith("application/problem+json")
            events = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2, settle=2.0)
        [raised] = of(events, DETRACTOR)
        [ack] = of(events, ACK)
        assert ack.subject == "S-CL-1" and ack.officeid == "demo-nord"
        assert ack.data.alert_id == raised.id  # type: ignore[attr-defined]
        assert ack.data.within_deadline is True  # type: ignore[attr-defined]
        assert ack.data.acknowledged_at == T0 + timedelta(hours=5)  # type: ignore[attr-defined]
        assert "06 12 34 56 78" not in ack.data.action  # type: ignore[attr-defined]
        assert "plombier repasse lundi" in ack.data.action  # type: ignore[attr-defined]
        assert ack.id == derived_id(ACK, alert["id"], "acknowledged")
        # analytics: one alert raised on 26 November, acknowledged within 48 hours: 100 %
        params = {"from": "2026-11-01", "to": "2026-11-30", "period": "month", "office": "demo-nord"}
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=analytics_url, headers=admin, timeout=10) as kpis:

            async def closed() -> dict[str, Any] | None:
                loop = (await kpis.get("/v1/kpis", params=params)).json()["offices"]["demo-nord"]["total"]
                loop = loop["closed_loop"]
                return dict(loop) if loop["due"] == 1 else None

            loop = await eventually(closed, timeout=30)
    assert loop == {"alerts": 1, "due": 1, "acknowledged_within_48h": 1, "acknowledged_within_48h_pct": 100.0}


async def test_an_alert_left_alone_is_overdue_once_and_the_managers_get_one_e_mail(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(minutes=5))
    smtp = SmtpCatcher(free_port())
    smtp.start()
    notifications = make_settings(
        NotificationsSettings,
        smtp_port=smtp.port,
        dispatch_seconds=0.2,
        sweep_seconds=0.2,
        webhook_secret="webhook-secret-0123456789",
    )
    try:
        async with (
            service(settings, clock) as (_, client),
            running(notifications_app(notifications, clock=clock), notifications.http_port),
        ):
            await ks.produce_events(infra["kafka"], topics, [rating("S-OD-1", "REQ-OD-1", "T-OD-1", T0, 2, "Bof")])
            alert = await one_alert(client)
            # the detractor alert itself: score 2 waits for the managers' digest, not at once
            await asyncio.sleep(1.0)
            assert [e for e in await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1)]
            clock.now = T0 + timedelta(hours=47, minutes=59)
            await asyncio.sleep(1.0)  # a few sweeps before the deadline: nothing
            clock.now = T0 + timedelta(hours=48, minutes=1)
            await eventually(lambda: any("dépassé" in str(m["Subject"]) for m in smtp.messages) or None, timeout=30)
            await asyncio.sleep(1.5)  # more sweeps: still one event, one e-mail
            events = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2, settle=1.0)
            listed = (await client.get("/v1/alerts", headers=NORD)).json()
    finally:
        smtp.stop()
    [overdue] = of(events, OVERDUE)
    [raised] = of(events, DETRACTOR)
    assert overdue.data.alert_id == raised.id  # type: ignore[attr-defined]
    assert overdue.time == T0 + timedelta(hours=48)
    assert overdue.data.follow_up_due_at == T0 + timedelta(hours=48)  # type: ignore[attr-defined]
    assert [a["id"] for a in listed] == [alert["id"]]  # still open: overdue is not acknowledged
    overdue_mails = [m for m in smtp.messages if "dépassé" in str(m["Subject"])]
    assert len(overdue_mails) == 1
    assert overdue_mails[0]["To"] == "direction@demo-nord.example.org"
    body = overdue_mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "REQ-OD-1" in body and "48 heures" in body


async def test_tenants_words_are_listed_for_their_office_handled_and_erased(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0 + timedelta(hours=3))
    opened = event(
        "request.opened", "REQ-VX-1", T0, request_id="REQ-VX-1", tenant_ref="T-VX-1", category="heating_hot_water"
    )
    reply = event(
        "sms.replied",
        "T-VX-1",
        T0 + timedelta(hours=1),
        tenant_ref="T-VX-1",
        text="Pour req-vx-1 toujours pas d'eau chaude, appelez le 06 12 34 56 78 ou moi@example.org",
    )
    comment = rating("S-VX-2", "REQ-VX-2", "T-VX-2", T0 + timedelta(hours=2), 4, "Technicien très poli")
    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, [opened])
        mongo = make_client(settings.mongo_url)
        try:  # the request is known before the reply names it
            requests = mongo[settings.database]["requests"]
            await eventually(
                lambda: requests.find_one({"_id": "demo-nord|REQ-VX-1", "category": {"$exists": True}}), 60
            )
        finally:
            await mongo.close()
        await ks.produce_events(infra["kafka"], topics, [reply, comment])

        async def both() -> list[dict[str, Any]] | None:
            found = (await client.get("/v1/voice", headers=NORD)).json()
            return found if len(found) == 2 else None

        words = await eventually(both, timeout=60)
        sms, rated = words[1], words[0]  # newest first
        assert sms["kind"] == "sms" and sms["channel"] == "sms" and sms["office"] == "demo-nord"
        assert sms["request_id"] == "REQ-VX-1" and sms["category"] == "heating_hot_water"
        assert "06 12 34 56 78" not in sms["text"] and "moi@example.org" not in sms["text"]
        assert "[téléphone masqué]" in sms["text"] and "[e-mail masqué]" in sms["text"]
        assert rated["kind"] == "survey" and rated["score"] == 4 and rated["text"] == "Technicien très poli"
        assert rated["request_id"] == "REQ-VX-2" and rated["status"] == "new"
        # another office's token sees nothing of them, and may not ask for this office
        assert (await client.get("/v1/voice", headers=SUD)).json() == []
        forbidden = await client.get("/v1/voice", params={"office": "demo-nord"}, headers=SUD)
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"].startswith("application/problem+json")
        assert (
            await client.post(f"/v1/voice/{sms['id']}/handled", json={"action": "x"}, headers=SUD)
        ).status_code == 404
        # filters: score and category
        assert [w["id"] for w in (await client.get("/v1/voice", params={"score_min": 4}, headers=NORD)).json()] == [
            rated["id"]
        ]
        by_category = await client.get("/v1/voice", params={"category": "heating_hot_water"}, headers=NORD)
        assert [w["id"] for w in by_category.json()] == [sms["id"]]
        bad = await client.get("/v1/voice", params={"score_min": 9}, headers=NORD)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        # a date near year 1 is refused, not counted back out of the calendar
        ancient = await client.get("/v1/voice", params={"until": "0001-01-01T00:00:00Z"}, headers=NORD)
        assert ancient.status_code == 422 and "until" in ancient.text
        # handled with a short action, once
        done = await client.post(f"/v1/voice/{sms['id']}/handled", json={"action": "Rappel fait"}, headers=NORD)
        assert done.status_code == 200 and done.json()["status"] == "handled"
        twice = await client.post(f"/v1/voice/{sms['id']}/handled", json={"action": "encore"}, headers=NORD)
        assert twice.status_code == 409
        empty = await client.post(f"/v1/voice/{rated['id']}/handled", json={"action": " "}, headers=NORD)
        assert empty.status_code == 422
        new_only = (await client.get("/v1/voice", params={"status": "new"}, headers=NORD)).json()
        assert [w["id"] for w in new_only] == [rated["id"]]
        # the French page: a login form, then the list with a session cookie
        assert "Jeton de l'agence" in (await client.get("/voice")).text
        wrong = await client.post("/voice/login", data={"token": "demo-nord-wrong-key"})
        assert (
            wrong.status_code == 401
            and "Jeton de l'agence" in wrong.text
            and not client.cookies.get("canopee_voice_session")
        )
        login = await client.post("/voice/login", data={"token": "demo-nord-demo-key"})
        assert login.status_code == 303
        page = await client.get("/voice")
        assert "Paroles de locataires" in page.text and "Technicien très poli" in page.text
        assert "06 12 34 56 78" not in page.text and 'lang="fr"' in page.text
        assert "Technicien très poli" not in (await client.get("/voice", params={"status": "handled"})).text
        assert "Technicien très poli" in (await client.get("/voice", params={"status": ""})).text
        marked = await client.post(
            f"/voice/{rated['id']}/handled",
            data={"action": "Merci transmis"},
            headers={"Origin": str(client.base_url).rstrip("/")},
        )
        assert marked.status_code == 303
        assert "Traitée le" in (await client.get("/voice", params={"status": "handled"})).text
        forged = await client.post(
            f"/voice/{rated['id']}/handled", data={"action": "x"}, headers={"Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        client.cookies.clear()
        # erasure of the first tenant removes its words
        erased = event("tenant.erased", "T-VX-1", T0 + timedelta(hours=3), tenant_ref="T-VX-1")
        await ks.produce_events(infra["kafka"], topics, [erased])

        async def one_left() -> list[dict[str, Any]] | None:
            found = (await client.get("/v1/voice", headers=ADMIN_HEADERS)).json()
            return found if len(found) == 1 else None

        left = await eventually(one_left, timeout=60)
    assert left[0]["id"] == rated["id"]
    mongo = make_client(settings.mongo_url)
    try:
        assert await mongo[settings.database]["voice"].count_documents({"tenant_ref": "T-VX-1"}) == 0
    finally:
        await mongo.close()


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
