"""E-mail benchmark: mails per second handed to a local SMTP server by the notifications service's
e-mail adapter (``SmtpEmailProvider``: aiosmtplib, a pool of kept connections) against the adapter
it replaced, kept here only as the baseline (stdlib ``smtplib`` in the default worker threads, one
connection per mail), in the same run, with the same mails and the same number of sends in flight.

The server (aiosmtpd) runs in its own process and only counts what it accepts, so the figures are
the client's and the protocol's. Sizes: ``CANOPEE_BENCH_MAIL_COUNT`` (mails per variant and round,
default 500), ``_CONCURRENCY`` (sends in flight, default 32), ``_ROUNDS`` (default 3: the variants
run in turn, medians printed), ``_POOLS`` (pool sizes measured, default ``1,4,16``) and
``_RTT_MS`` (the server answers EHLO, MAIL, RCPT and DATA after this long, as across a network;
default 0, loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import smtplib
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

from services.notifications.providers import PermanentFailure, SmtpEmailProvider, TemporaryFailure
from tests.support.faults import free_port

SENDER = "no-reply@canopee.example.org"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CANOPEE_BENCH_MAIL_{name}", default)


class _Counter:
    """Counts mails and connections; answers EHLO, MAIL, RCPT and DATA after ``rtt`` seconds (a
    server across a network instead of on loopback)."""

    def __init__(self, counts: Any, rtt: float) -> None:
        self.counts = counts
        self.rtt = rtt

    async def _wait(self) -> None:
        if self.rtt:
            await asyncio.sleep(self.rtt)

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await self._wait()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await self._wait()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await self._wait()
        with self.counts.get_lock():
            self.counts[0] += 1
        return "250 OK"

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: Any
    ) -> Any:
        with self.counts.get_lock():
            self.counts[1] += 1  # one EHLO per connection (the clients here send one)
        session.host_name = hostname
        await self._wait()
        return responses


def _serve(port: int, rtt: float, counts: Any, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(counts, rtt), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class ThreadSmtpBaseline(SmtpEmailProvider):
    """The adapter before the pool: ``smtplib`` in a worker thread, a connection per mail, and a
    TLS context built for each mail (loading the CA certificates) unless ``one_context``."""

    def __init__(self, *, one_context: bool = False, **settings: Any) -> None:
        super().__init__(**settings)
        self.context = ssl.create_default_context() if one_context else None

    async def send_email(self, *, to: Any, sender_name: str, subject: str, text: str, html: str, reference: str) -> Any:
        message = self.build(to=to, sender_name=sender_name, subject=subject, text=text, html=html, reference=reference)
        await asyncio.to_thread(self._send_blocking, message)
        return str(message["Message-ID"])

    def _send_blocking(self, message: EmailMessage) -> None:
        context = self.context or ssl.create_default_context()
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
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp.close()
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"SMTP {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"SMTP unavailable: {type(exc).__name__}") from None


async def _measure(send: Callable[[int], Awaitable[Any]], count: int, concurrency: int) -> tuple[float, float, int]:
    """Mails per second, CPU seconds of this process per 1,000 mails, failed sends."""
    slots = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(n: int) -> None:
        nonlocal failed
        async with slots:
            try:
                await send(n)
            except (TemporaryFailure, PermanentFailure):
                failed += 1

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return count / elapsed, used / count * 1000, failed


async def run() -> None:
    count = int(_env("COUNT", "500"))
    concurrency = int(_env("CONCURRENCY", "32"))
    rounds = int(_env("ROUNDS", "3"))
    pools = [int(x) for x in _env("POOLS", "1,4,16").split(",")]
    rtt = float(_env("RTT_MS", "0")) / 1000
    port = free_port()
    context = multiprocessing.get_context("spawn")
    counts = context.Array("l", 2)
    ready, stop = context.Event(), context.Event()
    server = context.Process(target=_serve, args=(port, rtt, counts, ready, stop), daemon=True)
    server.start()
    variants: dict[str, Callable[[], SmtpEmailProvider]] = {
        "smtplib in threads (before)": lambda: ThreadSmtpBaseline(host="127.0.0.1", port=port, sender=SENDER),
        "  same, one TLS context": lambda: ThreadSmtpBaseline(
            host="127.0.0.1", port=port, sender=SENDER, one_context=True
        ),
    }
    for size in pools:
        variants[f"aiosmtplib, pool of {size}"] = lambda size=size: SmtpEmailProvider(  # type: ignore[misc]
            host="127.0.0.1", port=port, sender=SENDER, pool_size=size
        )
    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    try:
        if not ready.wait(30):
            raise RuntimeError("the local SMTP server did not start")
        print(f"{count} mails per variant and round, {concurrency} in flight, {rounds} rounds (variants interleaved)")
        print(f"local SMTP server (aiosmtpd) in its own process, {rtt * 1000:.0f} ms per answer; medians of the rounds")
        for r in range(rounds):
            for name, make in variants.items():
                provider = make()

                async def send(n: int, provider: SmtpEmailProvider = provider, tag: str = f"{r}-{name}") -> Any:
                    return await provider.send_email(
                        to=[f"locataire-{n}@example.org"],
                        sender_name="Office démo",
                        subject=f"Votre demande REQ-{n} a bien été reçue",
                        text="Nous avons bien reçu votre demande (chauffage et eau chaude).\n" * 8,
                        html="<p>Nous avons bien reçu votre demande (chauffage et eau chaude).</p>\n" * 8,
                        reference=f"bench-mail-{tag}-{n}",
                    )

                before = (counts[0], counts[1])
                rate, cpu, failed = await _measure(send, count, concurrency)
                await provider.close()
                received, connections = counts[0] - before[0], counts[1] - before[1]
                if received != count - failed:
                    raise RuntimeError(f"{name}: the server received {received} mails for {count - failed} sent")
                figures[name].append((rate, cpu, connections))
                print(f"  round {r + 1}: {name.strip():<30} {rate:>6.0f} mails/s", flush=True)
        print(f"{'variant':<32} {'mails/s':>8} {'CPU ms/mail':>12} {'connections':>12} {'× before':>9}")
        baseline = statistics.median(f[0] for f in figures["smtplib in threads (before)"])
        for name, runs in figures.items():
            rate = statistics.median(f[0] for f in runs)
            cpu = statistics.median(f[1] for f in runs)
            print(f"{name:<32} {rate:>8.0f} {cpu:>12.2f} {runs[-1][2]:>12} {rate / baseline:>9.1f}", flush=True)
    finally:
        stop.set()
        server.join(10)


def main() -> Any:
    """Entry point of ``python -m bench mail``."""
    return run()


if __name__ == "__main__":
    asyncio.run(run())
