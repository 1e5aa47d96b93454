"""Provider adapters (the ``SmsProvider`` and ``EmailProvider`` ports of ``ports.py``): e-mail
over SMTP, SMS over a provider's HTTP API or into a local file, and a per-provider rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import smtplib
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

import aiohttp


class PermanentFailure(Exception):
    """The provider refused the message for good (bad number, rejected address…): fall back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(Exception):
    """The provider is unavailable or throttling beyond our retries: try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenBucket:
    """At most ``rate`` operations per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await self.sleep((1 - self.tokens) / self.rate)


class HttpSmsProvider:
    """A provider's HTTP API: ``POST {base_url}/messages`` with a bearer token.

    429 (honouring ``Retry-After``), 5xx and network errors are retried with exponential backoff;
    other 4xx are permanent. The body carries ``reference`` so a retried send is not billed twice.
    The session is aiohttp's: with a few dozen sends in flight it costs about a seventh of the CPU
    of httpx per request (measured on loopback: 0.9 ms against 6.5 ms, server included).
    """

    #: the generic API promises nothing about ``reference`` (many gateways keep it as a label, and
    #: Twilio's Messages API has no idempotency key): a send repeated after a crash reaches the tenant
    deduplicates_by_reference = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token: str | None,
        attempts: int = 4,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.token = token
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep

    async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"to": to, "from": sender, "text": text, "reference": reference}
        reason = "no attempt"
        for attempt in range(1, self.attempts + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                async with self.session.post("messages", json=body, headers=headers) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After", "")
                    payload = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"network error {type(exc).__name__}"
            else:
                if status < 300:
                    return _provider_id(payload)
                if status == 429 or status >= 500:
                    reason = f"HTTP {status}"
                    if status == 429 and retry_after.isdigit():
                        wait = float(retry_after)
                else:
                    raise PermanentFailure(f"HTTP {status} from the SMS provider")
            if attempt < self.attempts:
                await self.sleep(min(wait, self.max_wait))
        raise TemporaryFailure(f"SMS provider unavailable: {reason}")


def sms_session(base_url: str, timeout_seconds: float) -> aiohttp.ClientSession:
    """The HTTP session of the SMS provider (one per service instance, closed at shutdown)."""
    return aiohttp.ClientSession(
        base_url=base_url.rstrip("/") + "/",
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        raise_for_status=False,
    )


def _provider_id(payload: bytes) -> str | None:
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        return None
    value = decoded.get("id") if isinstance(decoded, dict) else None
    return str(value)[:128] if value is not None else None


class FileSmsProvider:
    """Writes each SMS as one JSON line to a file: the local demo's SMS gateway."""

    #: every call is one more line
    deduplicates_by_reference = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send_sms(self, *, to: str, sender: str, text: str, reference: str) -> str | None:
        line = json.dumps({"to": to, "from": sender, "text": text, "reference": reference}, ensure_ascii=False)
        async with self._lock:
            await asyncio.to_thread(self._append, line)
        return reference

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class SmtpEmailProvider:
    """E-mail over SMTP with the standard library, in a worker thread; STARTTLS, TLS and
    authentication as configured; UTF-8 headers and bodies; text and HTML alternatives."""

    #: SMTP has no idempotency: a repeated send is a second mail (with the same Message-ID, derived
    #: from the reference, which some mail clients show once — nothing to rely on)
    deduplicates_by_reference = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout

    def build(
        self, *, to: Sequence[str], sender_name: str, subject: str, text: str, html: str, reference: str
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((sender_name, self.sender))
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(idstring=reference.replace("-", ""), domain=self.sender.rpartition("@")[2])
        message["X-Canopee-Reference"] = reference
        message.set_content(text, charset="utf-8")
        message.add_alternative(html, subtype="html", charset="utf-8")
        return message

    async def send_email(
        self, *, to: Sequence[str], sender_name: str, subject: str, text: str, html: str, reference: str
    ) -> str | None:
        message = self.build(to=to, sender_name=sender_name, subject=subject, text=text, html=html, reference=reference)
        await asyncio.to_thread(self._send, message)
        return str(message["Message-ID"])

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.security == "starttls":
                    smtp.starttls(context=context)
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
            finally:
                # the server took the mail (or refused it) before: how the goodbye goes changes
                # nothing, and a failed QUIT must not make the mail go out again
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp.close()
        except smtplib.SMTPRecipientsRefused:
            raise PermanentFailure("SMTP: every recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"SMTP {exc.smtp_code}") from None
            raise TemporaryFailure(f"SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"SMTP unavailable: {type(exc).__name__}") from None
