"""Nobody left out, on the real Kafka and store: a tenant who wants no written message (preference
``none``) becomes one follow-up task for the office, listed for that office only, shown with the
phone on the office's page, closed once with ``followup.done`` on the bus, erased with the tenant;
an intervention at risk then late earns the tenant one apology."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.events import Topics, full_type, parse_event
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support import kafka as ks
from tests.support.http import running
from tests.support.notifications_fakes import SmsApi
from tests.support.samples import sample

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
PHONE = "+33612345678"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=PARIS)
NORD = {"Authorization": "Bearer demo-nord-demo-key"}
SUD = {"Authorization": "Bearer demo-sud-demo-key"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def at(kind: str, subject: str, when: datetime, **data: Any) -> Any:
    raw = sample(kind, **data)
    raw["subject"] = subject
    raw["time"] = when.isoformat()
    return parse_event(json.dumps(raw))


async def until(check: Any, timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def service(make_settings: Any, topics: str, prefix: str) -> AsyncIterator[tuple[httpx.AsyncClient, SmsApi, Any]]:
    sms = SmsApi()
    sms_port = free_port()
    settings: NotificationsSettings = make_settings(
        NotificationsSettings,
        sms_base_url=f"http://127.0.0.1:{sms_port}",
        sms_token="provider-token",
        dispatch_seconds=0.2,
        sweep_seconds=0.2,
        lease_seconds=1,
    )
    app = create_app(settings, clock=lambda: NOW.astimezone(UTC))
    async with (
        running(sms.app(), sms_port),
        running(app, settings.http_port) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client, sms, settings


@pytest.fixture(autouse=True)
def no_phone_in_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    caplog.set_level(logging.INFO)
    yield
    captured = capsys.readouterr()
    for line in [r.getMessage() for r in caplog.records] + captured.out.splitlines() + captured.err.splitlines():
        assert PHONE not in line and PHONE[3:] not in line, f"a phone number in a log line: {line[:200]}"


async def test_a_tenant_without_a_digital_channel_is_followed_up_once_and_erased(
    service: tuple[httpx.AsyncClient, SmsApi, NotificationsSettings],
    infra: dict[str, str],
    prefix: str,
    make_settings: Any,
) -> None:
    client, sms, settings = service
    analytics: AnalyticsSettings = make_settings(AnalyticsSettings, gauge_seconds=0.5)
    unique = prefix.strip(".")
    tenant, rid = f"T-{unique}", f"REQ-{unique}"
    await ks.produce_events(
        infra["kafka"],
        prefix,
        [
            at(
                "tenant.contact_updated",
                tenant,
                NOW - timedelta(hours=1),
                tenant_ref=tenant,
                phone=PHONE,
                preferred_channel="none",
            )
        ],
    )
    await asyncio.sleep(0.5)
    opened = at("request.opened", rid, NOW - timedelta(minutes=2), request_id=rid, tenant_ref=tenant)
    await ks.produce_events(infra["kafka"], prefix, [opened])

    async def listed() -> list[dict[str, Any]]:
        return list((await client.get("/v1/followups", headers=NORD)).json())

    tasks = await until(listed)
    assert len(tasks) == 1
    task = tasks[0]
    assert (task["cause_id"], task["request_id"], task["reason"], task["status"]) == (
        opened.id,
        rid,
        "preference_none",
        "open",
    )
    assert rid in task["text"] and "bien recu votre demande" in task["text"].replace("ç", "c")
    assert PHONE not in json.dumps(tasks)  # the JSON list never carries the phone
    assert sms.received == []
    # another office's token sees nothing of it
    assert (await client.get("/v1/followups", headers=SUD)).json() == []
    assert (await client.get("/v1/followups?office=demo-nord", headers=SUD)).status_code == 403
    assert (
        await client.post(
            f"/v1/followups/{task['id']}/done", headers=SUD, json={"channel": "phone", "outcome": "reached"}
        )
    ).status_code == 404

    # the office's page, signed in with the office's token like the dashboard, shows whom to call
    assert "Jeton de votre agence" in (await client.get("/followups")).text
    wrong = await client.post("/followups/login", data={"token": "demo-nord-wrong-key"})
    assert wrong.status_code == 401 and "Jeton de votre agence" in wrong.text
    assert not client.cookies.get("canopee_followups_session")
    login = await client.post("/followups/login", data={"token": "demo-nord-demo-key"})
    assert login.status_code == 303
    page = await client.get("/followups")
    assert page.status_code == 200 and PHONE in page.text and rid in page.text
    assert 'lang="fr"' in page.text and "<script" not in page.text
    client.cookies.clear()

    done = await client.post(
        f"/v1/followups/{task['id']}/done", headers=NORD, json={"channel": "phone", "outcome": "reached"}
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = await client.post(
        f"/v1/followups/{task['id']}/done", headers=NORD, json={"channel": "visit", "outcome": "reached"}
    )
    assert again.status_code == 409
    bad = await client.post(f"/v1/followups/{task['id']}/done", headers=NORD, json={"channel": "sms"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

    records = await ks.read_topic(
        infra["kafka"], settings.topic(Topics.NOTIFICATIONS_OUTCOMES), expect=2, timeout=20, settle=1.5
    )
    events = [parse_event(r.value) for r in records]
    followed = [e for e in events if e.type == full_type("followup.done")]
    assert len(followed) == 1
    data = followed[0].data
    assert (data.followup_id, data.cause_id, data.request_id) == (task["id"], opened.id, rid)  # type: ignore[attr-defined]
    assert (data.channel.value, data.outcome.value) == ("phone", "reached")  # type: ignore[attr-defined]
    assert followed[0].subject == task["id"] and followed[0].officeid == "demo-nord"
    assert (await client.get("/v1/followups?status=done", headers=NORD)).json()[0]["channel"] == "phone"

    # analytics counts the follow-up in person, by channel, and the tenant reached as acknowledged
    async with (
        running(analytics_app(analytics), analytics.http_port) as base,
        httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=10) as kpis,
    ):
        params = {"office": "demo-nord", "from": "2026-11-27", "to": "2026-11-27", "period": "day"}

        async def counted() -> dict[str, Any] | None:
            total = (await kpis.get("/v1/kpis", params=params)).json()["offices"]["demo-nord"]["total"]
            return total if total["follow_ups_in_person"]["done"] == 1 and total["volume"]["opened"] == 1 else None

        total = await until(counted, timeout=30)
        assert total["follow_ups_in_person"] == {
            "done": 1,
            "reached": 1,
            "by_channel": {"phone": 1, "counter": 0, "visit": 0, "letter": 0},
        }
        assert total["follow_up_coverage_pct"] == 100.0
        assert total["status_available_pct"] == 0.0  # no tracker link was sent (no tracker secret here)
        assert "phone" not in total["notifications"]

    # a second message for the same tenant, then the erasure: every task of the tenant goes
    closed = at("request.closed", rid, NOW - timedelta(minutes=1), request_id=rid, resolution="resolved")
    await ks.produce_events(infra["kafka"], prefix, [closed])
    await until(listed)
    await ks.produce_events(infra["kafka"], prefix, [at("tenant.erased", tenant, NOW, tenant_ref=tenant)])

    async def emptied() -> bool:
        every = (await client.get("/v1/followups?status=open", headers=ADMIN)).json()
        done_ones = (await client.get("/v1/followups?status=done", headers=ADMIN)).json()
        return not every and not done_ones

    await until(emptied)


async def test_an_intervention_at_risk_then_late_earns_one_apology(
    service: tuple[httpx.AsyncClient, SmsApi, NotificationsSettings], infra: dict[str, str], prefix: str
) -> None:
    _, sms, _ = service
    unique = prefix.strip(".")
    tenant, rid = f"T-{unique}", f"REQ-{unique}"
    await ks.produce_events(
        infra["kafka"],
        prefix,
        [
            at(
                "tenant.contact_updated",
                tenant,
                NOW - timedelta(hours=1),
                tenant_ref=tenant,
                phone=PHONE,
                preferred_channel="sms",
            )
        ],
    )
    await asyncio.sleep(0.5)
    await ks.produce_events(
        infra["kafka"],
        prefix,
        [
            at(
                "request.opened",
                rid,
                NOW - timedelta(hours=20),
                request_id=rid,
                tenant_ref=tenant,
                urgency="U2",
                category="heating_hot_water",
            )
        ],
    )
    sla = {
        "request_id": rid,
        "stage": "intervention",
        "policy": "U2",
        "category": "heating_hot_water",
        "urgency": "U2",
        "due_at": (NOW + timedelta(hours=4)).isoformat(),
    }
    await ks.produce_events(infra["kafka"], prefix, [at("sla.at_risk", rid, NOW - timedelta(minutes=10), **sla)])
    await ks.produce_events(infra["kafka"], prefix, [at("sla.breached", rid, NOW - timedelta(minutes=5), **sla)])

    async def apologies() -> list[str]:
        return [m["text"] for m in sms.received if "excuses" in m["text"]]

    found = await until(apologies)
    await asyncio.sleep(2.0)  # the breach is applied by now: it must not apologise again
    assert len(sms.received) == 2  # the acknowledgement and one apology
    assert found == await apologies() and len(found) == 1
    assert "risque de prendre du retard" in found[0] and rid in found[0]
