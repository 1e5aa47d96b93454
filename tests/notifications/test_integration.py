"""The notifications service on the real Kafka and FerretDB, with a real SMTP server on loopback
and a local HTTP SMS API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from services.notifications.api import sign
from services.notifications.app import create_app
from services.notifications.domain.messages import RequestInfo
from services.notifications.domain.policy import Policy
from services.notifications.domain.records import EPOCH, Draft, Message, Status
from services.notifications.settings import NotificationsSettings
from shared.events import Channel, CloudEvent, Recipient, Topics, full_type, parse_event
from shared.privacy import erasure_key
from shared.store import make_client
from shared.webhooks import new_secret, signed_headers
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support import kafka as ks
from tests.support.http import running
from tests.support.notifications_fakes import SmsApi, SmtpCatcher
from tests.support.samples import sample

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
PHONE = "+33612345678"
EMAIL = "locataire@example.org"
SECRET = "webhook-secret-0123456789"
FRIDAY_MORNING = datetime(2026, 11, 27, 10, 0, tzinfo=PARIS)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


@dataclass
class Env:
    settings: NotificationsSettings
    kafka: str
    sms: SmsApi
    smtp: SmtpCatcher
    clock: Clock
    tenant: str
    request_id: str
    apps: list[Any] = field(default_factory=list)

    @property
    def db(self) -> Any:
        return make_client(self.settings.mongo_url)[self.settings.database]

    def app(self) -> Any:
        return create_app(self.settings, clock=self.clock)

    async def produce(self, *events: dict[str, Any]) -> list[CloudEvent]:
        parsed = [parse_event(json.dumps(e)) for e in events]
        await ks.produce_events(self.kafka, self.settings.topic_prefix, parsed)
        return parsed

    def contact(self, **data: Any) -> dict[str, Any]:
        values = {"tenant_ref": self.tenant, "phone": PHONE, "email": EMAIL, "preferred_channel": "sms", **data}
        return at(sample("tenant.contact_updated", **values), self.clock.now - timedelta(minutes=5), self.tenant)

    def opened(self, **data: Any) -> dict[str, Any]:
        values = {"request_id": self.request_id, "tenant_ref": self.tenant, **data}
        return at(sample("request.opened", **values), self.clock.now - timedelta(minutes=1), self.request_id)

    async def wait_contact(self, **expected: Any) -> dict[str, Any]:
        db = self.db
        for _ in range(300):
            doc = await db.contacts.find_one({"tenant_ref": self.tenant})
            if doc and all(doc.get(k) == v for k, v in expected.items()):
                return dict(doc)
            await asyncio.sleep(0.05)
        raise AssertionError(f"contact never reached {expected}")

    async def outcomes(self, expect: int, settle: float = 0.0) -> list[dict[str, Any]]:
        records = await ks.read_topic(
            self.kafka, self.settings.topic(Topics.NOTIFICATIONS_OUTCOMES), expect=expect, timeout=20, settle=settle
        )
        return [json.loads(r.value) for r in records]

    async def outcomes_until(
        self, enough: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Read the outcomes topic from the start until ``enough`` of what was read (or ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[dict[str, Any]] = []
        while loop.time() < deadline and not enough(seen):
            seen = await self.outcomes(len(seen) + 1, settle=0.0)
        return seen


def at(event: dict[str, Any], when: datetime, subject: str) -> dict[str, Any]:
    event["time"] = when.isoformat()
    event["subject"] = subject
    return event


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest_asyncio.fixture
async def env(make_settings: Any, topics: str, infra: dict[str, str], prefix: str) -> AsyncIterator[Env]:
    sms = SmsApi()
    smtp = SmtpCatcher(free_port())
    smtp.start()
    sms_port = free_port()
    settings = make_settings(
        NotificationsSettings,
        sms_base_url=f"http://127.0.0.1:{sms_port}",
        sms_token="provider-token",
        sms_backoff_seconds=0.01,
        smtp_port=smtp.port,
        webhook_secret=SECRET,
        dispatch_seconds=0.2,
        sweep_seconds=0.2,
        lease_seconds=5,
    )
    unique = prefix.strip(".")
    try:
        async with running(sms.app(), sms_port):
            yield Env(settings, infra["kafka"], sms, smtp, Clock(FRIDAY_MORNING), f"T-{unique}", f"REQ-{unique}")
    finally:
        smtp.stop()


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    """Every test of this module: no phone number or e-mail address in any log line."""
    caplog.set_level(logging.INFO)
    yield
    captured = capsys.readouterr()
    lines = [r.getMessage() for r in caplog.records] + captured.out.splitlines() + captured.err.splitlines()
    for line in lines:
        for secret in (PHONE, PHONE[3:], "6 12 34 56 78", EMAIL):
            assert secret not in line, f"personal data in a log line: {line[:200]}"


@contextlib.asynccontextmanager
async def service(env: Env) -> AsyncIterator[str]:
    async with running(env.app(), env.settings.http_port) as url:
        yield url


def of_type(outcomes: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in outcomes if o["type"] == full_type(kind)]


async def test_request_opened_sends_the_acknowledgement_sms_and_the_audit_masks_it(env: Env) -> None:
    async with service(env) as url:
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened(category="repair", urgency="U3"))
        await wait_for(lambda: len(env.sms.received) == 1)
        sms = env.sms.received[0]
        assert sms["to"] == PHONE and sms["from"] == "OfficeNord"
        assert sms["text"] == (
            f"OfficeNord : nous avons bien recu votre demande {env.request_id} (réparation). "
            "Un conseiller la prend en charge et vous tiendra informé(e) de chaque étape. "
            "Pour joindre un conseiller : 01 99 00 10 01, du lundi au vendredi, 8 h 30 - 12 h et 13 h 30 - 17 h."
        )
        sent = of_type(await env.outcomes(1), "notification.sent")
        # the office's phone and opening hours make it two GSM-7 segments
        assert len(sent) == 1 and sent[0]["data"]["sms_segments"] == 2
        assert (
            sent[0]["data"]["template"] == "request_opened" and sms["reference"] == sent[0]["data"]["notification_id"]
        )
        async with httpx.AsyncClient(base_url=url) as client:
            denied = await client.get("/v1/notifications")
            assert denied.status_code == 401
            answer = await client.get(
                "/v1/notifications",
                params={"office": "demo-nord", "subject": env.request_id},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert answer.status_code == 200
            [entry] = answer.json()
            assert entry["to"] == "+33 6 •• •• •• 78" and entry["status"] == "sent"
            assert PHONE not in answer.text
            metrics = (await client.get("/metrics")).text
            labels = 'channel="sms",office="demo-nord",outcome="sent",template="request_opened"'
            assert f"canopee_notifications_total{{{labels}}} 1.0" in metrics
            assert 'canopee_sms_segments_total{office="demo-nord"} 2.0' in metrics

        # erasure: contact data gone, the log masked
        await env.produce(at(sample("tenant.erased", tenant_ref=env.tenant), env.clock.now, env.tenant))
        tombstone = None
        for _ in range(300):  # a tombstone under a hash of the reference; the contact itself deleted
            tombstone = await env.db.contacts.find_one({"_id": "erased/" + erasure_key("demo-nord", env.tenant)})
            if tombstone is not None:
                break
            await asyncio.sleep(0.05)
        assert tombstone is not None and tombstone["erased_at"] == env.clock()
        assert "phone" not in tombstone and "email" not in tombstone and "tenant_ref" not in tombstone
        assert await env.db.contacts.find_one({"tenant_ref": env.tenant}) is None
        for _ in range(100):
            doc = await env.db.notifications.find_one({"request_id": env.request_id})
            if doc and doc["recipient_masked"] == "effacé":
                break
            await asyncio.sleep(0.05)
        assert doc is not None and doc["recipient_masked"] == "effacé" and doc["text"] is None
        assert doc["tenant_ref"] is None


async def test_preference_email_goes_over_smtp_in_utf8(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact(preferred_channel="email"))
        await env.wait_contact(preferred="email")
        await env.produce(env.opened(category="heating_hot_water"))
        await wait_for(lambda: len(env.smtp.messages) == 1)
    mail = env.smtp.messages[0]
    assert mail["Subject"] == f"Votre demande {env.request_id} a bien été reçue"
    assert mail["To"] == EMAIL and "OfficeNord" in mail["From"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"Nous avons bien reçu votre demande {env.request_id} (chauffage et eau chaude)." in text
    assert "<strong>" in html and "chauffage et eau chaude" in html
    # how to reach a person: the office's phone and opening hours (offices file)
    hours = "du lundi au vendredi, 8 h 30 – 12 h et 13 h 30 – 17 h"
    assert f"Pour joindre un conseiller : 01 99 00 10 01 ({hours})." in text
    assert "tel:0199001001" in html
    assert env.sms.received == []


async def test_saturday_evening_is_deferred_to_monday_and_the_loop_sends_it(env: Env) -> None:
    env.clock.now = datetime(2026, 11, 28, 20, 30, tzinfo=PARIS)
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        [deferred] = of_type(await env.outcomes(1), "notification.deferred")
        assert datetime.fromisoformat(deferred["data"]["send_at"]) == datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
        assert deferred["data"]["reason"] == "quiet_hours"
        await asyncio.sleep(0.5)  # several dispatcher ticks: nothing is due yet
        assert env.sms.received == []
        env.clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=PARIS)
        await wait_for(lambda: len(env.sms.received) == 1)
        outcomes = await env.outcomes(2, settle=0.5)
    assert len(of_type(outcomes, "notification.sent")) == 1
    assert len(env.sms.received) == 1


async def test_u1_bypasses_quiet_hours(env: Env) -> None:
    env.clock.now = datetime(2026, 11, 29, 23, 0, tzinfo=PARIS)  # Sunday night
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened(urgency="U1", category="repair"))
        await wait_for(lambda: len(env.sms.received) == 1)
    assert "traitée en urgence" in env.sms.received[0]["text"]


async def test_redelivery_and_restart_still_send_one_message(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        [opened] = await env.produce(env.opened())
        await wait_for(lambda: len(env.sms.received) == 1)
        await ks.produce_events(env.kafka, env.settings.topic_prefix, [opened])  # redelivered
        await asyncio.sleep(1.0)
    # a restart (new process state, same store and group) that receives the cause once more
    async with service(env):
        await ks.produce_events(env.kafka, env.settings.topic_prefix, [opened])
        await asyncio.sleep(1.5)
    assert len(env.sms.received) == 1
    outcomes = await env.outcomes(1, settle=0.3)
    assert len({o["id"] for o in of_type(outcomes, "notification.sent")}) == 1


async def test_provider_503_then_200_sends_one_message(env: Env) -> None:
    env.sms.script = [503]
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        await wait_for(lambda: len(env.sms.received) == 1)
        await asyncio.sleep(0.5)
    assert len(env.sms.attempts) == 2 and len(env.sms.received) == 1
    assert env.sms.attempts[0]["reference"] == env.sms.attempts[1]["reference"]


async def test_provider_400_falls_back_to_email(env: Env) -> None:
    env.sms.script = [400]
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        await wait_for(lambda: len(env.smtp.messages) == 1)
        outcomes = await env.outcomes(2)
    assert env.sms.received == [] and len(env.sms.attempts) == 1
    failed = of_type(outcomes, "notification.failed")
    sent = of_type(outcomes, "notification.sent")
    assert [f["data"]["channel"] for f in failed] == ["sms"] and [s["data"]["channel"] for s in sent] == ["email"]
    assert failed[0]["data"]["cause_id"] == sent[0]["data"]["cause_id"]


async def test_stop_withdraws_consent_and_the_next_message_is_suppressed(env: Env) -> None:
    async with service(env) as url:
        await env.produce(env.contact(email=None))
        await env.wait_contact(phone=PHONE)
        async with httpx.AsyncClient(base_url=url) as client:
            body = json.dumps({"id": "in-1", "from": "06 12 34 56 78", "text": "  stop "}).encode()
            bad = await client.post(
                "/v1/webhooks/sms/inbound", content=body, headers={**sign(SECRET, body), "webhook-signature": "v1,AAAA"}
            )
            assert bad.status_code == 401
            broken = b'{"id": "in-0", "text": "x"}'
            invalid = await client.post("/v1/webhooks/sms/inbound", content=broken, headers=sign(SECRET, broken))
            assert invalid.status_code == 422
            assert (await env.wait_contact()).get("sms_consent") is None  # nothing changed
            ok = await client.post("/v1/webhooks/sms/inbound", content=body, headers=sign(SECRET, body))
            assert ok.status_code == 200 and ok.json() == {"status": "consent_withdrawn"}
            reply = json.dumps({"id": "in-2", "from": PHONE, "text": "4 merci"}).encode()
            replied = await client.post("/v1/webhooks/sms/inbound", content=reply, headers=sign(SECRET, reply))
            assert replied.json() == {"status": "replied"}
        await env.wait_contact(sms_consent=False)
        records = await ks.read_topic(env.kafka, env.settings.topic(Topics.OFFICE_TENANTS), expect=2)
        consent = [json.loads(r.value) for r in records if b"consent_changed" in r.value]
        assert len(consent) == 1
        assert consent[0]["source"] == "/services/notifications"
        assert consent[0]["data"] == {
            "tenant_ref": env.tenant,
            "channel": "sms",
            "granted": False,
            "via": "stop_keyword",
        }
        await env.produce(env.opened())
        outcomes = await env.outcomes(2)
    [suppressed] = of_type(outcomes, "notification.suppressed")
    assert suppressed["data"]["reason"] == "consent_withdrawn"
    [sms_replied] = of_type(outcomes, "sms.replied")
    assert sms_replied["data"] == {"tenant_ref": env.tenant, "text": "4 merci"}
    assert env.sms.received == []


async def test_stale_cause_updates_state_but_sends_nothing(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        old = at(env.opened(), env.clock.now - timedelta(days=3), env.request_id)
        await env.produce(old)
        [suppressed] = of_type(await env.outcomes(1), "notification.suppressed")
    assert suppressed["data"]["reason"] == "stale"
    assert env.sms.received == []
    assert await env.db.requests.find_one({"request_id": env.request_id}) is not None


async def test_delivery_receipt_marks_the_message_delivered(env: Env) -> None:
    async with service(env) as url:
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened(category="repair"))
        await wait_for(lambda: len(env.sms.received) == 1)
        reference = env.sms.received[0]["reference"]
        async with httpx.AsyncClient(base_url=url) as client:
            for ref, expected in ((reference, 200), ("no-such-message", 404)):
                body = json.dumps({"reference": ref, "status": "delivered"}).encode()
                for _ in range(20):  # 503: the send's outcome is not recorded yet; a provider retries
                    answer = await client.post("/v1/webhooks/sms/receipts", content=body, headers=sign(SECRET, body))
                    if answer.status_code != 503:
                        break
                    await asyncio.sleep(0.5)
                assert answer.status_code == expected, answer.text
                if expected == 200:
                    assert answer.json() == {"status": "delivered"}
        # the sent outcome may come twice (recorded unpublished on a slow broker, then re-published
        # from the record with the same id): read on until the delivered one is there
        outcomes = await env.outcomes_until(lambda seen: bool(of_type(seen, "notification.delivered")))
    delivered_ones = list({e["id"]: e for e in of_type(outcomes, "notification.delivered")}.values())
    assert len(delivered_ones) == 1, [e["type"] for e in outcomes]
    delivered = delivered_ones[0]
    assert delivered["data"]["notification_id"] == reference and delivered["data"]["sms_segments"] == 2


async def test_invalid_phone_goes_to_the_dlq_and_the_previous_contact_is_kept(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        bad = env.contact(phone="+3361234")
        bad["time"] = (env.clock.now - timedelta(minutes=1)).isoformat()
        await ks.produce(env.kafka, env.settings.topic(Topics.OFFICE_TENANTS), [(None, json.dumps(bad).encode(), [])])
        [dead] = await ks.read_topic(env.kafka, Topics.dlq(env.settings.group), expect=1)
    assert dict(dead.headers)["dlq-reason"].decode().startswith("data.phone")
    assert (await env.wait_contact())["phone"] == PHONE


async def test_concurrent_dispatchers_claim_a_due_message_once(env: Env) -> None:
    """Several instances' dispatcher loops racing on the same due messages (in batches of 2,
    several per tick, each dispatched concurrently): one send each."""
    env.settings = env.settings.model_copy(update={"dispatch_batch": 2})
    async with running(env.app(), env.settings.http_port), running(env.app(), free_port()):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        env.clock.now = datetime(2026, 11, 28, 21, 0, tzinfo=PARIS)  # Saturday night: deferred
        requests = [
            at(
                sample("request.opened", request_id=f"{env.request_id}-{i}", tenant_ref=env.tenant),
                env.clock.now,
                f"{env.request_id}-{i}",
            )
            for i in range(5)
        ]
        await env.produce(*requests)
        await env.outcomes(5)
        env.clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=PARIS)
        await wait_for(lambda: len(env.sms.received) == 5)
        await asyncio.sleep(1.0)
    assert sorted(s["reference"] for s in env.sms.received) == sorted({s["reference"] for s in env.sms.received})
    assert len(env.sms.received) == 5


def message(nid: str, status: str, now: datetime, attempts: int = 0) -> Message:
    """A message of the log as the store records it (only its queue fields matter here)."""
    draft = Draft(
        "o", "cause", "request.opened", now, "s", None, None, None, "request_opened", Recipient.TENANT, Policy.PREFERRED
    )
    return Message(
        nid, draft, Channel.SMS, Status(status), send_at=now, created_at=now, lease_until=EPOCH, attempts=attempts
    )


async def test_claim_is_won_by_exactly_one_of_many_concurrent_instances(env: Env) -> None:
    from services.notifications.store import NotificationStore

    client = make_client(env.settings.mongo_url)
    store = NotificationStore(client[env.settings.database])
    now = env.clock()
    try:
        for n in range(10):
            await store.insert(message(f"n-{n}", "pending", now))
            wins = await asyncio.gather(*(store.claim(f"n-{n}", now, timedelta(seconds=30)) for _ in range(6)))
            assert sum(w is not None for w in wins) == 1
        # an expired lease can be taken over, once
        later = now + timedelta(seconds=31)
        wins = await asyncio.gather(*(store.claim("n-0", later, timedelta(seconds=30)) for _ in range(6)))
        assert sum(w is not None for w in wins) == 1
    finally:
        await client.close()


async def test_expired_claims_are_purged_and_a_purged_claim_can_be_taken_again(env: Env) -> None:
    from services.notifications.store import NotificationStore

    client = make_client(env.settings.mongo_url)
    store = NotificationStore(client[env.settings.database])
    now = env.clock()
    lease = timedelta(seconds=30)
    try:
        await store.insert(message("n-old", "pending", now))
        assert await store.claim("n-old", now, lease) is not None
        await store.claims.insert_one({"_id": "n-fresh/1", "lease_until": now + timedelta(days=2)})
        # a day later the first claim's lease is long over: purged; the fresh one is kept
        later = now + timedelta(days=1)
        assert await store.purge_claims(later - timedelta(hours=1)) == 1
        assert [d["_id"] async for d in store.claims.find({})] == ["n-fresh/1"]
        # the message whose holder never finished can still be claimed, by exactly one instance
        wins = await asyncio.gather(*(store.claim("n-old", later, lease) for _ in range(4)))
        assert sum(w is not None for w in wins) == 1
    finally:
        await client.close()


async def test_store_batches_concurrent_writes_and_tells_each_caller_its_own_result(env: Env) -> None:
    """The hot path's reads and writes go in bulk (one insert_many, one bulk_write, one $in read);
    each caller still learns what happened to its own document, on the real store."""
    from services.notifications.store import SENDING, SENT, NotificationStore

    client = make_client(env.settings.mongo_url)
    store = NotificationStore(client[env.settings.database])
    now = env.clock()

    def doc(n: int) -> Message:
        return message(f"b-{n}", SENDING, now, attempts=1)

    try:
        await store.insert(doc(3))  # decided before: its second insertion must say so
        inserted = await asyncio.gather(*(store.insert(doc(n)) for n in range(8)))
        assert inserted == [n != 3 for n in range(8)]
        found = await asyncio.gather(*(store.get(f"b-{n}") for n in (0, 5, 99)))
        assert [d.id if d else None for d in found] == ["b-0", "b-5", None]
        # another instance took message 6 over (attempt 2): attempt 1's outcome must not count
        await store.notifications.update_one({"_id": "b-6"}, {"$set": {"attempts": 2}})
        finished = await asyncio.gather(*(store.finish(f"b-{n}", 1, SENT, now, published=True) for n in range(8)))
        assert finished == [n != 6 for n in range(8)]
        statuses = {d["_id"]: d["status"] async for d in store.notifications.find({})}
        assert statuses == {f"b-{n}": SENDING if n == 6 else SENT for n in range(8)}
        # a second finish of the same attempt changes nothing and says so
        assert await store.finish("b-0", 1, SENT, now) is False
        # request details: concurrent upserts of new and existing documents all land
        await store.save_request("o", "r-1", RequestInfo(category="repair"))
        await asyncio.gather(*(store.save_request("o", f"r-{n}", RequestInfo(tenant_ref=f"t-{n}")) for n in range(4)))
        requests = await asyncio.gather(*(store.get_request("o", f"r-{n}") for n in range(4)))
        assert [r.tenant_ref for r in requests if r] == ["t-0", "t-1", "t-2", "t-3"]
        assert requests[1] is not None and requests[1].category == "repair"
    finally:
        await client.close()


async def test_a_request_opened_before_the_tenants_first_contact_waits_for_it(env: Env) -> None:
    """Topics are not ordered with each other: the acknowledgement waits for the contact event
    that comes after it, and goes out as soon as it arrives."""
    async with service(env) as url:
        await env.produce(env.opened())
        await asyncio.sleep(1.0)  # handled: nothing known of the tenant, nothing sent nor suppressed
        assert env.sms.received == []
        assert await env.db.awaiting_contact.count_documents({}) == 1
        async with httpx.AsyncClient(base_url=url) as client:  # the audit list shows it waiting
            answer = await client.get(
                "/v1/notifications",
                params={"office": "demo-nord", "subject": env.request_id},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
        [entry] = answer.json()
        assert entry["status"] == "awaiting_contact" and entry["channel"] is None
        assert entry["template"] == "request_opened" and entry["request_id"] == env.request_id
        await env.produce(env.contact())
        await wait_for(lambda: len(env.sms.received) == 1)
        outcomes = await env.outcomes(1, settle=0.5)
    assert [o["data"]["channel"] for o in of_type(outcomes, "notification.sent")] == ["sms"]
    assert of_type(outcomes, "notification.suppressed") == []
    assert await env.db.awaiting_contact.count_documents({}) == 0


async def test_a_message_whose_tenant_never_gets_a_contact_is_suppressed_after_the_wait(env: Env) -> None:
    env.settings = env.settings.model_copy(update={"contact_wait_seconds": 60.0})
    async with service(env):
        await env.produce(env.opened())
        await asyncio.sleep(1.0)
        assert await env.db.awaiting_contact.count_documents({}) == 1
        env.clock.now += timedelta(seconds=61)  # the wait is over: the dispatcher decides it
        outcomes = await env.outcomes(1, settle=0.5)
        assert env.sms.received == []
        # the contact arriving later changes nothing: the message was decided
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await asyncio.sleep(1.0)
    assert env.sms.received == []
    [suppressed] = of_type(outcomes, "notification.suppressed")
    assert suppressed["data"]["reason"] == "no_contact"
    assert await env.db.awaiting_contact.count_documents({}) == 0


async def test_erasure_of_a_tenant_whose_message_waits_suppresses_it(env: Env) -> None:
    async with service(env):
        await env.produce(env.opened())
        await asyncio.sleep(1.0)
        erased = at(sample("tenant.erased", tenant_ref=env.tenant), env.clock.now, env.tenant)
        await env.produce(erased)
        outcomes = await env.outcomes(1, settle=0.5)
    [suppressed] = of_type(outcomes, "notification.suppressed")
    assert suppressed["data"]["reason"] == "erased"
    assert await env.db.awaiting_contact.count_documents({}) == 0


async def test_stop_waits_for_a_send_in_progress(env: Env) -> None:
    """Sends run beside the consumer: stopping the service lets the one in progress finish and
    record its outcome."""
    env.sms.hold = asyncio.Event()
    stopped = asyncio.Event()
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        await wait_for(lambda: len(env.sms.attempts) == 1)

        async def answer_later() -> None:
            await asyncio.sleep(0.5)
            assert not stopped.is_set()  # the stop is still waiting for the send
            env.sms.hold.set()  # type: ignore[union-attr]

        releasing = asyncio.create_task(answer_later())
    stopped.set()
    await releasing
    [doc] = [d async for d in env.db.notifications.find({})]
    assert doc["status"] == "sent" and len(env.sms.received) == 1
    assert len(of_type(await env.outcomes(1), "notification.sent")) == 1


async def test_a_send_cut_short_by_a_stop_goes_out_after_its_lease_once(env: Env) -> None:
    """The process stops while its send is stuck (no time left to drain): the message stays
    claimed; after the lease the next instance's dispatcher sends it, once."""
    env.settings = env.settings.model_copy(update={"drain_seconds": 0.0})
    env.sms.hold = asyncio.Event()
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        await wait_for(lambda: len(env.sms.attempts) == 1)
    [doc] = [d async for d in env.db.notifications.find({})]
    assert doc["status"] in ("sending", "pending")  # claimed (or handed back), not sent
    stuck, env.sms.hold = env.sms.hold, None
    env.clock.now += timedelta(seconds=env.settings.lease_seconds + 1)
    async with service(env):
        await wait_for(lambda: len(env.sms.received) == 1)
        await asyncio.sleep(1.0)  # more dispatcher ticks: nothing else goes out
    assert len(env.sms.received) == 1
    assert env.sms.received[0]["reference"] == env.sms.attempts[0]["reference"] == doc["_id"]
    [doc] = [d async for d in env.db.notifications.find({})]
    assert doc["status"] == "sent"
    sent = of_type(await env.outcomes(1, settle=0.5), "notification.sent")
    assert len({o["id"] for o in sent}) == 1
    stuck.set()  # the provider's stuck request ends (its client is long gone)


