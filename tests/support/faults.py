"""Fault schedules against one notifications instance (a real process) on a private Kafka and
store (``deploy/local/infra.sh`` on free ports and a private folder), with a local SMS API and SMTP
server that count the calls per reference. Used by bench/outages.py.

A run: tenants' contacts first (half prefer SMS, half e-mail), then a steady stream of U1
``request.opened`` (one acknowledgement each, never deferred) while the schedule kills the store,
the broker or the instance (``kill -9``) and brings it back on its own data; then every message
must arrive, and the calls per reference tell the extra sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient
from starlette.responses import JSONResponse

from shared.bus import all_topics, create_topics
from shared.events import CONTENT_TYPE, full_type
from shared.producer import KafkaProducer, Record, Unavailable
from shared.store import make_client
from tests.support.http import running
from tests.support.notifications_fakes import SmsApi

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
OFFICE = "demo-nord"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_pair() -> int:
    """A port P with P+1 free too (Kafka's listener and its controller)."""
    import socket

    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@dataclass
class PrivateInfra:
    """Kafka and the store of ``deploy/local/infra.sh`` on free ports, data and PIDs under ``root``."""

    root: Path
    kafka_port: int = field(default_factory=free_pair)
    mongo_port: int = field(default_factory=free_port)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CANOPEE_INFRA_DATA": str(self.root / "data"),
            "CANOPEE_INFRA_RUN": str(self.root / "run"),
            "CANOPEE_KAFKA_PORT": str(self.kafka_port),
            "CANOPEE_KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "CANOPEE_KAFKA_SASL_PORT": "",
            "CANOPEE_MONGO_PORT": str(self.mongo_port),
            "CANOPEE_KAFKA_HEAP": "512m",
            "CANOPEE_INFRA_WAIT": os.environ.get("CANOPEE_INFRA_WAIT", "600"),  # a loaded machine
        }

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    def run(self, action: str) -> str:
        done = subprocess.run(
            ["bash", str(INFRA), action], env=self.env, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode not in (0, 3 if action == "status" else 0):
            raise RuntimeError(f"infra.sh {action} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr

    async def up(self) -> str:
        return await asyncio.to_thread(self.run, "up")

    async def down(self) -> str:
        return await asyncio.to_thread(self.run, "down")

    async def reset(self) -> str:
        return await asyncio.to_thread(self.run, "reset")

    def kill(self, name: str) -> None:
        """``kill -9`` of ``kafka`` or ``ferretdb`` by the PID infra.sh recorded."""
        pid = int((self.root / "run" / f"{name}.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.waitpid(pid, os.WNOHANG)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class _Mails:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.calls.record(str(parsed["X-Canopee-Reference"]))
        return "250 OK"


@dataclass
class Calls:
    """Every call the providers answered: reference → count, and when (monotonic)."""

    counts: Counter[str] = field(default_factory=Counter)
    times: list[tuple[float, str]] = field(default_factory=list)

    def record(self, reference: str) -> None:
        self.counts[reference] += 1
        self.times.append((time.monotonic(), reference))

    @property
    def extra(self) -> int:
        return sum(n - 1 for n in self.counts.values())

    def first_after(self, moment: float) -> float | None:
        return next((t for t, _ in self.times if t >= moment), None)


class CountingSmsApi(SmsApi):
    """The local SMS API, each answered call counted by reference."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    async def _messages(self, request: Any) -> Any:
        body = await request.json()
        self.calls.record(body["reference"])
        self.received.append(body)
        return JSONResponse({"id": f"sms-{len(self.received)}"}, status_code=201)


@dataclass
class Instance:
    """One notifications process (``canopee run notifications``), killed and restarted by PID."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = (sys.executable, "-m", "tools.cli", "run", "notifications")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                list(self.command),
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@dataclass
class Outcome:
    fault: str
    produced: int
    received: int
    lost: int
    extra: int
    #: per kill of the instance: sends answered by a provider and not recorded at that moment
    in_flight: list[int] = field(default_factory=list)
    #: per return of the store or broker: seconds until the first message reached a provider
    first_send: list[float] = field(default_factory=list)
    seconds: float = 0.0
    duplicated: set[str] = field(default_factory=set)
    in_flight_refs: set[str] = field(default_factory=set)

    @property
    def per_thousand(self) -> float:
        return 1000 * self.extra / max(1, self.produced)

    def line(self) -> str:
        text = (
            f"{self.fault:<9} produced {self.produced:>5}  lost {self.lost}  extra sends {self.extra:>3}"
            f" ({self.per_thousand:.1f} per 1,000)"
        )
        if self.in_flight:
            text += f"  in flight at the kills {self.in_flight} (sum {sum(self.in_flight)})"
        if self.first_send:
            text += "  first send after return " + ", ".join(f"{s:.2f} s" for s in self.first_send)
        return text + f"  [{self.seconds:.0f} s]"


class Stream:
    """``request.opened`` (U1) at ``rate`` per second, produced in small batches; what the broker
    does not acknowledge is produced again (a gateway's retry: same event ids)."""

    def __init__(self, kafka: str, prefix: str, tenants: list[str], rate: float) -> None:
        self.producer = KafkaProducer(kafka, timeout=3.0, reconnect_seconds=0.5, client_id="canopee-faults")
        self.topic = f"{prefix}office.requests"
        self.prefix = prefix
        self.tenants = tenants
        self.rate = rate
        self.produced = 0
        self.tag = uuid.uuid4().hex[:6]
        self._ends_at = 0.0

    def _opened(self, n: int) -> Record:
        tenant = self.tenants[n % len(self.tenants)]
        request = f"R-{self.tag}-{n}"
        event = {
            "specversion": "1.0",
            "id": f"opened-{self.tag}-{n}",
            "source": f"/offices/{OFFICE}/faults",
            "type": full_type("request.opened"),
            "subject": request,
            "time": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
            "officeid": OFFICE,
            "data": {
                "request_id": request,
                "tenant_ref": tenant,
                "category": "repair",
                "channel": "web",
                "urgency": "U1",
            },
        }
        return Record(
            self.topic, request.encode(), json.dumps(event).encode(), [("content-type", CONTENT_TYPE.encode())]
        )

    def end(self) -> None:
        """End the stream now: what is due so far still goes out."""
        self._ends_at = time.monotonic()

    async def run(self, seconds: float) -> None:
        """Produce for ``seconds`` (or until ``end``)."""
        start = time.monotonic()
        self._ends_at = start + seconds
        pending: list[Record] = []
        made = 0
        while True:
            seconds = self._ends_at - start
            elapsed = time.monotonic() - start
            due = min(int(elapsed * self.rate), int(seconds * self.rate))
            pending.extend(self._opened(n) for n in range(made, due))
            made = due
            if pending:
                try:
                    await self.producer.send(pending)
                    self.produced += len(pending)
                    pending = []
                except Unavailable:
                    await asyncio.sleep(0.5)
            if made >= int(seconds * self.rate) and not pending:
                break
            await asyncio.sleep(0.1)
        await self.producer.close()


async def produce_contacts(kafka: str, prefix: str, tenants: list[str]) -> None:
    producer = KafkaProducer(kafka, timeout=30.0, client_id="canopee-faults")
    records = []
    for n, tenant in enumerate(tenants):
        data = {
            "tenant_ref": tenant,
            "phone": f"+336{n:08d}",
            "email": f"t{n}@example.org",
            "preferred_channel": "sms" if n % 2 == 0 else "email",
        }
        event = {
            "specversion": "1.0",
            "id": f"contact-{tenant}",
            "source": f"/offices/{OFFICE}/faults",
            "type": full_type("tenant.contact_updated"),
            "subject": tenant,
            "time": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "officeid": OFFICE,
            "data": data,
        }
        headers = [("content-type", CONTENT_TYPE.encode())]
        records.append(Record(f"{prefix}office.tenants", tenant.encode(), json.dumps(event).encode(), headers))
    try:
        await producer.send(records)
    finally:
        await producer.close()


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await predicate():
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not in {timeout:.0f} s")


@dataclass
class Schedule:
    fault: str  # "store", "broker" or "instance"
    kills: int
    down: float  # seconds down (the instance: before its restart)
    up: float  # seconds up between two kills
    rate: float = 10.0
    tenants: int = 100
    lease: float = 8.0
    #: how long every message may take to arrive once the stream ended (a loaded machine is slow)
    finish: float = 180.0


@contextlib.asynccontextmanager
async def harness(infra: PrivateInfra, work: Path, lease: float) -> AsyncIterator[dict[str, Any]]:
    """A local SMS API and SMTP server, topics under a fresh prefix, and the instance's settings."""
    calls = Calls()
    sms = CountingSmsApi(calls)
    smtp_port, sms_port = free_port(), free_port()
    controller = Controller(_Mails(calls), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    tag = uuid.uuid4().hex[:8]
    prefix = f"f{tag}."
    await create_topics(infra.kafka, all_topics(prefix), partitions=3)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CANOPEE_KAFKA_BOOTSTRAP": infra.kafka,
        "CANOPEE_MONGO_URL": infra.mongo,
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_ADMIN_TOKEN": uuid.uuid4().hex,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_NOTIFICATIONS_PORT": str(free_port()),
        "CANOPEE_NOTIFICATIONS_MONGO_DB": f"f{tag}_notifications",
        "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{sms_port}",
        "CANOPEE_NOTIFICATIONS_SMS_BACKOFF_SECONDS": "0.1",
        # a loaded machine answers late: no provider timeout (a send whose answer is lost in a
        # timeout is retried by the adapter, a case of its own that these schedules do not test)
        "CANOPEE_NOTIFICATIONS_SMS_TIMEOUT_SECONDS": "120",
        "CANOPEE_NOTIFICATIONS_SMTP_TIMEOUT_SECONDS": "120",
        "CANOPEE_NOTIFICATIONS_SMS_RATE_PER_SECOND": "1000",
        "CANOPEE_NOTIFICATIONS_EMAIL_RATE_PER_SECOND": "1000",
        "CANOPEE_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "CANOPEE_NOTIFICATIONS_LEASE_SECONDS": str(lease),
        "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_SWEEP_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_RETRY_LATER_SECONDS": "2",
        "CANOPEE_NOTIFICATIONS_DIGEST_MINUTES": "0",
    }
    try:
        async with running(sms.app(), sms_port):
            yield {"calls": calls, "prefix": prefix, "env": env, "db": f"f{tag}_notifications"}
    finally:
        controller.stop()


async def run_schedule(infra: PrivateInfra, work: Path, schedule: Schedule) -> Outcome:
    """One fault schedule during a steady stream; the outcome (asserted by the caller)."""
    started = time.monotonic()
    async with harness(infra, work, schedule.lease) as h:
        calls: Calls = h["calls"]
        tenants = [f"T-{h['prefix'].strip('.')}-{n}" for n in range(schedule.tenants)]
        instance = Instance(h["env"], work / f"notifications-{schedule.fault}.log")
        mongo: AsyncMongoClient[Any] = make_client(infra.mongo)
        db = mongo[h["db"]]
        instance.start()
        try:
            await produce_contacts(infra.kafka, h["prefix"], tenants)

            async def contacts_known() -> bool:
                return await db.contacts.count_documents({}) >= len(tenants)

            await wait_until(contacts_known, 90, "contacts recorded")
            cycle = schedule.down + schedule.up
            stream = Stream(infra.kafka, h["prefix"], tenants, schedule.rate)
            # the stream goes on until ``up`` seconds after the last return (a restart takes a while)
            streaming = asyncio.create_task(stream.run(10 * (schedule.up + schedule.kills * cycle) + 600))
            outcome = Outcome(schedule.fault, 0, 0, 0, 0)
            for _ in range(schedule.kills):
                await asyncio.sleep(schedule.up)
                if schedule.fault == "instance":
                    instance.kill()
                    await asyncio.sleep(schedule.down)
                    # nothing writes to the store until the restart: what the dead instance held, and
                    # of it what a provider answered (a call under way at the kill may end after it)
                    answered = set(calls.counts)
                    held = {d["_id"] async for d in db.notifications.find({"status": "sending"}, {"_id": 1})}
                    outcome.in_flight.append(len(answered & held))
                    outcome.in_flight_refs |= answered & held
                    instance.start()
                else:
                    name = "ferretdb" if schedule.fault == "store" else "kafka"
                    infra.kill(name)
                    await asyncio.sleep(schedule.down)
                    await infra.up()
                    back = time.monotonic()
                    outcome.first_send.append(-back)
            await asyncio.sleep(schedule.up)
            stream.end()
            await streaming
            produced = stream.produced
            try:
                await wait_until(_returns(lambda: len(calls.counts) >= produced), schedule.finish, "every message sent")
            except AssertionError as exc:
                statuses = Counter([d["status"] async for d in db.notifications.find({}, {"status": 1})])
                missing = [d async for d in db.notifications.find({"_id": {"$nin": list(calls.counts)}}).limit(3)]
                raise AssertionError(
                    f"{exc}: produced {produced}, received {len(calls.counts)}, log {dict(statuses)}, "
                    f"missing e.g. {[(d['_id'], d['status'], d.get('attempts')) for d in missing]}"
                ) from None
            await asyncio.sleep(schedule.lease * 1.5 + 3)  # past leases and takeovers: any re-send shows
        finally:
            instance.stop()
            await mongo.close()
        for i, moment in enumerate(outcome.first_send):
            first = calls.first_after(-moment)
            outcome.first_send[i] = (first + moment) if first is not None else float("nan")
        outcome.produced = produced
        outcome.received = len(calls.counts)
        outcome.lost = max(0, produced - len(calls.counts))
        outcome.extra = calls.extra
        outcome.duplicated = {r for r, n in calls.counts.items() if n > 1}
        outcome.seconds = time.monotonic() - started
        return outcome


def _returns(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def predicate() -> bool:
        return check()

    return predicate
