"""End to end, the right to erasure: one tenant's whole life through the five services (contact,
request, repair, acknowledgement and survey by SMS, a low rating with a comment, an SMS reply),
then ``tenant.erased``; then every database of the run (every collection, every document) and
every topic of the run (every record: key, value, headers) is searched for the tenant's phone
(in every notation), e-mail, tenant and housing references and words. Nothing may be found in
the stores; on the bus, nothing outside the records the tenant's life itself put there before the
erasure (docs/PRIVACY.md, "The bus": an append-only log is not rewritten, its retention bounds it)
and never in a dead letter or in anything published after the erasure."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.store import make_client
from shared.webhooks import signed_headers
from tests.conftest import ADMIN_TOKEN, free_port
from tests.e2e.test_demo_day import SERVICES, SURVEY_LINK, eventually, offices_file, services, sms_api, smtp_server
from tests.support.http import running

pytestmark = pytest.mark.e2e

OFFICE = "demo-nord"
OFFICE_KEY = {"Authorization": f"Bearer {OFFICE}-demo-key"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEBHOOK_SECRET = "whsec_" + "ZTJlLWVyYXN1cmUtd2ViaG9vay1zZWNyZXQtMDEyMw=="


def _event(kind: str, subject: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"ikos-{uuid.uuid4().hex[:16]}",
        "source": f"/offices/{OFFICE}/ikos",
        "type": f"fr.canopee.{kind}.v1",
        "subject": subject,
        "time": at.isoformat(),
        "officeid": OFFICE,
        "datacontenttype": "application/json",
        "data": data,
    }


def needles(tenant: dict[str, str]) -> dict[str, str]:
    """What must not be found, by name: every notation of the phone, and the rest as given."""
    national = "0" + tenant["phone"].removeprefix("+33")
    found = {
        "phone (E.164)": tenant["phone"],
        "phone (0033)": "0033" + tenant["phone"].removeprefix("+33"),
        "phone (national)": national,
        "phone (spaced)": " ".join(national[i : i + 2] for i in range(0, 10, 2)),
        "phone (dotted)": ".".join(national[i : i + 2] for i in range(0, 10, 2)),
    }
    for name in ("email", "tenant_ref", "housing_ref", "summary word", "comment word", "reply word"):
        found[name] = tenant[name]
    return found


def search(text: str, wanted: dict[str, str]) -> list[str]:
    lowered = text.lower()
    return [name for name, value in wanted.items() if value.lower() in lowered]


async def sweep_databases(mongo_url: str, prefix: str, wanted: dict[str, str]) -> list[str]:
    client = make_client(mongo_url)
    found = []
    try:
        names = [n for n in await client.list_database_names() if n.startswith(prefix.rstrip("."))]
        # every service keeping state has its database (the gateway keeps none)
        assert {f"{prefix.rstrip('.')}_{s}" for s in SERVICES if s != "gateway"} <= set(names), names
        for name in names:
            db = client[name]
            for collection in await db.list_collection_names():
                async for doc in db[collection].find({}):
                    hits = search(json.dumps(doc, default=str, ensure_ascii=False), wanted)
                    if hits:
                        found.append(f"{name}.{collection} {doc.get('_id')!r}: {', '.join(hits)}")
    finally:
        await client.close()
    return found


async def read_every_record(bootstrap: str, prefix: str) -> list[tuple[str, int, Any]]:
    """(topic, timestamp in ms, record) of every record of every topic of the run."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list[tuple[str, int, Any]] = []
    try:
        partitions = [
            TopicPartition(topic, p) for topic in names for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:  # metadata not loaded yet for some topics
            for topic in names:
                await consumer._client.force_metadata_update()
                partitions += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > starts[tp]}  # a forgotten start is not 0
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            for tp, recs in batch.items():
                for record in recs:
                    records.append((tp.topic.removeprefix(prefix), record.timestamp, record))
                    if record.offset + 1 >= ends[tp]:
                        left.discard(tp)
        assert not left, f"could not read every record of {sorted(str(tp) for tp in left)}"
    finally:
        await consumer.stop()
    return records


def record_text(record: Any) -> str:
    parts = [(record.key or b"").decode("utf-8", "replace"), (record.value or b"").decode("utf-8", "replace")]
    parts += [f"{k}={v.decode('utf-8', 'replace')}" for k, v in record.headers or ()]
    return "\n".join(parts)


def record_type(record: Any) -> str:
    try:
        return str(json.loads(record.value)["type"]).removeprefix("fr.canopee.").rsplit(".", 1)[0]
    except (ValueError, TypeError, KeyError):
        return "?"


