"""End to end: the five services as processes (``canopee run``), a simulated day of the four demo
offices posted through the gateway; tenants' messages reach a local SMS API and SMTP server, a
survey is answered through its page, and the indicators match the simulated events."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.offices import hash_key
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.http import running
from tools.cli import main

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
FORM_SECRET = "e2e-form-secret-0123456789abcdef0123456789"
SURVEY_LINK = re.compile(r"https?://[^\s\"'<>]+/s/[A-Za-z0-9_-]+")


def offices_file(path: Path) -> Path:
    """The demo offices with SMS allowed at any hour, so the test does not depend on the clock."""
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
    return path


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def texts(self) -> list[str]:
        out = []
        for raw in self.messages:
            message = message_from_bytes(raw)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    out.append(payload.decode("utf-8", "replace"))
        return out


@contextlib.contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def sms_api(received: list[dict[str, Any]]) -> Starlette:
    async def messages(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"id": f"sms-{len(received)}"}, status_code=201)

    return Starlette(routes=[Route("/messages", messages, methods=["POST"])])


@contextlib.asynccontextmanager
async def services(
    env: dict[str, str], ports: dict[str, int], logs: Path, names: Sequence[str] = SERVICES, ready_seconds: float = 90
) -> AsyncIterator[None]:
    """The services ``names`` as processes (``canopee run``), each given ``ready_seconds`` to answer
    ready; stopped with SIGTERM (then killed after 30 s) at the end."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    handles = []
    try:
        for name in names:
            handle = (logs / f"{name}.log").open("wb")
            handles.append(handle)
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "tools.cli", "run", name], env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        async with httpx.AsyncClient(timeout=2) as client:
            for name in names:
                deadline = time.monotonic() + ready_seconds
                while True:
                    if processes[name].poll() is not None:
                        pytest.fail(f"{name} stopped: {(logs / f'{name}.log').read_text()[-2000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"http://127.0.0.1:{ports[name]}/health/ready")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        pytest.fail(f"{name} not ready: {(logs / f'{name}.log').read_text()[-2000:]}")
                    await asyncio.sleep(0.3)
        yield
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in handles:
            handle.close()


async def eventually(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.5)
    pytest.fail(f"{what} did not happen in {timeout} s (last: {str(last)[:1500]})")


def opened_in(kpis: dict[str, Any], office: str) -> int:
    """Requests opened for an office over the queried range (the office's total)."""
    return int(kpis["offices"][office]["total"]["volume"]["opened"])


async def test_a_simulated_day_through_every_service(
    infra: dict[str, str], topics: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
        "CANOPEE_FEEDBACK_FORM_SECRET": FORM_SECRET,
        "CANOPEE_FEEDBACK_SURVEY_URL_BASE": f"http://127.0.0.1:{ports['feedback']}",
        "CANOPEE_FEEDBACK_OUTBOX_GRACE_SECONDS": "1",
        "CANOPEE_TICKETING_SWEEP_SECONDS": "2",
    }
    for name in SERVICES:
        env[f"CANOPEE_{name.upper()}_PORT"] = str(ports[name])
        env[f"CANOPEE_{name.upper()}_MONGO_DB"] = f"{prefix.rstrip('.')}_{name}"
    for key in ("CANOPEE_KAFKA_BOOTSTRAP", "CANOPEE_TOPIC_PREFIX", "CANOPEE_OFFICES_FILE"):
        monkeypatch.setenv(key, env[key])

    # the day: the last 24 hours, so every cause is within the notifications' horizon
    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()
    day = ["simulate", "--seed", "20", "--days", "1", "--start", start, "--requests-per-day", "15", "--quiet"]
    expected_file = tmp_path / "day.jsonl"
    assert await asyncio.to_thread(main, [*day, "--dry-run", "--out", str(expected_file)]) == 0
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    opened = Counter(e["officeid"] for e in expected if e["type"].endswith("request.opened.v1"))
    assert set(opened) == set(OFFICES)

    received: list[dict[str, Any]] = []
    with smtp_server(smtp_port) as mailbox:
        async with running(sms_api(received), sms_port), services(env, ports, tmp_path):
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            assert await asyncio.to_thread(main, [*day, "--via", "gateway", "--gateway-url", gateway]) == 0

            # tenants' messages: acknowledgements and others by SMS (French mobiles) and e-mail
            await eventually(lambda: _async(len(received) >= 5), 60, "SMS at the local SMS API")
            assert all(m["to"].startswith(("+336", "+337")) for m in received)
            await eventually(lambda: _async(len(mailbox.messages) >= 1), 60, "e-mail at the local SMTP server")

            # a survey link (sent after a repair) answered through the tenant page
            async def link() -> str | None:
                texts = [m["text"] for m in received] + mailbox.texts()
                found = [m for t in texts for m in SURVEY_LINK.findall(t)]
                return found[0] if found else None

            url = await eventually(link, 90, "a survey link in a message")
            async with httpx.AsyncClient(timeout=10) as client:
                form = await client.get(url)
                assert form.status_code == 200
                field = re.search(r'name="form"\s+value="([^"]+)"', form.text) or re.search(
                    r'value="([^"]+)"\s+name="form"', form.text
                )
                assert field, form.text[:1000]
                answer = await client.post(
                    url,
                    data={"form": html.unescape(field.group(1)), "score": "5", "nps": "9", "comment": "Très bien"},
                )
                assert answer.status_code == 200, answer.text[:500]
                again = await client.get(url)
                assert again.status_code == 200 and again.text != form.text  # answered: the form is gone

                # indicators: requests opened per office match the simulated day exactly
                analytics = f"http://127.0.0.1:{ports['analytics']}"
                headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

                async def consistent() -> dict[str, int] | None:
                    response = await client.get(f"{analytics}/v1/kpis", params={"period": "day"}, headers=headers)
                    if response.status_code != 200:
                        return None
                    body = response.json()
                    got = {o: opened_in(body, o) for o in OFFICES}
                    return got if got == dict(opened) else None

                await eventually(consistent, 60, f"indicators equal to the simulated day {dict(opened)}")


async def _async(value: Any) -> Any:
    return value
