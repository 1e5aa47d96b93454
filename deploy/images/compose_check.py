"""Checks of `make compose-test` (deploy/images/compose-test.sh) on the system started from
docker-compose.yml with podman-compose; run with the project's Python (.venv/bin/python).

    compose_check.py offices PATH     write the test's offices file (the demo offices, SMS at any hour)
    compose_check.py check --project P --port-base B

`check`: every service answers /health/ready on its published port and podman reports its container
healthy (the image's HEALTHCHECK), the topic-provisioning step exited 0, the services run as UID
10001; a simulated day posted through the gateway gives SMS (the notifications container's SMS
file), e-mail (the mail catcher's .eml files), a survey answered through its page and indicators
equal to the simulated requests; then each service stops within 5 s of SIGTERM (`podman stop`).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any, TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.offices import hash_key
from tools.cli import main as canopee

SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
#: paths inside the containers (docker-compose.yml: the SMS file; the mail catcher's folder)
SMS_FILE = "/tmp/sms-outbox.jsonl"  # noqa: S108
MAIL_DIR = "/tmp/mail"  # noqa: S108
SURVEY_LINK = re.compile(r"https?://[^\s\"'<>]+/s/[A-Za-z0-9_-]+")
T = TypeVar("T")


def say(message: str) -> None:
    print(f"[compose-test] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[compose-test] FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def write_offices(path: Path) -> None:
    blocks = []
    for office in OFFICES:
        blocks.append(
            f"""[[office]]
id = "{office}"
name = "Office {office}"
sender_name = "Office"
api_key_sha256 = ["{hash_key(f"{office}-demo-key")}"]
alert_emails = ["astreinte@{office}.example.org"]
manager_emails = ["direction@{office}.example.org"]

