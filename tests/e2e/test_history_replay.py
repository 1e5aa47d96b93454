"""End to end: a replay of three days of history into fresh databases acts on nobody.

The four consuming services run as processes (``canopee run``) on fresh topics and databases, with a
local SMS API and SMTP server as in test_demo_day. Three days of the simulated offices' events, all
older than the 48-hour history horizon, are replayed onto the topics: no SMS, no e-mail (tenant or
office), no ``survey.requested``; every notification decided is suppressed with reason ``stale``.

Analytics must still show what happened. The reference is the same events delivered live: the same
replay into a second set of fresh databases whose offices have a horizon longer than the history's
age, so for them every cause is live (messages sent, surveys created, alerts e-mailed). Same events,
same times, so the same periods and clocks: every indicator computed from the offices' facts must be
equal; only those counting what was sent (follow-up coverage, notifications, SMS segments, surveys
sent, detractor alerts) differ by design. The live delivery is also the control that the services
would have acted, had the history been live.

The history holds only requests whose events all fall inside the three days (opened, handled and
closed, rating included): a request left open at the end of a history would have clocks running out
within the last 48 hours, whose alerts are live by the same rule.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events import CloudEvent, SlaBreached, full_type, parse_event
from shared.offices import hash_key
from tests.conftest import ADMIN_TOKEN, free_port
from tests.e2e.test_demo_day import eventually, services, sms_api, smtp_server
from tests.support.http import running
from tests.support.kafka import create_all_topics, produce_events, read_topic
from tools.simulator import SimulatorConfig, generate

pytestmark = pytest.mark.e2e

CONSUMERS = ("ticketing", "notifications", "feedback", "analytics")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
FORM_SECRET = "e2e-form-secret-0123456789abcdef0123456789"
HORIZON_HOURS = 48
SEED = 31
RATINGS = (5, 4, 1, 5, 4, 2, 5, 3, 4, 5)
NPS = {5: 10, 4: 8, 3: 6, 2: 3, 1: 0}
#: the history ends this long before now: older than the horizon, with a margin for the test's run
CUT_BEFORE_NOW = timedelta(hours=HORIZON_HOURS + 3)
HISTORY = timedelta(days=3)
#: indicators that count what was sent or raised towards people: zero for a history, by design
#: the indicators must not change for this long to be read: breaches found late are published by
#: ticketing's sweep, a few seconds after the requests were counted
STABLE_SECONDS = 15
HISTORY_METRIC = "canopee_notifications_history_total{"
ACTED = ("follow_up_coverage_pct", "notifications", "sms_segments", "survey_response", "closed_loop")


def offices_file(path: Path, horizon_hours: float) -> Path:
    """The demo offices, SMS allowed at any hour (the test does not depend on the clock)."""
    blocks = [
        f"""[[office]]
id = "{office}"
name = "Office {office}"
sender_name = "Office"
api_key_sha256 = ["{hash_key(f"{office}-demo-key")}"]
alert_emails = ["astreinte@{office}.example.org"]
manager_emails = ["direction@{office}.example.org"]
history_horizon_hours = {horizon_hours}

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


def history(now: datetime) -> list[dict[str, Any]]:
    """Three days of the four offices ending ``CUT_BEFORE_NOW`` ago: the requests closed by the end of
    the three days (no clock still running) with all their events, and their tenants' events."""
    cut = (now - CUT_BEFORE_NOW).timestamp()
    config = SimulatorConfig(seed=SEED, offices=OFFICES, start=now - CUT_BEFORE_NOW - HISTORY, requests_per_day=150)
    by_request: dict[str, list[dict[str, Any]]] = {}
    closed: set[str] = set()
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for event in generate(config):
        if datetime.fromisoformat(event["time"]).timestamp() > cut:
            break
        request = event["data"].get("request_id")
        if request is None:
            by_tenant.setdefault(event["subject"], []).append(event)
            continue
        by_request.setdefault(request, []).append(event)
        if event["type"].endswith("request.closed.v1"):
            closed.add(request)
        elif event["type"].endswith("request.reopened.v1"):
            closed.discard(request)
    kept = [e for request in sorted(closed) for e in by_request[request]]
    kept += phone_ratings([by_request[request] for request in sorted(closed)], cut)
    tenants = {e["data"]["tenant_ref"] for e in kept if "tenant_ref" in e["data"]}
    return sorted([e for t in tenants for e in by_tenant.get(t, [])] + kept, key=lambda e: e["time"])


