"""Provider adapters against test doubles: retries, permanent failures, rate limit, e-mail build."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from services.notifications.providers import (
    FileSmsProvider,
    HttpSmsProvider,
    PermanentFailure,
    SmtpEmailProvider,
    TemporaryFailure,
    TokenBucket,
)


def _provider(answers: list[httpx.Response], seen: list[httpx.Request], sleeps: list[float]) -> HttpSmsProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://sms.test")
    return HttpSmsProvider(client, token="tok", attempts=3, backoff=0.5, sleep=sleep)


async def test_5xx_then_success_retries_with_backoff_and_the_same_reference() -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    provider = _provider([httpx.Response(503), httpx.Response(201, json={"id": "p-1"})], seen, sleeps)
    assert await provider.send_sms(to="+33612345678", sender="Office", text="Bonjour", reference="N-1") == "p-1"
    assert len(seen) == 2 and sleeps == [0.5]
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0] == bodies[1] == {"to": "+33612345678", "from": "Office", "text": "Bonjour", "reference": "N-1"}
    assert seen[0].headers["authorization"] == "Bearer tok"


async def test_429_honours_retry_after() -> None:
    sleeps: list[float] = []
    provider = _provider([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)], [], sleeps)
    await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-2")
    assert sleeps == [7.0]


async def test_4xx_is_permanent_and_not_retried() -> None:
    seen: list[httpx.Request] = []
    provider = _provider([httpx.Response(400)], seen, [])
    with pytest.raises(PermanentFailure):
        await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-3")
    assert len(seen) == 1


async def test_unavailable_after_every_attempt_is_temporary() -> None:
    provider = _provider([httpx.Response(500), httpx.Response(502), httpx.Response(503)], [], [])
    with pytest.raises(TemporaryFailure):
        await provider.send_sms(to="+33612345678", sender="O", text="x", reference="N-4")


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
