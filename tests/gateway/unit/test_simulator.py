"""The simulator (deterministic for a seed, valid events, plausible proportions, a light history then
live traffic in one world, resumed from a checkpoint) and the demo tenants answering surveys."""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from services.feedback.forms import form_field, form_field_ok
from services.feedback.page import form_page
from shared.events import CloudEvent, parse_event
from shared.webhooks import Refusal, secret_key, verify
from tools.cli import main
from tools.sending import SendReport
from tools.simulator import SimulatorConfig, generate, run_simulation
from tools.tenants import (
    Answer,
    Invitation,
    Tenants,
    answer_by_sms,
    answer_on_page,
    invitation_in_sms,
    invitations_in_email,
    plan,
)

START = datetime.fromisoformat("2026-11-02T00:00:00+01:00")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
FORM_SECRET = "unit-form-secret-0123456789abcdef0123456789"


def events(seed: int, n: int) -> list[dict[str, Any]]:
    return list(itertools.islice(generate(SimulatorConfig(seed=seed, offices=OFFICES, start=START)), n))


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert events(7, 1500) == events(7, 1500)
    assert events(7, 300) != events(8, 300)


def test_every_event_is_valid_and_an_office_event() -> None:
    for event in events(11, 3000):
        parsed = parse_event(json.dumps(event))
        assert parsed.office_source and parsed.officeid in OFFICES


def test_traffic_looks_like_a_network_of_offices() -> None:
    sample = events(5, 6000)
    types = Counter(e["type"].split(".", 2)[2].removesuffix(".v1") for e in sample)
    for kind in (
        "request.opened",
        "request.assigned",
        "appointment.scheduled",
        "appointment.missed",
        "request.on_hold",
        "request.resumed",
        "repair.done",
        "request.closed",
        "request.reopened",
        "satisfaction.rated",
        "tenant.contact_updated",
        "tenant.consent_changed",
    ):
        assert types[kind] > 0, kind
    opened = [e["data"] for e in sample if e["type"].endswith("request.opened.v1")]
    categories = Counter(d["category"] for d in opened)
    assert categories.most_common(1)[0][0] == "repair"
    urgencies = Counter(d.get("urgency") for d in opened)
    assert urgencies["U3"] > urgencies["U2"] > urgencies["U1"] > 0
    scores = Counter(e["data"]["score"] for e in sample if e["type"].endswith("satisfaction.rated.v1"))
    assert scores[5] + scores[4] > 2 * (scores[1] + scores[2] + scores[3])  # skewed like real surveys
    phones = [e["data"]["phone"] for e in sample if "phone" in e["data"]]
    assert phones and all(p.startswith(("+336", "+337")) for p in phones)
    emails = [e["data"]["email"] for e in sample if "email" in e["data"]]
    assert emails and all(m.endswith("@example.org") for m in emails)
    times = [datetime.fromisoformat(e["time"]) for e in sample]
    assert times[-1] > times[0]


def test_dry_run_writes_identical_files_for_the_same_seed(tmp_path: Path) -> None:
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        argv = ["simulate", "--seed", str(seed), "--count", "400", "--start", START.isoformat()]
        assert main([*argv, "--dry-run", "--out", str(path), "--quiet"]) == 0
    a, b, c = (p.read_text(encoding="utf-8") for p in paths)
    assert a == b != c
    assert len(a.splitlines()) == 400