# --- live or history, digests, wording (issue: live, not history) ---------------------------------


def alert(env: Env, kind: str, n: int, office: str = "demo-nord", **data: Any) -> dict[str, Any]:
    """An office alert about request ``<request_id>-<n>`` of ``office``, 30 seconds old."""
    request_id = f"{env.request_id}-{n}"
    event = at(sample(kind, request_id=request_id, **data), env.clock.now - timedelta(seconds=30), request_id)
    event["officeid"] = office
    return event


async def recorded(env: Env, count: int, **query: Any) -> None:
    db = env.db
    for _ in range(400):
        if await db.notifications.count_documents(query) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} messages {query} never recorded")


def listed(mail: Any) -> list[str]:
    text = mail.get_body(("plain",)).get_content()
    return [line.split(" : ")[0].removeprefix("- Demande ") for line in text.splitlines() if line.startswith("- ")]


async def test_forty_at_risk_alerts_in_ten_minutes_make_one_digest_per_office_and_window(env: Env) -> None:
    """A live stream: 40 at-risk alerts from 10:07 to 10:16 (two offices) and a U1 breach at
    10:12. The breach goes at once; each office gets one digest for 10:00–10:15 and one for
    10:15–10:30; every alert has its own deferred then sent outcome."""
    env.clock.now = FRIDAY_MORNING + timedelta(minutes=7)
    offices = ("demo-nord", "demo-sud")
    async with service(env):
        for minute in range(10):
            batch = [alert(env, "sla.at_risk", minute * 4 + i, offices[i % 2]) for i in range(4)]
            if minute == 5:
                batch.append(alert(env, "sla.breached", 100, urgency="U1", policy="U1", stage="intervention"))
            await env.produce(*batch)
            await recorded(env, (minute + 1) * 4, template="sla_at_risk")
            if minute == 5:
                await wait_for(lambda: len(env.smtp.messages) == 1)
                assert env.smtp.messages[0]["To"] == "astreinte@demo-nord.example.org"
                assert "Délai dépassé" in env.smtp.messages[0]["Subject"]
            env.clock.now += timedelta(minutes=1)
        await wait_for(lambda: len(env.smtp.messages) == 3)
        env.clock.now = FRIDAY_MORNING + timedelta(minutes=30, seconds=1)
        await wait_for(lambda: len(env.smtp.messages) == 5)
        outcomes = await env.outcomes(81, settle=1.0)
    # the five mails went over kept SMTP connections (sent at three moments, two at a time at
    # most), each of which said goodbye at the service's stop
    assert env.smtp.collector.connections <= 2
    assert sorted(env.smtp.collector.quits) == sorted(set(env.smtp.collector.peers))
    digests = env.smtp.messages[1:]
    assert [m["To"] for m in digests] == ["astreinte@demo-nord.example.org", "astreinte@demo-sud.example.org"] * 2
    assert [len(listed(m)) for m in digests] == [16, 16, 4, 4]
    every = [r for m in digests for r in listed(m)]
    assert len(every) == len(set(every)) == 40
    assert "entre 10 h et 10 h 15" in digests[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "entre 10 h 15 et 10 h 30" in digests[2].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    deferred = of_type(outcomes, "notification.deferred")
    sent = of_type(outcomes, "notification.sent")
    assert len(deferred) == 40 and {d["data"]["reason"] for d in deferred} == {"digest"}
    assert len(sent) == 41 and {s["data"]["recipient"] for s in sent} == {"office"}
    at_risk = {s["data"]["cause_id"] for s in sent if s["data"]["template"] == "sla_at_risk"}
    assert at_risk == {d["data"]["cause_id"] for d in deferred}
    assert len(env.smtp.messages) == 5


async def test_old_office_alerts_are_history_suppressed_counted_and_listed(env: Env) -> None:
    old = env.clock.now - timedelta(days=3)
    survey = f"S-{env.request_id}"
    events = [
        at(alert(env, "sla.breached", 1, urgency="U1", policy="U1"), old, f"{env.request_id}-1"),
        at(alert(env, "sla.at_risk", 2), old, f"{env.request_id}-2"),
        at(sample("feedback.detractor_alert", request_id=env.request_id, survey_id=survey, score=1), old, survey),
    ]
    async with service(env) as url:
        await env.produce(*events)
        outcomes = await env.outcomes(3, settle=0.5)
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.get(
                "/v1/notifications",
                params={"office": "demo-nord", "status": "suppressed", "reason": "stale"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            metrics = (await client.get("/metrics")).text
    assert env.smtp.messages == []
    assert [(o["type"], o["data"]["reason"], o["data"]["recipient"]) for o in outcomes] == [
        (full_type("notification.suppressed"), "stale", "office")
    ] * 3
    assert answer.status_code == 200
    assert sorted(e["template"] for e in answer.json()) == ["detractor_alert", "sla_at_risk", "sla_breached"]
    assert 'canopee_notifications_history_total{office="demo-nord",recipient="office"} 3.0' in metrics


async def test_a_sunday_evening_reminder_for_a_monday_appointment_never_says_demain(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened(category="repair", urgency="U3"))
        await wait_for(lambda: len(env.sms.received) == 1)
        slot = {"slot_start": "2026-11-30T09:00:00+01:00", "slot_end": "2026-11-30T12:00:00+01:00"}
        scheduled = sample("appointment.scheduled", request_id=env.request_id, **slot)
        await env.produce(at(scheduled, env.clock.now - timedelta(minutes=1), env.request_id))
        await wait_for(lambda: len(env.sms.received) == 2)
        deferred = of_type(await env.outcomes(3), "notification.deferred")
        assert [d["data"]["template"] for d in deferred] == ["appointment_reminder"]
        # due on Sunday at 18:00, no SMS on Sundays: it goes out on Monday at the opening
        assert datetime.fromisoformat(deferred[0]["data"]["send_at"]) == datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
        env.clock.now = datetime(2026, 11, 30, 8, 0, 1, tzinfo=PARIS)
        await wait_for(lambda: len(env.sms.received) == 3)
    reminder = env.sms.received[2]["text"]
    assert "demain" not in reminder
    assert reminder.startswith("Rappel OfficeNord : rendez-vous aujourd'hui, lundi 30 novembre 2026, entre 9 h et 12 h")


async def test_an_older_rescheduling_arriving_after_a_newer_one_does_not_win(env: Env) -> None:
    def scheduled(day: int, when: datetime) -> dict[str, Any]:
        slot = {"slot_start": f"2026-12-{day:02d}T09:00:00+01:00", "slot_end": f"2026-12-{day:02d}T12:00:00+01:00"}
        return at(sample("appointment.scheduled", request_id=env.request_id, **slot), when, env.request_id)

    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened())
        await wait_for(lambda: len(env.sms.received) == 1)
        [newer] = await env.produce(scheduled(3, env.clock.now - timedelta(minutes=1)))
        await wait_for(lambda: len(env.sms.received) == 2)
        [older] = await env.produce(scheduled(2, env.clock.now - timedelta(hours=1)))  # late, and older
        outcomes = await env.outcomes(5, settle=0.5)
    suppressed = of_type(outcomes, "notification.suppressed")
    assert sorted((s["data"]["template"], s["data"]["reason"]) for s in suppressed) == [
        ("appointment_reminder", "superseded"),
        ("appointment_scheduled", "superseded"),
    ]
    assert {s["data"]["cause_id"] for s in suppressed} == {older.id}
    assert len(env.sms.received) == 2 and "jeudi 3 décembre" in env.sms.received[1]["text"]
    reminders = {
        d["cause_id"]: d["status"] async for d in env.db.notifications.find({"template": "appointment_reminder"})
    }
    assert reminders == {newer.id: "pending", older.id: "suppressed"}


async def test_a_survey_about_a_neighbourhood_request_does_not_speak_of_an_intervention(env: Env) -> None:
    async with service(env):
        await env.produce(env.contact())
        await env.wait_contact(phone=PHONE)
        await env.produce(env.opened(category="neighbourhood", urgency=None))
        await wait_for(lambda: len(env.sms.received) == 1)
        survey = f"S-{env.request_id}"
        invitation = sample("survey.requested", survey_id=survey, request_id=env.request_id, tenant_ref=env.tenant)
        await env.produce(at(invitation, env.clock.now - timedelta(minutes=1), survey))
        await wait_for(lambda: len(env.sms.received) == 2)
    text = env.sms.received[1]["text"]
    assert "intervention" not in text
    assert text.startswith(f"OfficeNord : votre demande {env.request_id} a-t-elle été bien traitée ?")


async def test_webhooks_refuse_replays_stale_and_unsigned_calls_and_accept_both_secrets_of_a_rotation(
    env: Env,
) -> None:
    old, new = new_secret(), new_secret()
    env.settings = env.settings.model_copy(update={"webhook_secret": SecretStr(f"{old} {new}")})
    async with service(env) as url:
        await env.produce(env.contact(email=None))
        await env.wait_contact(phone=PHONE)
        async with httpx.AsyncClient(base_url=url) as client:

            def reply(n: int) -> bytes:
                return json.dumps({"id": f"in-r{n}", "from": PHONE, "text": f"{n} merci"}).encode()

            inbound = "/v1/webhooks/sms/inbound"
            # both secrets of the rotation are accepted
            for n, secret in enumerate((old, new)):
                answer = await client.post(inbound, content=reply(n), headers=signed_headers(secret, reply(n)))
                assert answer.status_code == 200, answer.text
            # a replay of an accepted call (same id, same signature) is refused
            headers = signed_headers(new, reply(2))
            assert (await client.post(inbound, content=reply(2), headers=headers)).status_code == 200
            again = await client.post(inbound, content=reply(2), headers=headers)
            assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
            # a call older (or newer) than the tolerance window is refused, even well signed
            # well outside it: on a loaded machine the call may arrive seconds after its header was made
            for skew in (-330, 330):
                stale = signed_headers(new, reply(3), timestamp=int(time.time()) + skew)
                refused = await client.post(inbound, content=reply(3), headers=stale)
                assert refused.status_code == 401 and "tolerance" in refused.json()["detail"]
            # a third secret, a tampered body, a missing header
            other = await client.post(inbound, content=reply(4), headers=signed_headers(new_secret(), reply(4)))
            assert other.status_code == 401
            tampered = await client.post(inbound, content=reply(5), headers=signed_headers(new, reply(4)))
            assert tampered.status_code == 401
            unsigned = {k: v for k, v in signed_headers(new, reply(6)).items() if k != "webhook-id"}
            assert (await client.post(inbound, content=reply(6), headers=unsigned)).status_code == 401
            # the refused calls took no id: the well-signed one goes through afterwards
            assert (
                await client.post(inbound, content=reply(3), headers=signed_headers(new, reply(3)))
            ).status_code == 200
        outcomes = await env.outcomes(4)
    texts = sorted(o["data"]["text"] for o in of_type(outcomes, "sms.replied"))
    assert texts == ["0 merci", "1 merci", "2 merci", "3 merci"]
