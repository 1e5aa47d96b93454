"""``canopee chaos``: the whole system under faults and load, then the proof of what it did.

It starts a private Kafka and store (``deploy/local/infra.sh`` on its own ports and data folder,
emptied first), the five services as processes, a local SMS API and SMTP server; sends the four
offices' simulated traffic (``--events``, 50,000 by default: the last days, so part of it is live
and acted on) through the gateway and straight to Kafka, shuffled within windows, some events late
and some sent twice; while that runs, the fault schedule (``FAULTS``): each consuming service
``kill -9``'d five times and restarted, the broker ``kill -9``'d and restarted, the store stopped
30 s, the SMS API answering 500 for 2 minutes, the SMTP server down 1 minute. Then it waits for the
system to settle and checks (``tools.chaos_check``), prints the figures and exits 1 on any
difference. Then, on the same private infrastructure, the fuzzers with the full count
(``--fuzz-cases``, 10,000: generated requests per HTTP API, hostile records per Kafka topic; the
tests run by pytest, ``FUZZ_TESTS``); ``--fuzz-only`` runs only them. The recording
(``chaos-recording.json``), the fuzzers' figures (``fuzz-report.jsonl``, ``fuzz.log``) and the logs
stay in ``--dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from shared.events import parse_event
from shared.offices import hash_key
from tools.chaos_check import check
from tools.chaos_kpis import kind
from tools.sending import GatewaySender, KafkaSender, demo_keys
from tools.simulator import SimulatorConfig, generate

if TYPE_CHECKING:  # the fakes need aiosmtpd, a development tool: imported when a run starts
    from tools.chaos_fakes import SmsApi, SmtpServer

SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")
CONSUMERS = ("ticketing", "notifications", "feedback", "analytics")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
#: homes managed per office (the offices file's ``housing_stock``: indicators per 1,000 homes)
HOUSING_STOCK = dict(zip(OFFICES, (18_500, 9_200, 31_000, 6_400), strict=True))
ROOT = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")
HORIZON_HOURS = 48.0
#: days of simulated history the traffic spans (the last two are within the horizon: acted on)
HISTORY_DAYS = 5
#: events per request the simulator makes over a few days (measured; the rate is set from it)
EVENTS_PER_REQUEST = 6.0
SERVICE_TOPICS = ("ticketing.sla", "feedback.surveys", "feedback.ratings", "notifications.outcomes")
#: the fuzzers (development tests: pytest, Schemathesis), run with ``CANOPEE_FUZZ_CASES``
FUZZ_TESTS = (
    "tests/gateway/test_gateway_schemathesis.py",
    "tests/shared/test_schemathesis_services.py",
    "tests/chaos/test_kafka_fuzz.py",
)


@dataclass
class Settings:
    directory: Path
    events: int
    traffic_seconds: float
    settle_seconds: float
    kafka_port: int
    mongo_port: int
    base_port: int
    seed: int
    duplicates: float = 0.03
    late: float = 0.01
    faults: bool = True
    fuzz_cases: int = 10_000
    fuzz_only: bool = False
    #: only the fuzz tests this pytest ``-k`` expression selects (None: all of them)
    fuzz_select: str | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {name: self.base_port + i for i, name in enumerate(SERVICES)}

    @property
    def sms_port(self) -> int:
        return self.base_port + 10

    @property
    def smtp_port(self) -> int:
        return self.base_port + 25


@dataclass
class Run:
    settings: Settings
    env: dict[str, str]
    infra_env: dict[str, str]
    sms: SmsApi
    smtp: SmtpServer
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def log(self, line: str) -> None:
        stamp = f"{time.monotonic() - self.started:6.1f}s"
        print(f"[chaos {stamp}] {line}", flush=True)

    def fault(self, line: str) -> None:
        self.faults.append(f"{time.monotonic() - self.started:.0f}s {line}")
        self.log(line)

    # --- processes ---------------------------------------------------------------------------
    def start(self, name: str) -> None:
        log = (self.settings.directory / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "tools.cli", "run", name],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()

    def kill9(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    async def ready(self, name: str, timeout: float = 180) -> None:
        url = f"http://127.0.0.1:{self.settings.ports[name]}/health/ready"
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} stopped; see {self.settings.directory / (name + '.log')}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.5)
        raise RuntimeError(f"{name} not ready after {timeout} s")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def infra(self, action: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "deploy/local/infra.sh"),
            action,
            env=self.infra_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"infra.sh {action} failed: {out.decode(errors='replace')[-2000:]}")

    def infra_pid(self, name: str) -> int:
        return int((Path(self.infra_env["CANOPEE_INFRA_RUN"]) / f"{name}.pid").read_text().strip())


def offices_file(path: Path) -> Path:
    """The demo offices, texts allowed at any hour (the run must not depend on the clock)."""
    blocks = [
        f"""[[office]]
