"""Live or history, and campaign detractors, on the real Kafka broker and MongoDB-wire store: a
repair older than the office's horizon surveys nobody while a fresh one is surveyed; an old office
rating of 1 still emits its alert, with the rating's time, marked historical; a campaign answer with
an axis rated 1 raises exactly one alert, also when the answer comes again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.events import Topics
from shared.store import make_client
from tests.conftest import ADMIN_TOKEN
from tests.feedback.support import ManualClock, event
from tests.feedback.test_integration import feedback_settings, repair, service, token_of, topic_events
from tests.support import kafka as ks
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OLD = T0 - timedelta(days=3)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NORD = {"Authorization": "Bearer demo-nord-demo-key"}
SURVEY_REQUESTED = "fr.canopee.survey.requested.v1"
DETRACTOR_ALERT = "fr.canopee.feedback.detractor_alert.v1"


async def _metric(client: httpx.AsyncClient, *needles: str) -> bool:
    text = (await client.get("/metrics")).text
    return all(needle in text for needle in needles)


async def test_an_old_repair_surveys_nobody_while_a_fresh_one_is_surveyed(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0)
    async with service(settings, clock) as (_, client):
        # three days old (a replay, an import), then one that ended an hour ago
        await ks.produce_events(infra["kafka"], topics, repair("REQ-OLD-1", "T-OLD", OLD))
        await ks.produce_events(infra["kafka"], topics, repair("REQ-NEW-1", "T-NEW", T0 - timedelta(hours=2)))
        surveys = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1, settle=3.0)
        assert [(e.type, e.data.request_id) for e in surveys] == [(SURVEY_REQUESTED, "REQ-NEW-1")]  # type: ignore[attr-defined]
        await eventually(
            lambda: _metric(
                client,
                'canopee_feedback_surveys_total{office="demo-nord",outcome="history"} 1.0',
                'canopee_feedback_surveys_total{office="demo-nord",outcome="sent"} 1.0',
            )
        )
        # the old request is still known as repaired
        mongo = make_client(settings.mongo_url)
        try:
            doc = await mongo[settings.database]["requests"].find_one({"_id": "demo-nord|REQ-OLD-1"})
            assert doc is not None and doc["repaired"] is True and doc["ended_at"] == OLD + timedelta(hours=1)
            assert await mongo[settings.database]["surveys"].count_documents({"request_id": "REQ-OLD-1"}) == 0
        finally:
            await mongo.close()


async def test_an_old_office_rating_emits_its_alert_with_its_own_time_marked_historical(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings)
    clock = ManualClock(T0)
    fresh_at = T0 - timedelta(hours=1)

    def rated(rid: str, at: datetime, score: int) -> Any:
        return event(
            "satisfaction.rated",
            rid,
            at,
            request_id=rid,
            survey_id=None,
            tenant_ref=f"T-{rid}",
            score=score,
            nps=None,
            comment="Rappelez-moi au 06 12 34 56 78",
            channel="phone",
        )

    async with service(settings, clock) as (_, client):
        await ks.produce_events(infra["kafka"], topics, [rated("REQ-R-OLD", OLD, 1), rated("REQ-R-NEW", fresh_at, 2)])
        raised = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2, settle=1.5)
        assert [e.type for e in raised] == [DETRACTOR_ALERT] * 2
        by_request = {e.data.request_id: e for e in raised}  # type: ignore[attr-defined]
        old, new = by_request["REQ-R-OLD"], by_request["REQ-R-NEW"]
        # each alert event carries the rating's time: notifications applies the same horizon to it
        assert old.time == OLD and old.data.follow_up_due_at == OLD + timedelta(hours=48)  # type: ignore[attr-defined]
        assert new.time == fresh_at and new.data.follow_up_due_at == fresh_at + timedelta(hours=48)  # type: ignore[attr-defined]
        assert old.data.score == 1 and "06 12" not in str(old.data.comment)  # type: ignore[attr-defined]
        listed = {a["request_id"]: a for a in (await client.get("/v1/alerts", headers=NORD)).json()}
        assert listed["REQ-R-OLD"]["historical"] is True and listed["REQ-R-OLD"]["open"] is True
        assert datetime.fromisoformat(listed["REQ-R-OLD"]["created_at"]) == OLD
        assert listed["REQ-R-NEW"]["historical"] is False
        assert await _metric(
            client,
            'canopee_feedback_detractor_alerts_total{office="demo-nord",origin="rating",outcome="history"} 1.0',
            'canopee_feedback_detractor_alerts_total{office="demo-nord",origin="rating",outcome="raised"} 1.0',
        )
        # the open-alerts gauge (refreshed by the sweep) counts the live alert only
        await eventually(lambda: _metric(client, 'canopee_feedback_open_alerts{office="demo-nord"} 1.0'))


async def test_a_campaign_answer_with_an_axis_rated_1_raises_exactly_one_alert(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings, campaign_tick_seconds=0.1)
    clock = ManualClock(T0)
    contact = event(
        "tenant.contact_updated", "T-CMP", T0, tenant_ref="T-CMP", phone="+33612345678", preferred_channel="sms"
    )
    async with service(settings, clock) as (app, client):
        await ks.produce_events(infra["kafka"], topics, [contact])
        db = app.state.runtime.db

        async def known() -> bool:
            return bool(await db["tenants"].count_documents({}) == 1)

        await eventually(known)
        spec = {"title": "Enquête", "offices": ["demo-nord"], "closes_at": "2026-12-31T23:00:00Z"}
        cid = (await client.post("/v1/campaigns", json=spec, headers=ADMIN)).json()["id"]
        assert (await client.post(f"/v1/campaigns/{cid}/open", headers=ADMIN)).status_code == 200
        [invitation] = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=1)
        token = token_of(invitation)
        form = await client.get(f"/s/{token}")
        match = re.search(r'name="form" value="([0-9a-f]+)"', form.text)
        assert match
        axes = {"axis_keys": "4", "axis_posture": "1", "axis_team": "3", "axis_mission": "2"}
        answer = {"form": match.group(1), "nps": "2", "comment": "Jamais rappelé, t@example.org"} | axes
        done = await client.post(f"/s/{token}", data=answer, headers={"Origin": settings.survey_url_base})
        assert done.status_code == 200 and "Merci" in done.text
        # our campaign.answered is read back by the consumer; an office sends the same answer again
        [answered] = await topic_events(infra, settings, Topics.FEEDBACK_RATINGS, expect=1)
        await ks.produce_events(infra["kafka"], topics, [answered, answered])
        events = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2, settle=3.0)
        alerts = [e for e in events if e.type == DETRACTOR_ALERT]
        assert len(alerts) == 1 and len(events) == 2
        [alert] = alerts
        assert alert.subject == invitation.subject and alert.time == clock.now
        data = alert.data
        assert (data.survey_id, data.request_id, data.score) == (invitation.subject, None, 1)  # type: ignore[attr-defined]
        assert data.follow_up_due_at == clock.now + timedelta(hours=48)  # type: ignore[attr-defined]
        assert "example.org" not in str(data.comment)  # type: ignore[attr-defined]
        [listed] = (await client.get("/v1/alerts", headers=NORD)).json()
        assert listed["campaign_id"] == cid and listed["survey_id"] == invitation.subject
        assert listed["historical"] is False and listed["score"] == 1
        assert await _metric(
            client,
            'canopee_feedback_detractor_alerts_total{office="demo-nord",origin="campaign",outcome="raised"} 1.0',
        )