def phone_ratings(requests: list[list[dict[str, Any]]], cut: float) -> list[dict[str, Any]]:
    """The offices' phone ratings of one closed request in three, two hours after its closing, a few
    of them detractors (the simulator's own come days after closing: rarely inside three days)."""
    ratings = []
    for n, events in enumerate(requests[::3]):
        opened = events[0]
        closed = next(e for e in reversed(events) if e["type"].endswith("request.closed.v1"))
        when = datetime.fromisoformat(closed["time"]) + timedelta(hours=2)
        if when.timestamp() > cut:
            continue
        score = RATINGS[n % len(RATINGS)]
        data = {"request_id": opened["data"]["request_id"], "tenant_ref": opened["data"]["tenant_ref"]}
        data |= {"score": score, "channel": "phone", "nps": NPS[score]}
        if score <= 2:
            data["comment"] = "Personne ne m'a rappelé"
        rating = {**closed, "id": f"{closed['id']}-rating", "type": full_type("satisfaction.rated")}
        ratings.append(rating | {"time": when.isoformat(), "data": data})
    return ratings


@dataclass
class Outcome:
    """What one delivery of the history produced."""

    kpis: dict[str, Any]
    sms: list[dict[str, Any]]
    mails: list[bytes]
    survey_requests: int
    audit: list[dict[str, Any]] = field(default_factory=list)
    #: notifications' count of messages suppressed because their cause is history
    history_counted: float = 0.0
    #: ticketing's sla.breached events on the bus, by stage
    breaches: Counter[str] = field(default_factory=Counter)


def _env(
    infra: dict[str, str], prefix: str, ports: dict[str, int], offices: Path, sms: int, smtp: int
) -> dict[str, str]:
    env = {
        **os.environ,
        "CANOPEE_KAFKA_BOOTSTRAP": infra["kafka"],
        "CANOPEE_MONGO_URL": infra["mongo"],
        "CANOPEE_TOPIC_PREFIX": prefix,
        "CANOPEE_OFFICES_FILE": str(offices),
        "CANOPEE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANOPEE_LOG_LEVEL": "WARNING",
        "CANOPEE_RETRY_BASE_SECONDS": "0.05",
        "CANOPEE_NOTIFICATIONS_SMS_PROVIDER": "http",
        "CANOPEE_NOTIFICATIONS_SMS_BASE_URL": f"http://127.0.0.1:{sms}",
        "CANOPEE_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "CANOPEE_NOTIFICATIONS_SMTP_PORT": str(smtp),
        "CANOPEE_NOTIFICATIONS_DISPATCH_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_SWEEP_SECONDS": "0.5",
        "CANOPEE_NOTIFICATIONS_CONTACT_WAIT_SECONDS": "5",
        "CANOPEE_FEEDBACK_FORM_SECRET": FORM_SECRET,
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": f"http://127.0.0.1:{ports['feedback']}",
        "CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS": "1",
        "CANOPEE_TICKETING_SWEEP_SECONDS": "2",
    }
    for name in CONSUMERS:
        env[f"CANOPEE_{name.upper()}_PORT"] = str(ports[name])
        env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"{prefix.rstrip('.')}_{name}"
    return env


