"""Provider adapters against test doubles: retries, permanent failures, rate limit, e-mail build."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.notifications.providers import (
    FileSmsProvider,
    HttpSmsProvider,
    PermanentFailure,
    SmtpEmailProvider,
    TemporaryFailure,
    TokenBucket,
    sms_session,
)


@dataclass
class Seen:
    """What the provider's API received."""

    bodies: list[dict[str, object]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _provider(
    answers: list[web.Response], sleeps: list[float], *, base_path: str = ""
) -> AsyncIterator[tuple[HttpSmsProvider, Seen]]:
    """The adapter against a real HTTP server on loopback answering ``answers`` in turn."""
    seen = Seen()

    async def messages(request: web.Request) -> web.Response:
        seen.bodies.append(await request.json())
        seen.headers.append(dict(request.headers))
        return answers.pop(0)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    app = web.Application()
    app.router.add_post(f"{base_path}/messages", messages)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = sms_session(str(server.make_url(base_path)), timeout_seconds=5)
    try:
        yield HttpSmsProvider(session, token="tok", attempts=3, backoff=0.5, sleep=sleep), seen
    finally:
        await session.close()
        await server.close()


async def test_5xx_then_success_retries_with_backoff_and_the_same_reference() -> None:
    sleeps: list[float] = []
    answers = [web.Response(status=503), web.json_response({"id": "p-1"}, status=201)]
    async with _provider(answers, sleeps, base_path="/v1") as (provider, seen):
        assert await provider.send_sms(to="+33612345678", sender="Office", text="Bonjour", reference="N-1") == "p-1"
    assert len(seen.bodies) == 2 and sleeps == [0.5]
    assert (
        seen.bodies[0]
        == seen.bodies[1]
        == {"to": "+33612345678", "from": "Office", "text": "Bonjour", "reference": "N-1"}
    )
    assert seen.headers[0]["Authorization"] == "Bearer tok"


async def test_429_honours_retry_after() -> None:
    sleeps: list[float] = []
    answers = [web.Response(status=429, headers={"Retry-After": "7"}), web.Response(status=200)]
    async with _provider(answers, sleeps) as (provider, _):
        assert await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-2") is None
    assert sleeps == [7.0]


async def test_4xx_is_permanent_and_not_retried() -> None:
    async with _provider([web.Response(status=400)], []) as (provider, seen):
        with pytest.raises(PermanentFailure):
            await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-3")
    assert len(seen.bodies) == 1


async def test_unavailable_after_every_attempt_is_temporary() -> None:
    answers = [web.Response(status=500), web.Response(status=502), web.Response(status=503)]
    async with _provider(answers, []) as (provider, seen):
        with pytest.raises(TemporaryFailure):
            await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-4")
    assert len(seen.bodies) == 3


async def test_unreachable_provider_is_temporary() -> None:
    sleeps: list[float] = []
    session = sms_session("http://127.0.0.1:9/", timeout_seconds=2)  # discard port: nothing listens
    try:
        provider = HttpSmsProvider(session, token=None, attempts=2, backoff=0.5, sleep=lambda s: _record(sleeps, s))
        with pytest.raises(TemporaryFailure, match="network error"):
            await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-5")
    finally:
        await session.close()
    assert sleeps == [0.5]


async def _record(sleeps: list[float], seconds: float) -> None:
    sleeps.append(seconds)


async def test_token_bucket_waits_when_empty() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await bucket.acquire()
    assert sum(slept) == pytest.approx(1.0)


async def test_file_provider_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "sms.jsonl"
    provider = FileSmsProvider(path)
    await provider.send_sms(to="+33612345678", sender="O", text="é", reference="N-5")
    await provider.send_sms(to="+33612345678", sender="O", text="b", reference="N-6")
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert [x["reference"] for x in lines] == ["N-5", "N-6"] and lines[0]["text"] == "é"


def test_email_has_utf8_subject_and_both_parts() -> None:
    smtp = SmtpEmailProvider(host="127.0.0.1", port=25, sender="no-reply@example.org")
    message = smtp.build(
        to=["l@example.org"],
        sender_name="Office démo",
        subject="Demande reçue",
        text="Été",
        html="<p>Été</p>",
        reference="N-7",
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Demande reçue"
    assert "=?utf-8?" in message.as_string().split("\n\n")[0].lower()
    assert parsed.get_body(("plain",)).get_content().strip() == "Été"  # type: ignore[union-attr]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Été</p>"  # type: ignore[union-attr]


def test_every_provider_adapter_states_whether_it_deduplicates_by_reference() -> None:
    from services.notifications import providers

    adapters = [providers.HttpSmsProvider, providers.FileSmsProvider, providers.SmtpEmailProvider]
    assert {a.__name__: a.deduplicates_by_reference for a in adapters} == {
        "HttpSmsProvider": False,
        "FileSmsProvider": False,
        "SmtpEmailProvider": False,
    }


async def test_a_mail_the_server_took_is_sent_even_when_its_goodbye_fails() -> None:
    """The server accepted the mail, then answered QUIT with an error: the mail went out, so the
    send succeeds (a temporary failure here would send it a second time)."""
    from aiosmtpd.controller import Controller

    from tests.support.faults import free_port
    from tests.support.notifications_fakes import _Collector

    class RudeGoodbye(_Collector):
        async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
            return "421 closing the channel"

    collector = RudeGoodbye()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        message_id = await smtp.send_email(
            to=["l@example.org"], sender_name="Office", subject="S", text="t", html="<p>t</p>", reference="N-8"
        )
    finally:
        controller.stop()
    assert message_id is not None and len(collector.messages) == 1