id = "{office}"
name = "Office {office}"
sender_name = "Office"
api_key_sha256 = ["{hash_key(f"{office}-demo-key")}"]
alert_emails = ["astreinte@{office}.example.org"]
manager_emails = ["direction@{office}.example.org"]
history_horizon_hours = {HORIZON_HOURS}
housing_stock = {HOUSING_STOCK[office]}

[office.quiet_hours]
start = "00:00:00"
end = "23:59:59"
days = [1, 2, 3, 4, 5, 6, 7]
public_holidays = true
"""
        for office in OFFICES
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


# --- traffic -----------------------------------------------------------------------------------
def traffic(events: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    """At least ``events`` simulated events of the four offices over the last ``HISTORY_DAYS`` days,
    none after ``now``: the rate is raised until enough of them fall in the window."""
    start = now - timedelta(days=HISTORY_DAYS)
    rate = 1.1 * events / (len(OFFICES) * HISTORY_DAYS * EVENTS_PER_REQUEST)
    while True:
        config = SimulatorConfig(seed=seed, offices=OFFICES, start=start, requests_per_day=rate)
        out: list[dict[str, Any]] = []
        for event in generate(config):
            if datetime.fromisoformat(event["time"]) > now or len(out) >= events:
                break
            out.append(event)
        if len(out) >= events:
            return out
        rate *= 1.1 * events / max(1, len(out))


def delivery_plan(events: list[dict[str, Any]], seed: int, duplicates: float, late: float) -> list[list[Any]]:
    """Batches of (event, via) in the order they go out: the events shuffled within windows of 400,
    a share of them held back several windows (late), a share sent a second time later through the
    other path. ``via`` is ``gateway`` or ``kafka``."""
    rng = random.Random(seed)
    window = 400
    batches: list[list[Any]] = []
    held: list[tuple[int, Any]] = []
    for n, start in enumerate(range(0, len(events), window)):
        chunk = [(e, rng.choice(("gateway", "kafka"))) for e in events[start : start + window]]
        rng.shuffle(chunk)
        keep = []
        for item in chunk:
            if rng.random() < late:
                held.append((n + rng.randint(2, 6), item))
            else:
                keep.append(item)
            if rng.random() < duplicates:
                again = (item[0], "kafka" if item[1] == "gateway" else "gateway")
                held.append((n + rng.randint(0, 4), again))
        due = [item for at, item in held if at <= n]
        held = [(at, item) for at, item in held if at > n]
        batches.append(keep + due)
    if held:
        batches.append([item for _, item in held])
    return [b[i : i + 100] for b in batches for i in range(0, len(b), 100)]


@dataclass
class Sent:
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    via: dict[str, int] = field(default_factory=lambda: {"gateway": 0, "kafka": 0})
    again: int = 0
    refused: list[str] = field(default_factory=list)


async def send_traffic(run: Run, plan: list[list[Any]], seconds: float, out: Sent) -> None:
    settings = run.settings
    gateway = GatewaySender(f"http://127.0.0.1:{settings.ports['gateway']}", demo_keys(OFFICES), batch=100)
    kafka: KafkaSender | None = None
    pace = seconds / max(1, len(plan))
    t0 = time.monotonic()
    try:
        for n, batch in enumerate(plan):
            wait = t0 + n * pace - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            for via in ("gateway", "kafka"):
                items = [e for e, v in batch if v == via]
                if not items:
                    continue
                cloud = [parse_event(json.dumps(e, ensure_ascii=False)) for e in items]
                while True:
                    try:
                        if via == "gateway":
                            report = await gateway.send(cloud)
                            out.refused += [f"{i}: {r}" for i, r in report.refused]
                            refused = {i for i, _ in report.refused}
                            items = [e for e in items if e["id"] not in refused]
                        else:
                            if kafka is None:
                                kafka = KafkaSender(run.env["CANOPEE_KAFKA_BOOTSTRAP"])
                            await kafka.send(cloud)
                        break
                    except Exception as exc:  # retried until accepted
                        run.log(f"sending via {via} failed ({type(exc).__name__}); retrying")
                        if via == "kafka" and kafka is not None:
                            with contextlib.suppress(Exception):
                                await kafka.close()
                            kafka = None
                        await asyncio.sleep(2)
                for event in items:
                    if event["id"] in out.accepted:
                        out.again += 1
                    out.accepted[event["id"]] = event
                    out.via[via] += 1
    finally:
        await gateway.close()
        if kafka is not None:
            await kafka.close()


# --- faults ------------------------------------------------------------------------------------
async def fault_schedule(run: Run, seconds: float) -> None:
    """Every fault of the issue inside ``seconds`` of traffic (relative times scale with it)."""
    t0 = time.monotonic()

    async def at(fraction: float) -> None:
        wait = t0 + fraction * seconds - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def kills() -> None:
        for i in range(len(CONSUMERS) * 5):
            await at(0.03 + 0.9 * i / (len(CONSUMERS) * 5))
            name = CONSUMERS[i % len(CONSUMERS)]
            run.kill9(name)
            run.fault(f"kill -9 {name} ({i // len(CONSUMERS) + 1}/5)")
            await asyncio.sleep(1)
            run.start(name)

    async def sends_begun(received: list[Any], until: float) -> None:
        """A provider fault must meet sends: under load notifications may start them late."""
        for _ in range(int(until * seconds)):
            if len(received) >= 10 or time.monotonic() > t0 + until * seconds:
                return
            await asyncio.sleep(1)

    async def sms() -> None:
        await at(0.12)
        await sends_begun(run.sms.received, 0.6)
        run.sms.failing = True
        run.fault("SMS API answers 500")
        await asyncio.sleep(120)
        run.sms.failing = False
        run.fault(f"SMS API back ({run.sms.refused} requests answered 500)")

    async def smtp() -> None:
        await at(0.45)
        await sends_begun(run.smtp.received, 0.8)
        run.smtp.down()
        run.fault("SMTP server down")
        await asyncio.sleep(60)
        run.smtp.up()
        run.fault("SMTP server back")

    async def infrastructure() -> None:
        await at(0.25)
        os.kill(run.infra_pid("kafka"), signal.SIGKILL)
        run.fault("kill -9 the broker")
        await asyncio.sleep(3)
        await run.infra("up")
        run.fault("broker restarted")
        await at(0.6)
        os.kill(run.infra_pid("ferretdb"), signal.SIGTERM)
        run.fault("store stopped")
        await asyncio.sleep(30)
        await run.infra("up")
        run.fault("store restarted")

    await asyncio.gather(kills(), sms(), smtp(), infrastructure())


# --- what the system did -----------------------------------------------------------------------
async def stored_keys(mongo_url: str) -> dict[str, list[str]]:
    from shared.store import make_client

    client = make_client(mongo_url)
    keys: dict[str, list[str]] = {name: [] for name in CONSUMERS}
    try:
        db = client["chaos_ticketing"]
        keys["ticketing"] = [f"event:{d['id']}" async for d in db["request_events"].find({}, {"id": 1})]
        db = client["chaos_analytics"]
        keys["analytics"] = [f"event:{d['_id']}" async for d in db["events"].find({}, {"_id": 1})]
        db = client["chaos_notifications"]
        keys["notifications"] = [
            f"request:{d['office']}|{d['request_id']}"
            async for d in db["requests"].find({}, {"office": 1, "request_id": 1})
        ]
        keys["notifications"] += [
            "tenant:{}|{}".format(*str(d["_id"]).split("/", 1)) async for d in db["contacts"].find({}, {"_id": 1})
        ]
        db = client["chaos_feedback"]
        keys["feedback"] = [
            f"request:{d['office']}|{d['request_id']}"
            async for d in db["requests"].find({}, {"office": 1, "request_id": 1})
        ]
    finally:
        await client.close()
    return keys


class BusReader:
    """Reads the service topics and every dead-letter topic from the beginning, continuously."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.events: dict[str, dict[str, Any]] = {}
        self.dead: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer

        from shared.bus import DLQ_REASON, SERVICE_GROUPS

        topics = [*SERVICE_TOPICS, *(f"dlq.{g}" for g in SERVICE_GROUPS)]
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        try:
            while True:
                for part, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        if part.topic.startswith("dlq."):
                            headers = {k: v.decode(errors="replace") for k, v in record.headers}
                            self.dead.append({"group": part.topic[4:], "reason": headers.get(DLQ_REASON)})
                            continue
                        with contextlib.suppress(ValueError, TypeError):
                            event = json.loads(record.value)
                            if not str(event.get("source", "")).startswith("/services/"):
                                continue
                            self.events[str(event["id"])] = event
        finally:
            await consumer.stop()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Records each consuming service's group has yet to commit, over every topic it reads."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, int] = {}
        for group in CONSUMERS:
            offsets = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(offsets)) if offsets else {}
            lag[group] = sum(max(0, ends[tp] - meta.offset) for tp, meta in offsets.items() if meta.offset >= 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def kpis(run: Run, first: datetime) -> dict[str, Any]:
    url = f"http://127.0.0.1:{run.settings.ports['analytics']}/v1/kpis"
    params = {
        "from": (first.astimezone(PARIS).date() - timedelta(days=1)).isoformat(),
        "to": datetime.now(PARIS).date().isoformat(),
        "period": "month",
    }
    headers = {"Authorization": f"Bearer {run.env['CANOPEE_ADMIN_TOKEN']}"}
    async with httpx.AsyncClient(timeout=600) as client:
        response = await client.get(url, params=params, headers=headers)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


async def record(run: Run, sent: Sent, bus: BusReader, traffic_started: datetime) -> dict[str, Any]:
    events = list(sent.accepted.values())
    first = min(datetime.fromisoformat(e["time"]) for e in events)
    return {
        "offices": list(OFFICES),
        "housing_stock": dict(HOUSING_STOCK),
        "traffic_started": traffic_started.isoformat(),
        "horizon_hours": HORIZON_HOURS,
        "sent": events,
        "via_gateway": sent.via["gateway"],
        "via_kafka": sent.via["kafka"],
        "duplicates_sent": sent.again,
        "refused": sent.refused,
        "stored": await stored_keys(run.env["CANOPEE_MONGO_URL"]),
        "sms": list(run.sms.received),
        "mails": list(run.smtp.received),
        "service_events": list(bus.events.values()),
        "dead_letters": list(bus.dead),
        "expected_dead_letters": 0,
        "kpis": await kpis(run, first),
        "faults": run.faults,
    }


# --- the fuzzers -------------------------------------------------------------------------------
async def fuzz(run_log: Callable[[str], None], settings: Settings) -> int:
    """The fuzz tests (``FUZZ_TESTS``) with ``--fuzz-cases`` on the run's own Kafka and store (each
    test on its own topics and databases); their figures printed from ``fuzz-report.jsonl``."""
    report = settings.directory / "fuzz-report.jsonl"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANOPEE_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "CANOPEE_KAFKA_BOOTSTRAP": f"127.0.0.1:{settings.kafka_port}",
        "CANOPEE_MONGO_URL": f"mongodb://127.0.0.1:{settings.mongo_port}",
        "CANOPEE_FUZZ_CASES": str(settings.fuzz_cases),
        "CANOPEE_FUZZ_REPORT": str(report),
    }
    run_log(f"fuzzers: {settings.fuzz_cases} cases per HTTP API and per Kafka topic (log: fuzz.log)")
    started = time.monotonic()
    with (settings.directory / "fuzz.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *FUZZ_TESTS,
            *(("-k", settings.fuzz_select) if settings.fuzz_select else ()),
            env=env, cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            proc.terminate()
            await proc.wait()
            raise
    print("Fuzzers:")
    for line in report.read_text(encoding="utf-8").splitlines() if report.exists() else []:
        print(f"  {line}")
    verdict = "OK" if code == 0 else f"FAILED (pytest exit {code}; see {settings.directory / 'fuzz.log'})"
    print(f"  {verdict} in {time.monotonic() - started:.0f} s")
    return 0 if code == 0 else 1


async def fuzz_only(settings: Settings) -> int:
    """``--fuzz-only``: the private infrastructure, the fuzzers, nothing else."""
    settings.directory.mkdir(parents=True, exist_ok=True)
    _, infra_env = environment(settings)
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[chaos {time.monotonic() - started:6.1f}s] {line}", flush=True)

    async def infra(action: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "deploy/local/infra.sh"), action,
            env=infra_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"infra.sh {action} failed: {out.decode(errors='replace')[-2000:]}")

    try:
        await infra("reset")
        await infra("up")
        log("infrastructure up")
        return await fuzz(log, settings)
    finally:
        with contextlib.suppress(Exception):
            await infra("down")


