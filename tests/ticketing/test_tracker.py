"""The tenant's request tracker on the real Kafka and store: the link in the acknowledgement SMS
(notifications) opens ticketing's page in headless Chromium (status, next appointment, no personal
data, no script); a forged, expired or revoked (erased tenant) token gets the same "not found"
page. Screenshots are kept in artifacts/ticketing/."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.ticketing.app import create_app as ticketing_app
from services.ticketing.settings import TicketingSettings
from shared.events import parse_event
from shared.tracker import tracker_token
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support import kafka as ks
from tests.support.analytics_browser import chromium
from tests.support.http import running
from tests.support.notifications_fakes import SmsApi
from tests.support.samples import sample
from tests.ticketing.support import ManualClock, request_event

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ticketing"
SECRET = "tracker-secret-for-tests-0123456789"
PHONE = "+33612345678"
EMAIL = "locataire@example.org"
# Friday 27 November 2026, 10:00 in Paris: inside the SMS window
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def tenant_event(kind: str, tenant: str, at: datetime, **data: Any) -> Any:
    raw = sample(kind, tenant_ref=tenant, **data)
    raw["subject"] = tenant
    raw["time"] = at.isoformat()
    return parse_event(json.dumps(raw))


async def poll(client: httpx.AsyncClient, path: str, want: int, contains: str = "", timeout: float = 20) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(path)
        if response.status_code == want and contains in response.text:
            return response.text
        if loop.time() > deadline:
            raise AssertionError(f"{path}: {response.status_code}, expected {want} with {contains!r}")
        await asyncio.sleep(0.1)


async def test_the_link_of_the_acknowledgement_sms_opens_the_tracker_in_a_real_browser(
    make_settings: Any, topics: str, infra: dict[str, str], prefix: str
) -> None:
    unique = prefix.strip(".")
    tenant, rid = f"T-{unique}", f"REQ-{unique}"
    sms = SmsApi()
    sms_port = free_port()
    tracking: TicketingSettings = make_settings(TicketingSettings, tracker_secret=SECRET, sweep_seconds=0.2)
    base = f"http://127.0.0.1:{tracking.http_port}"
    tracking = make_settings(
        TicketingSettings, tracker_secret=SECRET, tracker_base_url=base, sweep_seconds=0.2, port=tracking.http_port
    )
    notifying = make_settings(
        NotificationsSettings,
        sms_base_url=f"http://127.0.0.1:{sms_port}",
        sms_token="provider-token",
        tracker_secret=SECRET,
        tracker_base_url=base,
        dispatch_seconds=0.2,
        sweep_seconds=0.2,
    )
    clock = ManualClock(NOW)
    slot = NOW + timedelta(days=4, hours=-1)  # Tuesday 1 December, 9:00 Paris
    async with (
        running(sms.app(), sms_port),
        running(ticketing_app(tracking, clock=clock), tracking.http_port),
        running(notifications_app(notifying, clock=clock), notifying.http_port),
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        await ks.produce_events(
            infra["kafka"],
            topics,
            [
                tenant_event(
                    "tenant.contact_updated",
                    tenant,
                    NOW - timedelta(hours=1),
                    phone=PHONE,
                    email=EMAIL,
                    preferred_channel="sms",
                ),
            ],
        )
        await asyncio.sleep(0.5)
        await ks.produce_events(
            infra["kafka"],
            topics,
            [
                request_event("request.opened", rid, NOW - timedelta(minutes=5), tenant_ref=tenant, category="repair"),
                request_event("request.assigned", rid, NOW - timedelta(minutes=4), assignee_kind="contractor"),
                request_event(
                    "appointment.scheduled",
                    rid,
                    NOW - timedelta(minutes=3),
                    appointment_id=f"APT-{unique}",
                    slot_start=slot.isoformat(),
                    slot_end=(slot + timedelta(hours=2)).isoformat(),
                ),
            ],
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not any(rid in m["text"] and "/t/" in m["text"] for m in sms.received):
            assert loop.time() < deadline, f"no acknowledgement with a tracker link: {sms.received}"
            await asyncio.sleep(0.1)
        text = next(m["text"] for m in sms.received if rid in m["text"] and "/t/" in m["text"])
        found = re.search(r"(https?://\S+/t/([A-Za-z0-9_-]+))", text)
        assert found is not None, text
        url, token = found.group(1), found.group(2)
        assert len(token) >= 22  # at least 128 bits in URL-safe base64
        await poll(client, f"/t/{token}", 200, "Rendez-vous fixé")

        async with chromium(width=412, height=915) as browser:
            await browser.get(url)
            assert await browser.script("return document.documentElement.lang") == "fr"
            assert await browser.script("return document.scripts.length") == 0
            status = await browser.script("return document.getElementById('status').textContent")
            assert "Rendez-vous fixé" in status
            window = await browser.script("return document.getElementById('appointment').textContent")
            assert window == "mardi 1 décembre 2026, entre 9 h 00 et 11 h 00"
            steps = await browser.script("return document.querySelectorAll('#timeline li').length")
            assert steps == 3
            body = await browser.script("return document.documentElement.outerHTML")
            for personal in (tenant, PHONE, "06 12 34 56 78", EMAIL):
                assert personal not in body
            assert "01 99 00 10 01" in body  # the office's phone, from the offices file
            await browser.screenshot(ARTIFACTS / "tracker.png")

            forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
            await browser.get(forged)
            heading = await browser.script("return document.querySelector('h1').textContent")
            assert heading == "Ce lien de suivi n'est pas valable"
            await browser.screenshot(ARTIFACTS / "tracker-not-found.png")
        not_found = await client.get("/t/" + forged.rsplit("/", 1)[1])
        assert not_found.status_code == 404
        assert (await client.get("/t/short")).status_code == 404
        assert (await client.get("/t/" + "A" * 32)).text == not_found.text


async def test_expired_and_revoked_links_get_the_same_not_found_page(
    make_settings: Any, topics: str, infra: dict[str, str], prefix: str
) -> None:
    unique = prefix.strip(".")
    settings: TicketingSettings = make_settings(TicketingSettings, tracker_secret=SECRET, sweep_seconds=0.2)
    clock = ManualClock(NOW)
    closed_rid, erased_rid, other_rid = f"REQ-C-{unique}", f"REQ-E-{unique}", f"REQ-O-{unique}"
    erased_tenant = f"T-E-{unique}"
    async with (
        running(ticketing_app(settings, clock=clock), settings.http_port) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        await ks.produce_events(
            infra["kafka"],
            topics,
            [
                request_event("request.opened", closed_rid, NOW - timedelta(days=2), tenant_ref=f"T-C-{unique}"),
                request_event("request.closed", closed_rid, NOW - timedelta(days=1), resolution="resolved"),
                request_event("request.opened", erased_rid, NOW - timedelta(hours=3), tenant_ref=erased_tenant),
                request_event("request.opened", other_rid, NOW - timedelta(hours=2), tenant_ref=f"T-O-{unique}"),
            ],
        )

        def path(rid: str) -> str:
            return "/t/" + tracker_token(SECRET, "demo-nord", rid)

        await poll(client, path(closed_rid), 200, "Demande clôturée")
        await poll(client, path(erased_rid), 200, "Demande reçue")
        await poll(client, path(other_rid), 200, "Demande reçue")
        forged = await client.get("/t/" + tracker_token("another-secret-0123456789abc", "demo-nord", closed_rid))
        assert forged.status_code == 404

        clock.now = NOW + timedelta(days=29)  # closed 28 days ago: still open
        assert (await client.get(path(closed_rid))).status_code == 200
        clock.now = NOW + timedelta(days=31)  # closed 30 days and more ago: expired
        expired = await client.get(path(closed_rid))
        assert (expired.status_code, expired.text) == (404, forged.text)

        await ks.produce_events(infra["kafka"], topics, [tenant_event("tenant.erased", erased_tenant, clock.now)])
        revoked = await poll(client, path(erased_rid), 404)
        assert revoked == forged.text
        # the same tenant's request arriving again after the erasure (a replay) gets no link back
        await ks.produce_events(
            infra["kafka"],
            topics,
            [request_event("request.opened", erased_rid + "-2", clock.now, tenant_ref=erased_tenant)],
        )
        for _ in range(200):
            got = await client.get(f"/v1/requests/demo-nord/{erased_rid}-2", headers=ADMIN)
            if got.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert got.status_code == 200
        assert (await client.get(path(erased_rid + "-2"))).status_code == 404
        assert (await client.get(path(other_rid))).status_code == 200