async def test_an_erased_tenant_is_found_in_no_database_and_in_no_record_after_the_erasure(
    infra: dict[str, str], topics: str, tmp_path: Path
) -> None:
    prefix = topics
    ports = {name: free_port() for name in SERVICES}
    sms_port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        "CANOPEE_KAFKA_BOOTSTRAP": infra["kafka"],
        "CANOPEE_MONGO_URL": infra["mongo"],
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_OFFICES_FILE": str(offices_file(tmp_path / "offices.toml")),
        "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_RETRY_BASE_SECONDS": "0.05",
        "CANOPEE_NOTIFICATIONS_SMS_PROVIDER": "http",
        "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{sms_port}",
        "CANOPEE_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "CANOPEE_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_SWEEP_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CANOPEE_FEEDBACK_FORM_SECRET": "e2e-form-secret-0123456789abcdef0123456789",
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": f"http://127.0.0.1:{ports['feedback']}",
        "CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS": "1",
        "CANOPEE_TICKETING_SWEEP_SECONDS": "2",
    }
    for name in SERVICES:
        env[f"CANOPEE_{name.upper()}_PORT"] = str(ports[name])
        env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"{prefix.rstrip('.')}_{name}"

    tag = uuid.uuid4().hex[:6]
    tenant = {
        "phone": f"+3361{int(tag, 16) % 10_000_000:07d}",
        "email": f"erasure.{tag}@example.org",
        "tenant_ref": f"T-ERASE-{tag}",
        "housing_ref": f"LOG-ERASE-{tag}",
        "summary word": f"Fuitexq{tag}",
        "comment word": f"Colerezq{tag}",
        "reply word": f"Reponsezq{tag}",
    }
    rid = f"REQ-ERASE-{tag}"
    now = datetime.now(UTC).replace(microsecond=0)
    life = [
        _event(
            "tenant.contact_updated",
            tenant["tenant_ref"],
            now - timedelta(hours=3),
            {
                "tenant_ref": tenant["tenant_ref"],
                "phone": tenant["phone"],
                "email": tenant["email"],
                "preferred_channel": "sms",
            },
        ),
        _event(
            "request.opened",
            rid,
            now - timedelta(hours=2),
            {
                "request_id": rid,
                "tenant_ref": tenant["tenant_ref"],
                "housing_ref": tenant["housing_ref"],
                "category": "repair",
                "urgency": "U3",
                "channel": "phone",
                "summary": f"{tenant['summary word']} sous l'évier, rappeler au {tenant['phone']}",
            },
        ),
        _event(
            "request.assigned",
            rid,
            now - timedelta(hours=1, minutes=50),
            {"request_id": rid, "assignee_kind": "contractor", "assignee_ref": "C-7"},
        ),
        _event("repair.done", rid, now - timedelta(minutes=30), {"request_id": rid, "first_visit": True}),
        _event("request.closed", rid, now - timedelta(minutes=20), {"request_id": rid, "resolution": "resolved"}),
    ]
    received: list[dict[str, Any]] = []
    with smtp_server(smtp_port):
        async with (
            running(sms_api(received), sms_port),
            services(env, ports, tmp_path, ready_seconds=300),  # minutes: the test machine may be busy
            httpx.AsyncClient(timeout=10) as client,
        ):
            gateway = f"http://127.0.0.1:{ports['gateway']}/v1/events"
            for event in life:
                posted = await client.post(gateway, json=event, headers=OFFICE_KEY)
                assert posted.status_code == 202, posted.text

            # the survey link reaches the tenant by SMS; they answer it badly, with words
            async def link() -> str | None:
                found = [m for r in received if r.get("to") == tenant["phone"] for m in SURVEY_LINK.findall(r["text"])]
                return found[0] if found else None

            url = await eventually(link, 120, "a survey link by SMS to the tenant")
            form = await client.get(url)
            assert form.status_code == 200
            field = re.search(r'name="form"\s+value="([^"]+)"', form.text) or re.search(
                r'value="([^"]+)"\s+name="form"', form.text
            )
            assert field, form.text[:1000]
            comment = f"{tenant['comment word']} : personne n'est venu, écrivez à {tenant['email']}"
            answer = await client.post(
                url, data={"form": html.unescape(field.group(1)), "score": "1", "nps": "2", "comment": comment}
            )
            assert answer.status_code == 200, answer.text[:500]

            # and they reply to an SMS
            reply = json.dumps(
                {"id": f"in-{tag}", "from": tenant["phone"], "text": f"{tenant['reply word']} merci"}
            ).encode()
            inbound = f"http://127.0.0.1:{ports['notifications']}/v1/webhooks/sms/inbound"
            answered = await client.post(inbound, content=reply, headers=signed_headers(WEBHOOK_SECRET, reply))
            assert answered.status_code == 200, answered.text

            # every service has seen the tenant: the detractor alert is raised
            async def alert() -> Any:
                got = await client.get(f"http://127.0.0.1:{ports['feedback']}/v1/alerts", headers=ADMIN)
                return got.status_code == 200 and got.json()

            await eventually(alert, 60, "a detractor alert")
            await asyncio.sleep(3)  # the reply and the rating reach every consumer

            erased_at_ms = int(time.time() * 1000)
            erasure = _event("tenant.erased", tenant["tenant_ref"], now, {"tenant_ref": tenant["tenant_ref"]})
            posted = await client.post(gateway, json=erasure, headers=OFFICE_KEY)
            assert posted.status_code == 202, posted.text

            wanted = needles(tenant)

            async def clean() -> bool:
                return not await sweep_databases(infra["mongo"], prefix, wanted)

            try:
                await eventually(clean, 60, "the erasure in every database")
            except pytest.fail.Exception:
                found = await sweep_databases(infra["mongo"], prefix, wanted)
                pytest.fail("after the erasure, found in the stores:\n" + "\n".join(found))
            await asyncio.sleep(3)  # anything the erasure sets off is published

            # the bus before the operator's step: the tenant's data only in the contract's own
            # records published before the erasure (an append-only log is not rewritten)
            before = found_on_the_bus(await read_every_record(infra["kafka"], prefix), wanted, erased_at_ms)
            assert before.kept <= BEFORE_ERASURE, sorted(before.kept - BEFORE_ERASURE)
            assert before.kept, "the tenant's life left no record on the bus: the sweep would prove nothing"

            # the operator's step: forget what every service has read (``canopee topics forget-consumed``)
            forgotten = await forget_consumed_records(env, wanted, infra["kafka"], prefix, erased_at_ms)

    # the bus: every record of every topic of the run
    after = found_on_the_bus(await read_every_record(infra["kafka"], prefix), wanted, erased_at_ms)
    assert not after.bad, "found on the bus after the erasure or in a dead letter:\n" + "\n".join(after.bad)
    assert not after.kept, f"found on the bus after `forget-consumed` ({forgotten}): {sorted(after.kept)}"


