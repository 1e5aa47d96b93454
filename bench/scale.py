"""Scale-out and failover benchmark: service instances as ``canopee run`` processes in one consumer
group, on 12-partition topics of the Kafka named by ``CANOPEE_KAFKA_BOOTSTRAP`` (its connection
settings ``CANOPEE_KAFKA_*`` apply) and the store of ``CANOPEE_MONGO_URL``.

1. notifications, the SMS API answering in 200 ms (a local HTTP server) and 8 sends in flight per
   instance (``CANOPEE_NOTIFICATIONS_SEND_CONCURRENCY=8``, a provider's per-connection limit):
   messages per second with 1 and with 3 instances, in the same run; ratio (goal ≥ 2.5).
2. ticketing: a backlog of lifecycle events applied by 1 and by 3 instances (until the group's
   committed offsets reach the end of every partition); ratio, and the CPU seconds of the instances
   and of the store's process (when its PID file is found) to say where the time goes.
3. failover: 3 ticketing instances under steady traffic; ``kill -9`` of one; the time until every
   partition's committed offset has moved past where it stood at the kill (the dead instance's
   partitions consumed again), then a new instance joins; p50/max over the rounds.

Sizes: ``CANOPEE_BENCH_SCALE_SMS`` (messages per configuration, default 900),
``CANOPEE_BENCH_SCALE_EVENTS`` (ticketing requests × 5 events, default 1200 requests),
``CANOPEE_BENCH_SCALE_ROUNDS`` (failover rounds, default 5), ``CANOPEE_BENCH_SCALE_PARTS``
(which parts, default ``notifications,ticketing,failover``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.notifications import _event
from bench.ticketing import lifecycle_events
from shared.bus import all_topics, create_topics
from shared.kafka_security import client_options
from shared.producer import record_of
from shared.settings import CommonSettings, load_settings
from shared.store import make_client
from tests.conftest import ADMIN_TOKEN, free_port
from tests.e2e.test_demo_day import offices_file
from tests.support.cluster import ROOT, Fleet, Instance, assignments
from tests.support.http import running

PARTITIONS = 12
SMS_DELAY = 0.2
IN_FLIGHT = 8


class SlowSms:
    """An SMS API answering every message after ``SMS_DELAY`` seconds; records arrival times."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.references: set[str] = set()

    def app(self) -> Starlette:
        async def messages(request: Request) -> JSONResponse:
            body = await request.json()
            await asyncio.sleep(SMS_DELAY)
            self.references.add(body["reference"])
            self.arrivals.append(time.monotonic())
            return JSONResponse({"id": f"sms-{len(self.arrivals)}"}, status_code=201)

        return Starlette(routes=[Route("/messages", messages, methods=["POST"])])


