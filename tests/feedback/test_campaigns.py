"""A campaign on the real Kafka broker and MongoDB-wire store: a few hundred tenants of two offices
known from tenant events, one paced invitation each, answers through the page over HTTP, one
reminder for those who did not answer, results per office and axis equal to the answers given."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.events import CloudEvent, Topics
from tests.conftest import ADMIN_TOKEN
from tests.feedback.support import ManualClock, event
from tests.feedback.test_integration import feedback_settings, service, token_of, topic_events
from tests.support import kafka as ks
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NORD = {"Authorization": "Bearer demo-nord-demo-key"}
SUD = {"Authorization": "Bearer demo-sud-demo-key"}
PER_OFFICE = 100
AXES = ("keys", "posture", "team", "mission")


def tenant_events() -> list[CloudEvent]:
    events = []
    for office in ("demo-nord", "demo-sud"):
        for i in range(PER_OFFICE):
            ref = f"T-{office[5:]}-{i:03d}"
            events.append(
                event(
                    "tenant.contact_updated",
                    ref,
                    T0,
                    office,
                    tenant_ref=ref,
                    phone="+33612345678",
                    email=None,
                    preferred_channel="sms",
                )
            )
        # not selected: preferred channel none; SMS consent withdrawn with no other channel known
        none = f"T-{office[5:]}-none"
        events.append(
            event("tenant.contact_updated", none, T0, office, tenant_ref=none, email=None, preferred_channel="none")
        )
        stop = f"T-{office[5:]}-stop"
        events.append(
            event("tenant.contact_updated", stop, T0, office, tenant_ref=stop, email=None, preferred_channel="sms")
        )
        events.append(
            event(
                "tenant.consent_changed", stop, T0, office, tenant_ref=stop, channel="sms", granted=False, via="office"
            )
        )
    # another office, not in the campaign
    events.append(
        event("tenant.contact_updated", "T-est-1", T0, "demo-est", tenant_ref="T-est-1", preferred_channel="sms")
    )
    return events


def scores(i: int) -> dict[str, int]:
    """The answer of the i-th tenant: deterministic, different per axis."""
    return {"keys": 1 + i % 5, "posture": 1 + (i * 2) % 5, "team": 1 + (i * 3) % 5, "mission": 5 - i % 3}


async def answer(client: httpx.AsyncClient, token: str, axes: dict[str, int], nps: int) -> httpx.Response:
    form = await client.get(f"/s/{token}")
    assert form.status_code == 200, form.status_code
    match = re.search(r'name="form" value="([0-9a-f]+)"', form.text)
    assert match
    data = {"form": match.group(1), "nps": str(nps), "comment": "Bien"} | {f"axis_{k}": str(v) for k, v in axes.items()}
    return await client.post(f"/s/{token}", data=data, headers={"Origin": str(client.base_url).rstrip("/")})


async def test_a_campaign_over_two_offices_invites_each_tenant_once_and_counts_every_answer(
    make_settings: Any, topics: str, infra: dict[str, str]
) -> None:
    settings = feedback_settings(make_settings, campaign_rate=60, campaign_tick_seconds=0.1)
    clock = ManualClock(T0)
    async with service(settings, clock) as (app, client):
        await ks.produce_events(infra["kafka"], topics, tenant_events())
        db = app.state.runtime.db

        async def tenants_known() -> bool:
            return bool(await db["tenants"].count_documents({}) == 2 * (PER_OFFICE + 2) + 1)

        await eventually(tenants_known)
        spec = {
            "title": "Enquête annuelle 2026",
            "offices": ["demo-nord", "demo-sud"],
            "closes_at": "2026-12-31T23:00:00Z",
        }
        # an office token cannot create a campaign for several offices
        assert (await client.post("/v1/campaigns", json=spec, headers=NORD)).status_code == 403
        bad = await client.post("/v1/campaigns", json=spec | {"offices": ["nowhere"]}, headers=ADMIN)
        assert bad.status_code == 422
        created = await client.post("/v1/campaigns", json=spec, headers=ADMIN)
        assert created.status_code == 201, created.text
        campaign = created.json()
        cid = campaign["id"]
        assert campaign["status"] == "draft" and campaign["questions"]["axes"] == list(AXES)
        # office tokens read a campaign of their office but cannot run a network campaign
        assert (await client.get(f"/v1/campaigns/{cid}", headers=SUD)).status_code == 200
        assert (await client.post(f"/v1/campaigns/{cid}/open", headers=SUD)).status_code == 403
        est = {"Authorization": "Bearer demo-est-demo-key"}
        assert (await client.get(f"/v1/campaigns/{cid}", headers=est)).status_code == 404

        opened = await client.post(f"/v1/campaigns/{cid}/open", headers=ADMIN)
        assert opened.status_code == 200, opened.text
        body = opened.json()
        assert body["status"] == "open" and body["targeted"] == 2 * PER_OFFICE
        assert body["invited"] <= 60  # paced: at most one tick's worth when the open returns
        # opening again selects nobody twice
        again = await client.post(f"/v1/campaigns/{cid}/open", headers=ADMIN)
        assert again.json()["targeted"] == 2 * PER_OFFICE

        invitations = await topic_events(infra, settings, Topics.FEEDBACK_SURVEYS, expect=2 * PER_OFFICE, settle=0.5)
        assert len(invitations) == 2 * PER_OFFICE
        assert all(e.data.campaign_id == cid and e.data.reminder is False for e in invitations)  # type: ignore[attr-defined]
        assert all(e.data.request_id is None for e in invitations)  # type: ignore[attr-defined]
        assert all(e.subject == e.data.survey_id for e in invitations)  # type: ignore[attr-defined]
        tenants = [(e.officeid, e.data.tenant_ref) for e in invitations]  # type: ignore[attr-defined]
        assert len(set(tenants)) == len(tenants) == 2 * PER_OFFICE
        assert not any(t.endswith(("none", "stop")) or o == "demo-est" for o, t in tenants)

        # one tenant in three answers through the page
        ordered = sorted(invitations, key=lambda e: (e.officeid, e.data.tenant_ref))  # type: ignore[attr-defined]
        given: dict[str, list[dict[str, int]]] = {"demo-nord": [], "demo-sud": []}
        answered = set()
        work = [(i, e) for i, e in enumerate(ordered) if i % 3 == 0]
        queue: asyncio.Queue[tuple[int, CloudEvent]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)

        async def worker() -> None:
            async with httpx.AsyncClient(base_url=str(client.base_url), timeout=20) as own:
                while not queue.empty():
                    i, invitation = queue.get_nowait()
                    axes = scores(i)
                    done = await answer(own, token_of(invitation), axes, nps=i % 11)
                    assert done.status_code == 200 and "Merci" in done.text, done.text
                    given[invitation.officeid].append(axes | {"nps": i % 11})
                    answered.add(invitation.subject)

        await asyncio.gather(*(worker() for _ in range(8)))
        # the link of an answered survey says so
        assert "déjà répondu" in (await client.get(f"/s/{token_of(work[0][1])}")).text

        results = (await client.get(f"/v1/campaigns/{cid}/results", headers=ADMIN)).json()
        by_office = {r["office"]: r for r in results["offices"]}
        assert list(by_office) == ["demo-nord", "demo-sud", "network"]
        for office in ("demo-nord", "demo-sud"):
            got = by_office[office]
            want = given[office]
            assert got["invited"] == PER_OFFICE and got["answered"] == len(want)
            assert got["response_rate"] == round(len(want) / PER_OFFICE, 4)
            for axis in AXES:
                values = [a[axis] for a in want]
                assert got["axes"][axis]["answers"] == len(values)
                assert got["axes"][axis]["mean"] == round(sum(values) / len(values), 3)
                assert got["axes"][axis]["distribution"] == {str(s): values.count(s) for s in range(1, 6)}
        assert by_office["network"]["answered"] == len(work)
        # an office token sees its own office only; CSV has one row per office and axis
        sud_only = (await client.get(f"/v1/campaigns/{cid}/results", headers=SUD)).json()
        assert [r["office"] for r in sud_only["offices"]] == ["demo-sud", "network"]
        assert sud_only["offices"][0] == by_office["demo-sud"]
        csv_response = await client.get(f"/v1/campaigns/{cid}/results?format=csv", headers=ADMIN)
        assert csv_response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_response.text)))
        assert len(rows) == 3 * len(AXES)
        nord_keys = next(r for r in rows if r["office"] == "demo-nord" and r["axis"] == "keys")
        assert float(nord_keys["mean"]) == by_office["demo-nord"]["axes"]["keys"]["mean"]

        # the answers were published as campaign.answered (channel web), once each
        ratings = await topic_events(infra, settings, Topics.FEEDBACK_RATINGS, expect=len(work), settle=0.5)
        assert len(ratings) == len(work)
        assert {r.type for r in ratings} == {"fr.canopee.campaign.answered.v1"}
        assert {r.subject for r in ratings} == answered

        # every answer with an axis rated 1 or 2 raised one detractor alert (score: its lowest axis)
        detractors = {e.subject: min(scores(i).values()) for i, e in work if min(scores(i).values()) <= 2}
        assert detractors, "the deterministic answers include detractors"

        # three days later: one reminder to each tenant who did not answer, none to the others
        clock.now = T0 + timedelta(days=3, minutes=1)
        unanswered = 2 * PER_OFFICE - len(work)
        events = await topic_events(
            infra, settings, Topics.FEEDBACK_SURVEYS, expect=2 * PER_OFFICE + unanswered + len(detractors), settle=0.5
        )
        requested = [e for e in events if e.type == "fr.canopee.survey.requested.v1"]
        reminders = [e for e in requested if e.data.reminder]  # type: ignore[attr-defined]
        assert len(reminders) == unanswered
        assert not {e.subject for e in reminders} & answered
        alerts = [e for e in events if e.type == "fr.canopee.feedback.detractor_alert.v1"]
        assert {e.subject: e.data.score for e in alerts} == detractors  # type: ignore[attr-defined]
        assert len(alerts) == len(detractors)

        # closed: the links stop working, like an unknown one
        closed = await client.post(f"/v1/campaigns/{cid}/close", headers=ADMIN)
        assert closed.json()["status"] == "closed"
        link = await client.get(f"/s/{token_of(reminders[0])}")
        unknown = await client.get("/s/" + "B" * 32)
        assert link.status_code == unknown.status_code == 404 and link.text == unknown.text
        assert (await client.post(f"/v1/campaigns/{cid}/open", headers=ADMIN)).status_code == 409
        metrics = (await client.get("/metrics")).text
        assert f'canopee_feedback_campaign_invitations_total{{office="demo-nord"}} {PER_OFFICE}.0' in metrics