async def _stable_kpis(client: httpx.AsyncClient, url: str, params: dict[str, str], expected: Counter[str]) -> Any:
    """The indicators once every request is counted and nothing has changed for a few seconds."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    last: Any = None
    since = time.monotonic()

    async def settled() -> Any:
        nonlocal last, since
        response = await client.get(f"{url}/v1/kpis", params=params, headers=headers)
        if response.status_code != 200:
            return None
        body = response.json()
        opened = {o: int(body["offices"][o]["total"]["volume"]["opened"]) for o in OFFICES}
        if body != last:
            last, since = body, time.monotonic()
            return None
        return body if opened == dict(expected) and time.monotonic() - since >= STABLE_SECONDS else None

    return await eventually(settled, 180, f"indicators settled on the history's requests {dict(expected)}")


async def deliver(
    infra: dict[str, str], tmp: Path, events: list[CloudEvent], horizon_hours: float, params: dict[str, str]
) -> Outcome:
    """Fresh topics and databases, the consumers started, the events replayed onto the topics."""
    prefix = f"hr{os.urandom(4).hex()}."
    await create_all_topics(infra["kafka"], prefix, partitions=3)
    tmp.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in CONSUMERS}
    sms_port, smtp_port = free_port(), free_port()
    env = _env(infra, prefix, ports, offices_file(tmp / "offices.toml", horizon_hours), sms_port, smtp_port)
    expected = Counter(e.officeid for e in events if e.type.endswith("request.opened.v1"))
    received: list[dict[str, Any]] = []
    with smtp_server(smtp_port) as mailbox:
        async with running(sms_api(received), sms_port), services(env, ports, tmp, CONSUMERS):
            # tenants' contacts first, as an office's export would give them, then the requests
            tenants = [e for e in events if e.topic == "office.tenants"]
            await produce_events(infra["kafka"], prefix, tenants)
            await produce_events(infra["kafka"], prefix, [e for e in events if e.topic != "office.tenants"])
            async with httpx.AsyncClient(timeout=10) as client:
                kpis = await _stable_kpis(client, f"http://127.0.0.1:{ports['analytics']}", params, expected)
                await asyncio.sleep(3)  # the dispatcher's and the sweeps' periods, several times over
                audit = await _audit(client, f"http://127.0.0.1:{ports['notifications']}")
                metrics = (await client.get(f"http://127.0.0.1:{ports['notifications']}/metrics")).text
        mails = list(mailbox.messages)
    surveys = await read_topic(infra["kafka"], f"{prefix}feedback.surveys", timeout=3.0)
    requested = sum(1 for r in surveys if json.loads(r.value)["type"].endswith("survey.requested.v1"))
    sla = [json.loads(r.value) for r in await read_topic(infra["kafka"], f"{prefix}{SlaBreached.topic}", timeout=3.0)]
    breaches = Counter(e["data"]["stage"] for e in sla if e["type"] == full_type("sla.breached"))
    samples = [line for line in metrics.splitlines() if line.startswith(HISTORY_METRIC)]
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in samples)
    recipients = Counter()
    for line in samples:
        recipients[line.split('recipient="', 1)[1].split('"', 1)[0]] += float(line.rsplit(" ", 1)[1])
    print(
        f"\n{tmp.name}: history metric by recipient {dict(recipients)}; audit by template and status "
        f"{dict(Counter((a['template'], a['status'], a['reason']) for a in audit))}"
    )
    return Outcome(kpis, list(received), mails, requested, audit, counted, breaches)


async def _audit(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    entries: list[dict[str, Any]] = []
    for office in OFFICES:
        params = {"office": office, "limit": 1000}
        response = await client.get(f"{url}/v1/notifications", params=params, headers=headers)
        assert response.status_code == 200, response.text[:300]
        entries.extend(response.json())
    return entries


def facts_only(kpis: dict[str, Any]) -> dict[str, Any]:
    """The indicators computed from the offices' facts: the ones counting what was sent removed."""

    def strip(bucket: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in bucket.items() if k not in ACTED}

    out: dict[str, Any] = {}
    for name, office in [*kpis["offices"].items(), ("network", kpis["network"])]:
        out[name] = {
            "total": strip(office["total"]),
            "periods": [strip(p) for p in office["periods"]],
        }
    return out


def late_emergency_repairs(events: list[dict[str, Any]]) -> int:
    """Independently of the services: U1 and U2 repairs done after their elapsed-time target (4 h,
    24 h; on-hold time excluded), each an intervention breach whatever the age of the facts."""
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if "request_id" in event["data"]:
            by_request.setdefault(event["data"]["request_id"], []).append(event)
    late = 0
    for request in by_request.values():
        target = {"U1": 4, "U2": 24}.get(request[0]["data"].get("urgency", ""))
        if target is None:
            continue
        held, since, elapsed = timedelta(0), None, None
        for event in request:
            moment, kind = datetime.fromisoformat(event["time"]), event["type"].split(".", 2)[2]
            if kind == "request.on_hold.v1":
                since = moment
            elif kind == "request.resumed.v1" and since is not None:
                held, since = held + (moment - since), None
            elif kind == "repair.done.v1":
                elapsed = moment - datetime.fromisoformat(request[0]["time"]) - held
                break
        late += elapsed is not None and elapsed > timedelta(hours=target)
    return late