# --- the run -----------------------------------------------------------------------------------
def environment(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    data = settings.directory / "infra"
    infra = {
        **os.environ,
        "CANOPEE_INFRA_DATA": str(data / "data"),
        "CANOPEE_INFRA_RUN": str(data / "run"),
        "CANOPEE_KAFKA_PORT": str(settings.kafka_port),
        "CANOPEE_KAFKA_CONTROLLER_PORT": str(settings.kafka_port + 1),
        "CANOPEE_KAFKA_SASL_PORT": "",
        "CANOPEE_MONGO_PORT": str(settings.mongo_port),
        "CANOPEE_INFRA_WAIT": os.environ.get("CANOPEE_INFRA_WAIT", "600"),
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CANOPEE_KAFKA_BOOTSTRAP": f"127.0.0.1:{settings.kafka_port}",
        "CANOPEE_MONGO_URL": f"mongodb://127.0.0.1:{settings.mongo_port}",
        "CANOPEE_TOPIC_PREFIX": "",
        "CANOPEE_OFFICES_FILE": str(offices_file(settings.directory / "offices.toml")),
        "CANOPEE_ADMIN_TOKEN": "chaos-admin-token-0123456789abcdef0123456789",
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_NOTIFICATIONS_SMS_PROVIDER": "http",
        "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{settings.sms_port}",
        "CANOPEE_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "CANOPEE_NOTIFICATIONS_SMTP_PORT": str(settings.smtp_port),
        "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "2",
        "CANOPEE_NOTIFICATIONS_SWEEP_SECONDS": "10",
        "CANOPEE_NOTIFICATIONS_RETRY_LATER_SECONDS": "10",
        "CANOPEE_NOTIFICATIONS_DIGEST_MINUTES": "0",
        "CANOPEE_NOTIFICATIONS_CONTACT_WAIT_SECONDS": "30",
        "CANOPEE_NOTIFICATIONS_SMS_RATE_PER_SECOND": "200",
        "CANOPEE_NOTIFICATIONS_EMAIL_RATE_PER_SECOND": "100",
        "CANOPEE_FEEDBACK_FORM_SECRET": "chaos-form-secret-0123456789abcdef0123456789",
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": f"http://127.0.0.1:{settings.ports['feedback']}",
        "CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS": "1",
        "CANOPEE_TICKETING_SWEEP_SECONDS": "5",
        "CANOPEE_GATEWAY_RATE_PER_SECOND": "100000",
        "CANOPEE_GATEWAY_RATE_BURST": "100000",
    }
    for name, port in settings.ports.items():
        env[f"CANOPEE_{name.upper()}_PORT"] = str(port)
        env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"chaos_{name}"
    return env, infra


async def chaos(settings: Settings, on_record: Callable[[dict[str, Any]], None] | None = None) -> int:
    settings.directory.mkdir(parents=True, exist_ok=True)
    from tools.chaos_fakes import SmsApi, SmtpServer

    env, infra_env = environment(settings)
    run = Run(settings, env, infra_env, SmsApi(settings.sms_port), SmtpServer(settings.smtp_port))
    now = datetime.now(UTC).replace(microsecond=0)
    events = traffic(settings.events, settings.seed, now - timedelta(minutes=1))
    plan = delivery_plan(events, settings.seed, settings.duplicates, settings.late)
    run.log(f"{len(events)} events generated ({sum(len(b) for b in plan)} deliveries planned)")
    bus = BusReader(env["CANOPEE_KAFKA_BOOTSTRAP"])
    try:
        await run.infra("reset")
        await run.infra("up")
        run.log("infrastructure up")
        created = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tools.cli", "topics", "create"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(created.stderr.decode(errors="replace"))
        await run.sms.start()
        run.smtp.up()
        for name in SERVICES:
            run.start(name)
        for name in SERVICES:
            await run.ready(name)
        run.log("five services ready; traffic and faults start")
        sent = Sent()
        traffic_started = datetime.now(UTC)
        jobs = [send_traffic(run, plan, settings.traffic_seconds, sent)]
        if settings.faults:
            jobs.append(fault_schedule(run, settings.traffic_seconds))
        await asyncio.gather(*jobs)
        run.log(f"traffic sent: {len(sent.accepted)} events accepted; waiting for the system to settle")
        for name in SERVICES:
            if run.processes[name].poll() is not None:
                run.log(f"{name} had stopped; restarting it")
                run.start(name)
            await run.ready(name)
        bus.start()
        deadline = time.monotonic() + settings.settle_seconds
        while time.monotonic() < deadline:
            behind = await consumer_lag(env["CANOPEE_KAFKA_BOOTSTRAP"])
            run.log(f"consumer lag: {behind}")
            if not any(behind.values()):
                break
            await asyncio.sleep(15)
        while True:
            await asyncio.sleep(10)
            try:
                rec = await record(run, sent, bus, traffic_started)
            except (httpx.HTTPError, OSError) as exc:
                if time.monotonic() > deadline:
                    run.log(f"the indicators did not answer ({type(exc).__name__}) by the settle deadline")
                    print("FAILED: the indicators of /v1/kpis did not answer; nothing was checked")
                    return 1
                run.log(f"the indicators did not answer ({type(exc).__name__}); asking again")
                continue
            verdict = check(rec)
            if verdict.ok or time.monotonic() > deadline:
                break
            run.log(f"not settled yet: {len(verdict.problems)} differences, e.g. {verdict.problems[0][:200]}")
        (settings.directory / "chaos-recording.json").write_text(json.dumps(rec, ensure_ascii=False))
        if on_record is not None:
            on_record(rec)
        print()
        print("Faults:")
        for line in run.faults:
            print(f"  {line}")
        print("Checks:")
        for line in verdict.lines:
            print(f"  {line}")
        if verdict.retries:
            print(f"Same-reference provider retries (reported apart): {len(verdict.retries)}")
            for line in verdict.retries[:10]:
                print(f"  {line}")
        if verdict.problems:
            print(f"FAILED: {len(verdict.problems)} differences")
            for line in verdict.problems:
                print(f"  {line}")
        else:
            print(f"OK in {time.monotonic() - run.started:.0f} s")
        fuzzed = 0
        if settings.fuzz_cases:
            await bus.stop()
            run.stop_all()
            fuzzed = await fuzz(run.log, settings)
        return 1 if verdict.problems or fuzzed else 0
    finally:
        await bus.stop()
        run.stop_all()
        run.smtp.down()
        await run.sms.stop()
        with contextlib.suppress(Exception):
            await run.infra("down")


async def _until_signalled(settings: Settings) -> int:
    """The run, cancelled (so that it stops what it started) on SIGTERM or SIGINT."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await (fuzz_only(settings) if settings.fuzz_only else chaos(settings))
    except asyncio.CancelledError:
        print("chaos: interrupted; what it started is stopped", file=sys.stderr)
        return 130


def _chaos(args: argparse.Namespace) -> int:
    settings = Settings(
        directory=Path(args.dir).resolve(),
        events=args.events,
        traffic_seconds=args.traffic_seconds,
        settle_seconds=args.settle_seconds,
        kafka_port=args.kafka_port,
        mongo_port=args.mongo_port,
        base_port=args.base_port,
        seed=args.seed,
        faults=not args.no_faults,
        fuzz_cases=args.fuzz_cases,
        fuzz_only=args.fuzz_only,
        fuzz_select=args.fuzz_select,
    )
    if settings.fuzz_only and not settings.fuzz_cases:
        raise SystemExit("--fuzz-only needs --fuzz-cases above 0")
    return asyncio.run(_until_signalled(settings))


def register(subparsers: Any) -> None:
    """Add ``canopee chaos`` to the ``canopee`` command."""
    parser = subparsers.add_parser(
        "chaos", help="the whole system on private infrastructure under load and faults, then checked (make chaos)"
    )
    parser.add_argument("--events", type=int, default=50_000, help="office events to send (default 50,000)")
    parser.add_argument("--traffic-seconds", type=float, default=420, help="how long the traffic and faults last")
    parser.add_argument("--settle-seconds", type=float, default=600, help="how long to wait for the checks to pass")
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("CANOPEE_CHAOS_KAFKA_PORT", "39092")))
    parser.add_argument("--mongo-port", type=int, default=int(os.environ.get("CANOPEE_CHAOS_MONGO_PORT", "37017")))
    parser.add_argument(
        "--base-port",
        type=int,
        default=int(os.environ.get("CANOPEE_CHAOS_BASE_PORT", "38000")),
        help="services on base..base+4, SMS API base+10, SMTP base+25",
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--no-faults", action="store_true", help="the same run without the fault schedule")
    parser.add_argument(
        "--fuzz-cases",
        type=int,
        default=10_000,
        help="after the checks, the fuzzers on the same infrastructure: generated requests per HTTP API and "
        "hostile records per Kafka topic (default 10,000; 0: no fuzzing; needs the development tools)",
    )
    parser.add_argument("--fuzz-only", action="store_true", help="only the fuzzers, on the private infrastructure")
    parser.add_argument(
        "--fuzz-select",
        metavar="EXPR",
        help="only the fuzz tests this pytest -k expression selects, e.g. "
        "'ticketing or notifications' (the tests are in tools/chaos.py FUZZ_TESTS)",
    )
    parser.add_argument("--dir", default=".local/chaos", help="infrastructure data, logs and the recording")
    parser.set_defaults(func=_chaos)


__all__ = ["kind", "register"]