[office.quiet_hours]
start = "00:00:00"
end = "23:59:59"
days = [1, 2, 3, 4, 5, 6, 7]
public_holidays = true
"""
        )
    path.write_text("\n".join(blocks), encoding="utf-8")
    path.chmod(0o644)


def podman(*args: str, check: bool = True) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if check and done.returncode != 0:
        fail(f"podman {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout


def container(project: str, service: str) -> str:
    names = podman(
        "ps",
        "-a",
        "--filter",
        f"label=io.podman.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
        "--format",
        "{{.Names}}",
    ).split()
    if not names:
        fail(f"no container of service {service}")
    return names[0]


def state(name: str) -> dict[str, Any]:
    return dict(json.loads(podman("inspect", name))[0]["State"])


def eventually(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1)
    fail(f"{what} did not happen in {timeout:.0f} s (last: {str(last)[:300]})")
    raise AssertionError  # unreachable


def check(project: str, base: int) -> None:
    t0 = time.monotonic()
    ports = {name: base + i for i, name in enumerate(SERVICES)}
    names = {name: container(project, name) for name in SERVICES}
    client = httpx.Client(timeout=10)

    def ready(service: str) -> bool:
        if state(names[service]).get("Status") == "exited":
            fail(f"{service} exited: {podman('logs', '--tail', '20', names[service], check=False)}")
        try:
            return client.get(f"http://127.0.0.1:{ports[service]}/health/ready").status_code == 200
        except httpx.HTTPError:
            return False

    for service in SERVICES:
        eventually(lambda s=service: ready(s), 300, f"{service} ready on port {ports[service]}")  # type: ignore[misc]
        say(f"{service} ready on 127.0.0.1:{ports[service]} ({time.monotonic() - t0:.0f} s after up)")

    def healthy(service: str) -> str | None:
        health = state(names[service]).get("Health") or state(names[service]).get("Healthcheck") or {}
        return "healthy" if health.get("Status") == "healthy" else None

    for service in SERVICES:
        eventually(lambda s=service: healthy(s), 60, f"podman reporting {service} healthy")  # type: ignore[misc]
    say("every service container is healthy (HEALTHCHECK /health/ready)")
    topics = state(container(project, "topics"))
    if topics.get("Status") != "exited" or topics.get("ExitCode") != 0:
        fail(f"the topic-provisioning step did not exit 0: {topics.get('Status')} {topics.get('ExitCode')}")
    uid = podman("exec", names["gateway"], "id", "-u").strip()
    if uid != "10001":
        fail(f"the gateway runs as UID {uid}, not 10001")
    say("topics provisioned (exit 0); services run as UID 10001")

    # a simulated day through the gateway (as tests/e2e/test_demo_day.py)
    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()
    day = ["simulate", "--seed", "20", "--days", "1", "--start", start, "--requests-per-day", "15", "--quiet"]
    expected_file = Path(".local/images/compose-test/day.jsonl")
    if canopee([*day, "--dry-run", "--out", str(expected_file)]) != 0:
        fail("simulate --dry-run")
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    opened = Counter(e["officeid"] for e in expected if e["type"].endswith("request.opened.v1"))
    if canopee([*day, "--via", "gateway", "--gateway-url", f"http://127.0.0.1:{ports['gateway']}"]) != 0:
        fail("simulate --via gateway")
    say(f"a simulated day posted through the gateway ({sum(opened.values())} requests opened)")

    def sms() -> list[dict[str, Any]] | None:
        out = podman("exec", names["notifications"], "cat", SMS_FILE, check=False)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return lines if len(lines) >= 5 else None

    messages = eventually(sms, 120, "5 SMS in the notifications' SMS file")
    if not all(m["to"].startswith(("+336", "+337")) for m in messages):
        fail("an SMS to something else than a French mobile")
    mailcatcher = container(project, "mailpit")

    def mails() -> list[str] | None:
        listing = podman("exec", mailcatcher, "ls", MAIL_DIR, check=False).split()
        return [n for n in listing if n.endswith(".eml")] or None

    eml = eventually(mails, 120, "an e-mail at the mail catcher")
    say(f"{len(messages)} SMS, {len(eml)} e-mail(s) sent")

    def link() -> str | None:
        texts = [m["text"] for m in sms() or []]
        for name in mails() or []:
            raw = podman("exec", mailcatcher, "cat", f"{MAIL_DIR}/{name}").encode()
            for part in message_from_bytes(raw).walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts.append(payload.decode("utf-8", "replace"))
        found = [m for t in texts for m in SURVEY_LINK.findall(t)]
        return found[0] if found else None

    url = eventually(link, 180, "a survey link in a message")
    form = client.get(url)
    field = re.search(r'name="form"\s+value="([^"]+)"', form.text) or re.search(
        r'value="([^"]+)"\s+name="form"', form.text
    )
    if form.status_code != 200 or not field:
        fail(f"survey page {form.status_code}: {form.text[:300]}")
    answer = client.post(url, data={"form": html.unescape(field.group(1)), "score": "5", "nps": "9", "comment": "Bien"})
    if answer.status_code != 200:
        fail(f"survey answer {answer.status_code}: {answer.text[:300]}")
    say("a survey answered through its page")

    token = subprocess.run(  # noqa: S603
        ["podman", "exec", names["analytics"], "printenv", "CANOPEE_ADMIN_TOKEN"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def kpis() -> dict[str, int] | None:
        response = client.get(
            f"http://127.0.0.1:{ports['analytics']}/v1/kpis",
            params={"period": "day"},
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 200:
            return None
        got = {o: int(response.json()["offices"][o]["total"]["volume"]["opened"]) for o in OFFICES}
        return got if got == dict(opened) else None

    eventually(kpis, 120, f"indicators equal to the simulated day {dict(opened)}")
    say(f"indicators equal to the simulated day {dict(opened)}")

    for service in SERVICES:
        t = time.monotonic()
        podman("stop", "--time", "30", names[service])
        took = time.monotonic() - t
        code = state(names[service]).get("ExitCode")
        say(f"{service} stopped {took:.1f} s after SIGTERM (exit code {code})")
        if took > 5:
            fail(f"{service} took {took:.1f} s to stop on SIGTERM")
    say(f"checks passed in {time.monotonic() - t0:.0f} s")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    offices = sub.add_parser("offices")
    offices.add_argument("path", type=Path)
    run = sub.add_parser("check")
    run.add_argument("--project", required=True)
    run.add_argument("--port-base", type=int, required=True)
    args = parser.parse_args()
    if args.command == "offices":
        write_offices(args.path)
    else:
        check(args.project, args.port_base)


if __name__ == "__main__":
    cli()