def differences(history: Any, live: Any, path: str = "") -> list[str]:
    """Every leaf where the two sets of indicators differ: ``path: history != live``."""
    if isinstance(history, dict) and isinstance(live, dict):
        out = []
        for key in sorted(set(history) | set(live), key=str):
            out += differences(history.get(key), live.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(history, list) and isinstance(live, list) and len(history) == len(live):
        pairs = enumerate(zip(history, live, strict=True))
        return [d for n, (h, v) in pairs for d in differences(h, v, f"{path}[{n}]")]
    return [] if history == live else [f"{path}: {history!r} != {live!r}"]


async def test_a_replayed_history_texts_nobody_and_counts_like_live_delivery(
    infra: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    raw = history(now)
    events = [parse_event(json.dumps(e, ensure_ascii=False)) for e in raw]
    assert all(now - e.time > timedelta(hours=HORIZON_HOURS + 2) for e in events)
    kinds = Counter(e.type.split(".", 2)[2].removesuffix(".v1") for e in events)
    assert kinds["repair.done"] >= 40 and kinds["satisfaction.rated"] >= 5 and kinds["appointment.missed"] >= 1, kinds
    first = min(e.time for e in events).date() - timedelta(days=1)
    params = {"from": first.isoformat(), "to": now.date().isoformat(), "period": "day"}

    replay = await deliver(infra, tmp_path / "history", events, HORIZON_HOURS, params)
    # the same events, for offices whose horizon makes all of them live
    live = await deliver(infra, tmp_path / "live", events, 24 * 30, params)

    # delivered live, the services act: the control that the history would have been acted on
    assert live.sms and live.survey_requests > 0, (len(live.sms), live.survey_requests)
    assert any(a["status"] != "suppressed" for a in live.audit)

    # the history: nothing to tenants, no survey, nothing to offices
    assert replay.sms == [], [m["text"][:80] for m in replay.sms[:5]]
    assert replay.mails == [], [m[:300] for m in replay.mails[:3]]
    assert replay.survey_requests == 0
    assert replay.audit, "notifications decided nothing about the history"
    not_stale = [(a["template"], a["status"], a["reason"]) for a in replay.audit if a["reason"] != "stale"]
    assert not not_stale, Counter(not_stale).most_common(10)
    assert all(a["status"] == "suppressed" for a in replay.audit)
    assert replay.history_counted == len(replay.audit)  # each counted as suppressed because history

    late = late_emergency_repairs(raw)
    print(
        f"\nU1/U2 repairs late by the facts: {late}; breaches on the bus: history {dict(replay.breaches)}, "
        f"live {dict(live.breaches)}; network: "
        f"{replay.kpis['network']['total']['sla_breaches']} / {live.kpis['network']['total']['sla_breaches']}"
    )
    # ticketing records the breaches found late as it does live ones (marked, never e-mailed): at
    # least every late U1/U2 repair of the facts, the same for the history and the live delivery
    assert replay.breaches["intervention"] >= late > 0, (late, dict(replay.breaches))
    assert replay.breaches == live.breaches, (dict(replay.breaches), dict(live.breaches))
    # analytics: the same figures as the live delivery, except what counts messages and surveys
    differing = differences(facts_only(replay.kpis), facts_only(live.kpis))
    indicators = sorted({d.split(": ")[0].split(".", 2)[-1] for d in differing if ".total." in d})
    network = [d for d in differing if d.startswith("network.total.")]
    assert not differing, f"indicators differing: {indicators}; network totals (history != live): {network}"
    total = replay.kpis["network"]["total"]
    assert total["volume"]["opened"] == kinds["request.opened"]
    assert total["survey_response"]["sent"] == 0 and total["follow_up_coverage_pct"] in (0, 0.0, None)
