"""Scale-out and failover on real infrastructure: a private three-node KRaft cluster (topics with
replication factor 3 and min.insync.replicas 2, producers ``acks=all``), three instances of each
consuming service in one consumer group per service, every client on SASL_SSL with SCRAM-SHA-512.
While a simulated day flows through the gateway, one instance of each consuming service and one
broker are killed with SIGKILL. Afterwards: every request is projected, every tenant message was
handed to the local SMS API / SMTP server exactly once, and the indicators equal the simulated day.

Minutes long on a small machine (a cluster, 13 service processes): marked ``slow``, run by
``make test-scale``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from tests.conftest import ADMIN_TOKEN, free_port
from tests.e2e.test_demo_day import OFFICES, offices_file, opened_in, sms_api, smtp_server
from tests.support.cluster import Fleet, PrivateCluster, assignments, private_cluster
from tests.support.http import running

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONSUMERS = ("ticketing", "notifications", "feedback", "analytics")
ROOT = Path(__file__).resolve().parents[2]
#: wall seconds the simulated traffic lasts (the kills happen while it flows)
TRAFFIC_SECONDS = 45.0


def canopee(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def eventually(probe: Any, timeout: float, what: str) -> Any:
    """Poll ``probe`` (answering ``(done, detail)``) until done; returns the detail."""
    deadline = time.monotonic() + timeout
    detail: Any = None
    while time.monotonic() < deadline:
        done, detail = await probe()
        if done:
            return detail
        await asyncio.sleep(1)
    pytest.fail(f"{what} did not happen in {timeout} s (last: {str(detail)[:1500]})")


def reference(raw: bytes) -> str:
    """The message reference an e-mail carries (``X-Canopee-Reference``)."""
    return str(message_from_bytes(raw)["X-Canopee-Reference"])


async def spread(admin: AIOKafkaAdminClient, group: str, members: int) -> tuple[bool, Any]:
    """The group is stable with ``members`` members, each owning at least one partition, no
    partition owned twice."""
    try:
        state, owned = await assignments(admin, group)
    except KafkaError as exc:  # the killed broker may still be in the admin client's metadata
        return False, type(exc).__name__
    every = [p for parts in owned.values() for p in parts]
    ok = state == "Stable" and len(owned) == members and all(owned.values()) and len(every) == len(set(every))
    return ok, {"state": state, "sizes": sorted(len(p) for p in owned.values()), "owned": owned}


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with private_cluster(tmp_path_factory.mktemp("cluster")) as running_cluster:
        yield running_cluster


async def test_three_instances_share_partitions_and_survive_kill_9_of_an_instance_and_a_broker(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    prefix = "scale."
    sms_port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        **cluster.client_env(),
        "PYTHONPATH": str(ROOT),
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_OFFICES_FILE": str(offices_file(tmp_path / "offices.toml")),
        "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_RETRY_BASE_SECONDS": "0.1",
        "CANOPEE_RETRY_ATTEMPTS": "20",
        "CANOPEE_NOTIFICATIONS_SMS_PROVIDER": "http",
        "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{sms_port}",
        "CANOPEE_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "CANOPEE_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_SWEEP_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_LEASE_SECONDS": "5",
        "CANOPEE_NOTIFICATIONS_DIGEST_MINUTES": "0",
        "CANOPEE_NOTIFICATIONS_CONTACT_WAIT_SECONDS": "30",
        "CANOPEE_FEEDBACK_FORM_SECRET": "scale-form-secret-0123456789abcdef0123456789",
        "CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS": "1",
        "CANOPEE_TICKETING_SWEEP_SECONDS": "2",
        "CANOPEE_GATEWAY_PRODUCE_TIMEOUT_SECONDS": "30",
    }
    for name in (*CONSUMERS, "gateway"):
        env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"scale_{name}"

    # topics: replicated on the three nodes, two in sync for a write, over SASL_SSL like the services
    made = canopee(
        ["topics", "create", "--partitions", "6", "--replication-factor", "3", "--min-insync-replicas", "2"], env
    )
    assert made.returncode == 0, made.stdout + made.stderr

    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()
    day = ["simulate", "--seed", "16", "--days", "1", "--start", start, "--requests-per-day", "25", "--quiet"]
    expected_file = tmp_path / "day.jsonl"
    dry = canopee([*day, "--dry-run", "--out", str(expected_file)], env)
    assert dry.returncode == 0, dry.stderr
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    opened = Counter(e["officeid"] for e in expected if e["type"].endswith("request.opened.v1"))
    requests = {e["data"]["request_id"] for e in expected if e["type"].endswith("request.opened.v1")}
    assert set(opened) == set(OFFICES)

    received: list[dict[str, Any]] = []
    fleet = Fleet(env, tmp_path)
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(cluster.mongo)
    try:
        with smtp_server(smtp_port) as mailbox:
            async with running(sms_api(received), sms_port):
                # one service after the other: thirteen interpreters starting at once on two
                # cores would mostly measure the machine
                (gateway,) = fleet.start("gateway")
                await fleet.ready([gateway], timeout=600)
                for service in CONSUMERS:
                    await fleet.ready(fleet.start(service, 3), timeout=600)

                # three members per group, each with its share of the partitions
                before = {}
                for service in CONSUMERS:
                    got = await eventually(
                        lambda s=service: spread(admin, prefix + s, 3), 120, f"{service}: 3 members sharing"
                    )
                    before[service] = set().union(*got["owned"].values())

                # traffic through the gateway, paced over TRAFFIC_SECONDS
                rate = max(5.0, len(expected) / TRAFFIC_SECONDS)
                url = f"http://127.0.0.1:{gateway.port}"
                feeding = asyncio.create_task(
                    asyncio.to_thread(
                        canopee, [*day, "--rate", f"{rate:.1f}", "--via", "gateway", "--gateway-url", url], env, 600
                    )
                )
                await asyncio.sleep(TRAFFIC_SECONDS / 3)
                for service in CONSUMERS:
                    fleet.of(service)[0].kill()
                await asyncio.sleep(TRAFFIC_SECONDS / 6)
                cluster.kill_broker(2)
                fed = await feeding
                assert fed.returncode == 0, fed.stdout[-2000:] + fed.stderr[-2000:]

                # the two survivors of each group took over every partition
                for service in CONSUMERS:
                    got = await eventually(
                        lambda s=service: spread(admin, prefix + s, 2), 120, f"{service}: 2 members after the kill"
                    )
                    assert set().union(*got["owned"].values()) == before[service]

                # every request projected by ticketing
                projected = mongo["scale_ticketing"]["requests"]

                async def all_projected() -> tuple[bool, Any]:
                    # the projection's id is office|request_id
                    ids = {d["request_id"] async for d in projected.find({}, {"request_id": 1})}
                    return requests <= ids, f"{len(requests - ids)} missing of {len(requests)}"

                await eventually(all_projected, 180, "every request projected")

                # indicators: requests opened per office equal the simulated day's
                headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                analytics = fleet.of("analytics")[0]
                async with httpx.AsyncClient(timeout=10) as client:

                    async def exact() -> tuple[bool, Any]:
                        answer = await client.get(
                            f"http://127.0.0.1:{analytics.port}/v1/kpis", params={"period": "day"}, headers=headers
                        )
                        if answer.status_code != 200:
                            return False, answer.text[:300]
                        got = {o: opened_in(answer.json(), o) for o in OFFICES}
                        return got == dict(opened), got

                    await eventually(exact, 180, f"indicators equal to the simulated day {dict(opened)}")

                # tenant messages: none left in flight, each sent one was handed over exactly once
                log = mongo["scale_notifications"]["notifications"]

                async def settled() -> tuple[bool, Any]:
                    states = Counter([d["status"] async for d in log.find({}, {"status": 1})])
                    sent_sms = {
                        d["_id"]
                        async for d in log.find(
                            {"channel": "sms", "status": {"$in": ["sent", "delivered"]}}, {"_id": 1}
                        )
                    }
                    sent_mail = {
                        d["_id"]
                        async for d in log.find(
                            {"channel": "email", "status": {"$in": ["sent", "delivered"]}}, {"_id": 1}
                        )
                    }
                    sms_refs = {m["reference"] for m in received}
                    mail_refs = {reference(m) for m in mailbox.messages}
                    ok = states["sending"] == 0 and sent_sms == sms_refs and sent_mail == mail_refs
                    return ok, {
                        "states": dict(states),
                        "sms": (len(sent_sms), len(sms_refs)),
                        "mail": (len(sent_mail), len(mail_refs)),
                    }

                summary = await eventually(settled, 120, "every tenant message settled")
                assert summary["states"].get("failed", 0) == 0, summary
                assert len(received) >= len(requests) // 2, summary  # the day's acknowledgements at least
                sms_calls = Counter(m["reference"] for m in received)
                assert max(sms_calls.values()) == 1, [r for r, n in sms_calls.items() if n > 1]
                texts = Counter((m["to"], m["text"]) for m in received)
                assert max(texts.values()) == 1, "the same SMS twice to the same number"
                mail_calls = Counter(reference(m) for m in mailbox.messages)
                assert not mail_calls or max(mail_calls.values()) == 1
    finally:
        fleet.stop()
        await admin.close()
        await mongo.close()