class Bench:
    def __init__(self, folder: Path) -> None:
        self.settings = load_settings(CommonSettings)
        self.options = client_options(self.settings)
        self.folder = folder
        self.offices = offices_file(folder / "offices.toml")

    def env(self, prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CANOPEE_TOPIC_PREFIX": prefix,
            "CANOPEE_OFFICES_FILE": str(self.offices),
            "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
            "CANOPEE_LOG_LEVEL": "WARNING",
        }
        for name in ("ticketing", "notifications", "feedback", "analytics", "gateway"):
            env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"{prefix.rstrip('.')}_{name}"
        env.update(extra or {})
        return env

    async def topics(self, prefix: str) -> None:
        replication = min(3, len(self.settings.kafka_bootstrap.split(",")))
        await create_topics(
            self.settings.kafka_bootstrap,
            all_topics(prefix),
            partitions=PARTITIONS,
            replication=replication,
            min_insync_replicas=2 if replication >= 3 else None,
            options=self.options,
        )

    async def producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=5, **self.options
        )
        await producer.start()
        return producer

    async def admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, **self.options)
        await admin.start()
        return admin

    async def spread(self, admin: AIOKafkaAdminClient, group: str, members: int, timeout: float = 120) -> None:
        """Wait until the group is stable with ``members`` members, each owning partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, owned = await assignments(admin, group)
            if state == "Stable" and len(owned) == members and all(owned.values()):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{group}: not {members} members sharing the partitions in {timeout} s")

    async def lag(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: list[str]) -> int:
        committed = await admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(parts)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in parts)


async def _send(
    producer: AIOKafkaProducer, records: Iterable[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    futures = [
        await producer.send(topic, value=value, key=key, headers=headers) for topic, key, value, headers in records
    ]
    await asyncio.gather(*futures)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _store_pid() -> int | None:
    run = Path(os.environ.get("CANOPEE_INFRA_RUN", ROOT / ".local" / "run"))
    try:
        return int((run / "ferretdb.pid").read_text().strip())
    except (OSError, ValueError):
        return None


async def notifications(bench: Bench, instances: int, count: int) -> float:
    """Messages per second handed to the slow SMS API by ``instances`` instances."""
    prefix = f"bsc{secrets.token_hex(3)}."
    await bench.topics(prefix)
    sms, sms_port = SlowSms(), free_port()
    env = bench.env(
        prefix,
        {
            "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{sms_port}",
            "CANOPEE_NOTIFICATIONS_SEND_CONCURRENCY": str(IN_FLIGHT),
            "CANOPEE_NOTIFICATIONS_SMS_RATE_PER_SECOND": "100000",
            "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "30",
        },
    )
    tag = prefix.rstrip(".")
    now = datetime.now(UTC)
    producer, admin = await bench.producer(), await bench.admin()
    mongo = make_client(bench.settings.mongo_url)
    fleet = Fleet(env, bench.folder)
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    try:
        contacts = []
        for n in range(count):
            key, value = _event(
                "tenant.contact_updated",
                f"T-{tag}-{n}",
                {"tenant_ref": f"T-{tag}-{n}", "phone": f"+336{n:08d}", "preferred_channel": "sms"},
                n,
                tag,
                now,
            )
            contacts.append((prefix + "office.tenants", key, value, headers))
        await _send(producer, contacts)
        async with running(sms.app(), sms_port):
            fleet.start("notifications", instances)
            await fleet.ready()
            await bench.spread(admin, prefix + "notifications", instances)
            stored = mongo[f"{tag}_notifications"]["contacts"]
            while await stored.count_documents({}) < count:
                await asyncio.sleep(0.5)
            opened = []
            for n in range(count):
                data = {
                    "request_id": f"R-{tag}-{n}",
                    "tenant_ref": f"T-{tag}-{n}",
                    "category": "repair",
                    "channel": "web",
                }
                key, value = _event("request.opened", f"R-{tag}-{n}", data, n, tag, now)
                opened.append((prefix + "office.requests", key, value, headers))
            store_pid = _store_pid()
            cpu_before = {i.name: _cpu_seconds(i.process.pid) for i in fleet.instances}
            store_before = _cpu_seconds(store_pid) if store_pid else 0.0
            started = time.monotonic()
            await _send(producer, opened)
            deadline = started + 600
            while len(sms.references) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if len(sms.references) < count:
                raise RuntimeError(f"only {len(sms.references)} of {count} SMS in 600 s")
            # from the first message at the SMS API to the last (the service's rate, not its start)
            first, last = min(sms.arrivals), max(sms.arrivals)
            rate = (count - 1) / (last - first)
            elapsed = last - started
            cpu = sum(_cpu_seconds(i.process.pid) - cpu_before[i.name] for i in fleet.instances)
            store = (_cpu_seconds(store_pid) - store_before) if store_pid else float("nan")
            print(
                f"notifications, {instances} instance(s): {rate:6.1f} msg/s "
                f"({count} SMS; first after {first - started:.1f} s, all after {elapsed:.1f} s; "
                f"ceiling {instances * IN_FLIGHT / SMS_DELAY:.0f} msg/s); CPU: instances {cpu:.1f} s "
                f"({cpu / elapsed:.2f} cores), store {store:.1f} s ({store / elapsed:.2f} cores)",
                flush=True,
            )
            return rate
    finally:
        fleet.stop()
        await producer.stop()
        await admin.close()
        await mongo.drop_database(f"{tag}_notifications")
        await mongo.close()


async def ticketing(bench: Bench, instances: int, requests: int) -> float:
    """Events per second applied by ``instances`` instances from a backlog on 12 partitions."""
    prefix = f"bsc{secrets.token_hex(3)}."
    await bench.topics(prefix)
    tag = prefix.rstrip(".")
    env = bench.env(prefix, {"CANOPEE_TICKETING_SWEEP_SECONDS": "3600"})
    producer, admin = await bench.producer(), await bench.admin()
    ends = AIOKafkaConsumer(bootstrap_servers=bench.settings.kafka_bootstrap, **bench.options)
    await ends.start()
    mongo = make_client(bench.settings.mongo_url)
    fleet = Fleet(env, bench.folder)
    try:
        fleet.start("ticketing", instances)
        await fleet.ready()
        await bench.spread(admin, prefix + "ticketing", instances)
        records = [record_of(e, prefix) for e in lifecycle_events(requests, tag)]
        topics = sorted({r.topic for r in records})
        store_pid = _store_pid()
        cpu_before = {i.name: _cpu_seconds(i.process.pid) for i in fleet.instances}
        store_before = _cpu_seconds(store_pid) if store_pid else 0.0
        started = time.monotonic()
        await _send(producer, ((r.topic, r.key or b"", r.value or b"", list(r.headers)) for r in records))
        produced = time.monotonic() - started
        while await bench.lag(admin, ends, prefix + "ticketing", topics) > 0:
            await asyncio.sleep(0.2)
            if time.monotonic() - started > 900:
                raise RuntimeError("ticketing did not catch up in 900 s")
        elapsed = time.monotonic() - started
        cpu = sum(_cpu_seconds(i.process.pid) - cpu_before[i.name] for i in fleet.instances)
        store = (_cpu_seconds(store_pid) - store_before) if store_pid else float("nan")
        rate = len(records) / elapsed
        print(
            f"ticketing, {instances} instance(s): {rate:6.0f} events/s ({len(records)} events, produced in "
            f"{produced:.1f} s, applied after {elapsed:.1f} s); CPU: instances {cpu:.1f} s "
            f"({cpu / elapsed:.2f} cores), store {store:.1f} s ({store / elapsed:.2f} cores)",
            flush=True,
        )
        return rate
    finally:
        fleet.stop()
        await producer.stop()
        await ends.stop()
        await admin.close()
        await mongo.drop_database(f"{tag}_ticketing")
        await mongo.close()


async def failover(bench: Bench, rounds: int) -> list[float]:
    """Seconds from ``kill -9`` of one of 3 instances until every partition is consumed again."""
    prefix = f"bsc{secrets.token_hex(3)}."
    await bench.topics(prefix)
    tag = prefix.rstrip(".")
    group = prefix + "ticketing"
    env = bench.env(prefix, {"CANOPEE_TICKETING_SWEEP_SECONDS": "3600"})
    producer, admin = await bench.producer(), await bench.admin()
    mongo = make_client(bench.settings.mongo_url)
    fleet = Fleet(env, bench.folder)
    stop = asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stop.is_set():
            batch = [record_of(e, prefix) for e in lifecycle_events(10, f"{tag}-{n}")[:10]]  # 10 openings
            try:
                await _send(producer, ((r.topic, r.key or b"", r.value or b"", list(r.headers)) for r in batch))
            except Exception as exc:  # a slow broker: go on, the measure needs steady traffic
                print(f"traffic: {type(exc).__name__}", flush=True)
            n += 1
            # ~20 events/s over the 12 partitions: well under what the instances apply, so a
            # taken-over partition is consumed again as soon as it is assigned
            await asyncio.sleep(0.5)

    times: list[float] = []
    feeding = asyncio.create_task(traffic())
    try:
        fleet.start("ticketing", 3)
        await fleet.ready()
        await bench.spread(admin, group, 3)
        for round_ in range(rounds):
            await asyncio.sleep(3)
            victim: Instance = fleet.of("ticketing")[0]
            killed = time.monotonic()
            victim.kill()
            # read after the kill: the dead instance's offsets are final (it committed until then)
            at_kill = {
                tp: o.offset
                for tp, o in (await admin.list_consumer_group_offsets(group)).items()
                if tp.topic == prefix + "office.requests"
            }
            if len(at_kill) != PARTITIONS:
                raise RuntimeError(f"{len(at_kill)} partitions with a committed offset, {PARTITIONS} expected")
            while True:
                now = await admin.list_consumer_group_offsets(group)
                if all(now[tp].offset > offset for tp, offset in at_kill.items()):
                    break
                if time.monotonic() - killed > 180:
                    left = sorted(tp.partition for tp, offset in at_kill.items() if now[tp].offset <= offset)
                    raise RuntimeError(f"partitions {left} not consumed again in 180 s")
                await asyncio.sleep(0.1)
            took = time.monotonic() - killed
            times.append(took)
            print(f"failover round {round_ + 1}: every partition consumed again {took:.1f} s after kill -9", flush=True)
            await fleet.ready(fleet.start("ticketing"))
            await bench.spread(admin, group, 3)
        return times
    finally:
        stop.set()
        await feeding
        fleet.stop()
        await producer.stop()
        await admin.close()
        await mongo.drop_database(f"{tag}_ticketing")
        await mongo.close()


async def run() -> None:
    parts = os.environ.get("CANOPEE_BENCH_SCALE_PARTS", "notifications,ticketing,failover").split(",")
    count = int(os.environ.get("CANOPEE_BENCH_SCALE_SMS", "900"))
    requests = int(os.environ.get("CANOPEE_BENCH_SCALE_EVENTS", "1200"))
    rounds = int(os.environ.get("CANOPEE_BENCH_SCALE_ROUNDS", "5"))
    with tempfile.TemporaryDirectory(prefix="canopee-bench-scale-") as folder:
        bench = Bench(Path(folder))
        print(
            f"Kafka {bench.settings.kafka_bootstrap} ({bench.settings.kafka_security_protocol}), "
            f"{PARTITIONS} partitions"
        )
        if "notifications" in parts:
            one = await notifications(bench, 1, count)
            three = await notifications(bench, 3, count)
            print(f"notifications: 3 instances / 1 instance = {three / one:.2f} (goal ≥ 2.5)", flush=True)
        if "ticketing" in parts:
            one = await ticketing(bench, 1, requests)
            three = await ticketing(bench, 3, requests)
            print(f"ticketing: 3 instances / 1 instance = {three / one:.2f}", flush=True)
        if "failover" in parts:
            times = await failover(bench, rounds)
            print(
                f"failover over {len(times)} rounds: p50 {statistics.median(times):.1f} s, max {max(times):.1f} s",
                flush=True,
            )


def main() -> Any:
    return run()


if __name__ == "__main__":
    asyncio.run(run())
