"""Provider adapters against test doubles: retries, permanent failures, rate limit, e-mail build."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
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
            await super().handle_QUIT(server, session, envelope)
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
        await smtp.close()  # the kept connection says goodbye now: the rude answer changes nothing
    finally:
        controller.stop()
    assert message_id is not None and len(collector.messages) == 1 and collector.quits == collector.peers


@contextlib.contextmanager
def smtp_server(collector: Any, **server: Any) -> Iterator[int]:
    """A real SMTP server (aiosmtpd, its own thread) on a free port; ``server``: its SMTP options."""
    from aiosmtpd.controller import Controller

    from tests.support.faults import free_port

    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port, **server)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def collector() -> Any:
    from tests.support.notifications_fakes import _Collector

    return _Collector()


async def mail(smtp: SmtpEmailProvider, reference: str) -> str | None:
    return await smtp.send_email(
        to=["l@example.org"], sender_name="Office", subject="S", text="t", html="<p>t</p>", reference=reference
    )


def references(server: Any) -> list[str]:
    return [m["X-Canopee-Reference"] for m in server.messages]


async def test_a_mail_the_server_took_stays_sent_when_the_server_drops_the_connection_right_after() -> None:
    """The server answers 250 to DATA and closes the connection at once: the mail is sent, and
    the next one goes on a new connection (never a second copy of the first)."""

    class Hangs(collector().__class__):  # type: ignore[misc]
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            status: str = await super().handle_DATA(server, session, envelope)
            server.loop.call_later(0.05, server.transport.close)
            return status

    catcher = Hangs()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        assert await mail(smtp, "N-1") is not None
        await asyncio.sleep(0.3)
        assert await mail(smtp, "N-2") is not None
        await smtp.close()
    assert references(catcher) == ["N-1", "N-2"] and catcher.connections == 2


async def test_sequential_mails_go_over_one_kept_connection() -> None:
    catcher = collector()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        for n in range(10):
            await mail(smtp, f"N-{n}")
        await smtp.close()
    assert references(catcher) == [f"N-{n}" for n in range(10)]
    assert catcher.connections == 1 and smtp.connections_opened == 1
    assert catcher.quits == catcher.peers[:1]  # said goodbye at close


async def test_concurrent_mails_share_at_most_the_pool_size_of_connections() -> None:
    catcher = collector()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5, pool_size=3)
        ids = await asyncio.gather(*(mail(smtp, f"N-{n}") for n in range(40)))
        await smtp.close()
    assert len(set(ids)) == 40
    assert sorted(references(catcher)) == sorted(f"N-{n}" for n in range(40))
    assert 1 <= catcher.connections <= 3 and smtp.connections_opened == catcher.connections
    assert sorted(catcher.quits) == sorted(set(catcher.peers))


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    """The server drops connections idle for 0.3 s: the next mail goes out on a new one, once."""
    catcher = collector()
    with smtp_server(catcher, timeout=0.3) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        await mail(smtp, "N-1")
        await asyncio.sleep(0.8)
        await mail(smtp, "N-2")
        await mail(smtp, "N-3")
        await smtp.close()
    assert references(catcher) == ["N-1", "N-2", "N-3"]
    assert catcher.connections == 2


@pytest.mark.parametrize("how", ["421", "silent close"])
async def test_a_kept_connection_failing_its_first_command_is_replaced_once(how: str) -> None:
    """The server takes one mail per connection: the second MAIL on a kept connection is answered
    421 (or the connection is closed without a word, before the client notices). The mail goes
    out on a new connection, exactly once, and no send fails."""
    from tests.support.notifications_fakes import _Collector

    class OneMailPerConnection(_Collector):
        def __init__(self) -> None:
            super().__init__()
            self.mail_commands = 0

        async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            self.mail_commands += 1
            if session.peer in self.peers:
                if how == "421":
                    return "421 one mail per connection"
                server.transport.abort()
                return "250 OK"  # never arrives
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"

    catcher = OneMailPerConnection()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        for n in range(3):
            await mail(smtp, f"N-{n}")
        await smtp.close()
    assert references(catcher) == ["N-0", "N-1", "N-2"]
    assert catcher.connections == 3 and catcher.mail_commands == 5


async def test_a_new_connection_refused_at_mail_is_temporary_and_not_retried() -> None:
    from tests.support.notifications_fakes import _Collector

    class Busy(_Collector):
        mail_commands = 0

        async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            self.mail_commands += 1
            return "421 try again later"

    catcher = Busy()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        with pytest.raises(TemporaryFailure, match="SMTP 421"):
            await mail(smtp, "N-1")
        await smtp.close()
    assert catcher.mail_commands == 1 and catcher.messages == []


async def test_refusals_map_to_permanent_failures_and_the_connection_is_kept() -> None:
    from tests.support.notifications_fakes import _Collector

    class Picky(_Collector):
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            if address.startswith("nobody@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if b"spam" in envelope.content:
                return "554 looks like spam"
            return await super().handle_DATA(server, session, envelope)

    catcher = Picky()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5)
        with pytest.raises(PermanentFailure, match="every recipient refused"):
            await smtp.send_email(
                to=["nobody@example.org"], sender_name="O", subject="S", text="t", html="h", reference="N-1"
            )
        with pytest.raises(PermanentFailure, match="SMTP 554"):
            await smtp.send_email(
                to=["l@example.org"], sender_name="O", subject="spam", text="t", html="h", reference="N-2"
            )
        with pytest.raises(PermanentFailure, match="cannot go into a mail"):
            await smtp.send_email(
                to=["l@example.org>\r\nRCPT TO:<x@example.org"],
                sender_name="O",
                subject="S",
                text="t",
                html="h",
                reference="N-3",
            )
        await mail(smtp, "N-4")
        await smtp.close()
    assert references(catcher) == ["N-4"] and smtp.connections_opened == 1


async def test_an_unreachable_server_is_temporary() -> None:
    from tests.support.faults import free_port

    smtp = SmtpEmailProvider(host="127.0.0.1", port=free_port(), sender="no-reply@example.org", timeout=5)
    with pytest.raises(TemporaryFailure, match="SMTP unavailable"):
        await mail(smtp, "N-1")


async def test_after_close_no_connection_is_kept_or_opened() -> None:
    catcher = collector()
    with smtp_server(catcher) as port:
        smtp = SmtpEmailProvider(host="127.0.0.1", port=port, sender="no-reply@example.org", timeout=5, pool_size=2)
        await asyncio.gather(mail(smtp, "N-1"), mail(smtp, "N-2"))
        await smtp.close()
        assert sorted(catcher.quits) == sorted(set(catcher.peers))
        with pytest.raises(TemporaryFailure):
            await mail(smtp, "N-3")
    assert smtp.connections_opened == catcher.connections and len(catcher.messages) == 2


def test_the_pool_has_at_least_one_connection() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        SmtpEmailProvider(host="127.0.0.1", port=25, sender="no-reply@example.org", pool_size=0)