def test_days_limit_stops_in_simulated_time(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    argv = ["simulate", "--days", "1", "--start", START.isoformat(), "--dry-run", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    times = [datetime.fromisoformat(json.loads(line)["time"]) for line in out.read_text().splitlines()]
    assert times and max(times) <= datetime.fromisoformat("2026-11-03T00:00:00+01:00")


# --- a light history, then live traffic in the same world ------------------------------------


def opened_per_day(config: SimulatorConfig, days: int) -> list[int]:
    counts = [0] * days
    for event in generate(config):
        day = int((datetime.fromisoformat(event["time"]) - START).total_seconds() // 86400)
        if day >= days:
            break
        if event["type"].endswith("request.opened.v1") and day >= 0:
            counts[day] += 1
    return counts


def test_the_live_rate_applies_from_live_from_in_the_same_world() -> None:
    light = SimulatorConfig(seed=4, offices=OFFICES[:1], start=START, requests_per_day=20)
    both = replace(light, live_from=START + timedelta(days=2), live_requests_per_day=200)
    per_day = opened_per_day(both, 4)  # Monday and Tuesday, then Wednesday and Thursday live
    assert 4 * sum(per_day[:2]) < sum(per_day[2:])
    # without live_from, a live rate changes nothing: the same seed gives the same events
    assert events_of(replace(light, live_requests_per_day=100), 800) == events_of(light, 800)


def events_of(config: SimulatorConfig, n: int) -> list[dict[str, Any]]:
    return list(itertools.islice(generate(config), n))


class Collecting:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def send(self, events: Sequence[CloudEvent]) -> SendReport:
        self.events.extend(events)
        return SendReport(accepted=len(events))

    async def close(self) -> None:
        return None


def sim_args(**given: Any) -> argparse.Namespace:
    values: dict[str, Any] = dict(count=None, duration=None, days=None, speed=None, rate=None, quiet=True)
    return argparse.Namespace(**(values | given))


def test_a_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    config = SimulatorConfig(seed=6, offices=OFFICES, start=START)
    checkpoint = tmp_path / "simulator.checkpoint"
    first, second = Collecting(), Collecting()
    assert run_simulation(config, first, sim_args(count=300, checkpoint=checkpoint)) == 300
    mark = datetime.fromisoformat(checkpoint.read_text().strip())
    assert mark == max(e.time for e in first.events)
    run_simulation(config, second, sim_args(count=700, checkpoint=checkpoint))
    every = [e["id"] for e in events_of(config, 700)]
    sent = {e.id for e in first.events} | {e.id for e in second.events}
    assert sorted(sent) == sorted(every)  # nothing lost
    again = {e.id for e in first.events} & {e.id for e in second.events}
    assert again and all(e.time >= mark - timedelta(hours=1) for e in first.events if e.id in again)


def test_live_sends_the_past_at_once_and_nothing_ahead_of_the_clock() -> None:
    now = datetime.now(UTC)
    config = SimulatorConfig(seed=8, offices=OFFICES, start=now - timedelta(days=2), requests_per_day=60)
    sender = Collecting()
    wall = time.monotonic()
    run_simulation(config, sender, sim_args(duration=1.5, live=True))
    assert time.monotonic() - wall < 15
    times = [e.time for e in sender.events]
    assert len(times) > 100 and min(times) < now - timedelta(days=1)
    assert max(times) <= datetime.now(UTC) + timedelta(seconds=1)


# --- the demo tenants -------------------------------------------------------------------------

SMS_TEXT = (
    "OfficeNord : l'intervention pour votre demande REQ-1 a-t-elle été bien faite ? Répondez à ce SMS par "
    "une note de 1 (pas du tout) à 5 (très bien) ou donnez votre avis ici : http://127.0.0.1:8003/s/{token}"
)


def sms_line(token: str, to: str = "+33612345678") -> str:
    return json.dumps({"to": to, "from": "OfficeNord", "text": SMS_TEXT.format(token=token), "reference": "n1"})


def test_an_invitation_is_read_from_an_sms_and_from_an_email() -> None:
    invitation = invitation_in_sms(sms_line("tok_A-1"))
    assert invitation == Invitation("http://127.0.0.1:8003/s/tok_A-1", "+33612345678", True)
    assert invitation_in_sms(json.dumps({"to": "+33612345678", "text": "Votre demande REQ-1 est enregistrée"})) is None
    assert invitation_in_sms("{broken") is None
    mail = EmailMessage()
    mail["Subject"] = "Votre avis"
    mail.set_content("Donnez votre avis : http://127.0.0.1:8003/s/tok_B")
    mail.add_alternative('<p><a href="http://127.0.0.1:8003/s/tok_B">Donner mon avis</a></p>', subtype="html")
    assert invitations_in_email(bytes(mail)) == [Invitation("http://127.0.0.1:8003/s/tok_B")]


def test_tenants_answer_about_half_mostly_satisfied_some_detractors() -> None:
    sms = [plan(1, Invitation(f"http://x/s/t{i}", "+33612345678", True)) for i in range(3000)]
    mail = [plan(1, Invitation(f"http://x/s/m{i}")) for i in range(3000)]
    channels = Counter(a.channel if a else "never" for a in sms)
    assert 0.4 < channels["never"] / 3000 < 0.6 and channels["sms"] > 500 and channels["page"] > 500
    assert {a.channel for a in mail if a} == {"page"} and 0.25 < sum(1 for a in mail if a) / 3000 < 0.45
    scores = Counter(a.score for a in sms if a)
    assert scores[4] + scores[5] > 0.6 * sum(scores.values()) and scores[1] + scores[2] > 0.05 * sum(scores.values())
    answered = [a for a in sms if a]
    assert all(a.sms_text.split()[0].strip(".") in "12345" or a.sms_text.startswith("Note") for a in answered)
    assert all(str(a.score) in a.sms_text for a in answered)
    assert all(0 < a.delay <= 600 for a in answered)
    assert plan(1, Invitation("http://x/s/t1", "+33612345678", True)) == sms[1]  # the seed and the link decide


def survey_site(answers: list[dict[str, Any]]) -> httpx.MockTransport:
    """The feedback page's rules for a browser: the form sets a nonce cookie, the POST needs it, the
    hidden field bound to it and the page's origin."""

    def handle(request: httpx.Request) -> httpx.Response:
        token = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            nonce = "n0nce"
            headers = {"set-cookie": f"canopee_survey={nonce}; Path=/s/; HttpOnly; SameSite=Strict"}
            return httpx.Response(200, text=form_page(token, form_field(FORM_SECRET, token, nonce)), headers=headers)
        if request.headers.get("origin") != "http://127.0.0.1:8003":
            return httpx.Response(403)
        cookie = request.headers.get("cookie", "")
        values = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if "canopee_survey=n0nce" not in cookie or not form_field_ok(FORM_SECRET, token, "n0nce", values["form"]):
            return httpx.Response(403)
        answers.append(values)
        return httpx.Response(200, text="Merci")

    return httpx.MockTransport(handle)


async def test_a_tenant_answers_on_the_page_as_a_browser_does() -> None:
    answers: list[dict[str, Any]] = []
    invitation = Invitation("http://127.0.0.1:8003/s/tok_C")
    answer = Answer(invitation, "page", 1.0, 4, 8, "Correct dans l'ensemble", "")
    async with httpx.AsyncClient(transport=survey_site(answers)) as client:
        assert await answer_on_page(client, answer) == "answered"
    assert answers == [{"form": answers[0]["form"], "score": "4", "nps": "8", "comment": "Correct dans l'ensemble"}]


async def test_a_tenant_replies_by_sms_through_the_signed_webhook() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        try:
            verify([secret_key("hook-secret-0123456789")], request.headers, request.content)
        except Refusal:
            return httpx.Response(401)
        return httpx.Response(200, json={"status": "replied"})

    answer = Answer(Invitation("http://x/s/t", "+33612345678", True), "sms", 1.0, 2, None, None, "2")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        assert await answer_by_sms(client, "http://127.0.0.1:8002", "hook-secret-0123456789", answer) == "replied"
        assert await answer_by_sms(client, "http://127.0.0.1:8002", "other-secret-0123456789", answer) == "refused 401"
    body = json.loads(seen[0].content)
    assert seen[0].url.path == "/v1/webhooks/sms/inbound"
    assert body["from"] == "+33612345678" and body["text"] == "2" and body["id"].startswith("demo-")


def test_the_loop_reads_new_lines_once_and_ignores_reminders(tmp_path: Path) -> None:
    outbox = tmp_path / "sms.jsonl"
    state = tmp_path / "tenants.state"
    tenants = Tenants(outbox, None, "http://n", "s", seed=3, median_delay=100, max_delay=300, state_file=state)
    tokens = [f"tok{i}" for i in range(40)]
    outbox.write_text("".join(sms_line(t) + "\n" for t in tokens[:30]) + sms_line(tokens[30])[:20])
    assert tenants.scan(0.0) == 30  # the half-written last line waits
    with outbox.open("a") as handle:
        handle.write(sms_line(tokens[30])[20:] + "\n" + sms_line(tokens[0]) + "\n")  # a reminder of the first
    assert tenants.scan(1.0) == 1
    planned = {a.invitation.token for _, _, a in tenants.due}
    assert planned == {t for t in tokens[:31] if plan(3, Invitation(f"http://127.0.0.1:8003/s/{t}", "x", True))}
    assert tenants.ready(0.5) == [] and len(tenants.ready(1000.0)) == len(planned)
    tenants.save_state()
    again = Tenants(outbox, None, "http://n", "s", seed=3, state_file=state)
    again.load_state()
    assert again.scan(2.0) == 0 and again.offset == outbox.stat().st_size