#: the records that carry a tenant's data by contract (docs/EVENTS.md), published before an erasure
BEFORE_ERASURE = {
    ("office.tenants", "tenant.contact_updated"),
    ("office.requests", "request.opened"),
    ("feedback.surveys", "survey.requested"),
    ("feedback.surveys", "feedback.detractor_alert"),
    ("feedback.ratings", "satisfaction.rated"),
    ("notifications.outcomes", "sms.replied"),
}


class BusSearch:
    def __init__(self) -> None:
        self.bad: list[str] = []  # in a dead letter, or published after the erasure
        self.kept: set[tuple[str, str]] = set()  # (topic, type) published before the erasure


def found_on_the_bus(records: list[tuple[str, int, Any]], wanted: dict[str, str], erased_at_ms: int) -> BusSearch:
    found = BusSearch()
    for topic, timestamp, record in records:
        hits = search(record_text(record), wanted)
        if not hits:
            continue
        kind = record_type(record)
        if kind == "tenant.erased" and hits == ["tenant_ref"]:
            continue  # the erasure itself
        if topic.startswith("dlq.") or timestamp >= erased_at_ms:
            found.bad.append(f"{topic} {kind} @{timestamp}: {', '.join(hits)}")
        else:
            found.kept.add((topic, kind))
    return found


async def forget_consumed_records(
    env: dict[str, str], wanted: dict[str, str], kafka: str, prefix: str, erased_at_ms: int
) -> str:
    """Run ``canopee topics forget-consumed`` until the bus holds nothing of the tenant (the services
    commit their offsets after each batch: the last ones may come a moment later)."""
    deadline = time.monotonic() + 60
    while True:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tools.cli", "topics", "forget-consumed"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        summary = done.stdout.strip().splitlines()[-1]
        assert summary.startswith("forgot "), done.stdout[-2000:]
        left = found_on_the_bus(await read_every_record(kafka, prefix), wanted, erased_at_ms)
        if not left.kept or time.monotonic() > deadline:
            return summary
        await asyncio.sleep(2)
