"""Sending: a claimed message handed to its provider (in a background pool beside the consumer,
or by the dispatcher), and its outcome recorded and published."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.events import Channel

from ..domain.masking import mask_recipient
from ..domain.messages import office_addresses
from ..domain.outcomes import outcome_event
from ..domain.policy import Contact, unusable
from ..domain.records import Message, Status
from ..ports import EmailProvider, SmsProvider
from ..providers import PermanentFailure, TemporaryFailure, TokenBucket
from .context import Context
from .holding import Holding

log = logging.getLogger("canopee.notifications")

#: what to do once a message's channel failed for good or became unusable (``recording.py``)
Fallback = Callable[[Message, datetime], Awaitable[None]]


async def _no_fallback(message: Message, now: datetime) -> None:
    return None


#: how long the outcome event may wait for the broker before the outcome is recorded unpublished
#: (the dispatcher's relay publishes it from the record): the provider's answer is recorded soon
PUBLISH_WAIT = 10.0

#: what to do once a digest has its outcome: the alerts it lists take it (``digests.py``)
DigestDone = Callable[[Message, datetime], Awaitable[None]]


@dataclass
class Sender:
    """Hands claimed messages to the providers; at most ``send_concurrency`` in the background."""

    ctx: Context
    sms: SmsProvider
    email: EmailProvider
    sms_limit: TokenBucket
    email_limit: TokenBucket
    perf: Callable[[], float] = field(default=time.perf_counter)
    fallback: Fallback = _no_fallback
    digest_done: DigestDone = _no_fallback
    #: sends handed off by the consumer, each with the key of its request (or subject)
    _sends: dict[asyncio.Task[None], tuple[str, str]] = field(default_factory=dict, init=False)
    #: the last send started per request: the next one for the same request waits for it
    _last_send: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict, init=False)
    _send_slots: asyncio.Semaphore | None = field(default=None, init=False)
    #: the messages this instance holds, their leases, outcomes kept until recorded (``holding.py``)
    holding: Holding = field(init=False)

    def __post_init__(self) -> None:
        self.holding = Holding(self.ctx)

    # --- the background pool ----------------------------------------------------------------------

    async def hand_off(self, message: Message, contact: Contact | None) -> None:
        """Send a claimed message in the background, at most ``send_concurrency`` at a time
        (the caller waits for a free slot: that is the consumer's back-pressure).

        The message is recorded as being sent by this instance until its lease ends: should the
        process die before the outcome is recorded, the dispatcher of any instance sends it after
        the lease; while it lives, the lease is renewed (``holding.py``), waiting for a slot
        included. Messages of one request go out in the order they were decided."""
        if self._send_slots is None:
            self._send_slots = asyncio.Semaphore(self.ctx.settings.send_concurrency)
        self.holding.hold(message)
        try:
            await self._send_slots.acquire()
        except BaseException:
            self.holding.let_go(message)
            raise
        key = message.order_key
        before = self._last_send.get(key)
        task = asyncio.create_task(self._send_after(message, contact, before), name=f"send {message.id}")
        self._sends[task] = key
        self._last_send[key] = task
        task.add_done_callback(self._sent)

    async def _send_after(self, message: Message, contact: Contact | None, before: asyncio.Task[None] | None) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])
            await self.send(message, contact=contact)
        except Exception:  # not handed to the provider: the dispatcher sends it after the lease
            log.exception(
                "sending a message failed, the dispatcher will take it over", extra={"office": message.office}
            )
        finally:
            self.holding.let_go(message)

    def _sent(self, task: asyncio.Task[None]) -> None:
        key = self._sends.pop(task)
        if self._last_send.get(key) is task:
            del self._last_send[key]
        assert self._send_slots is not None
        self._send_slots.release()

    async def drain(self, timeout: float) -> bool:
        """Wait until the sends in the background are done (at stop); False if some are left."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._sends:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._sends), timeout=left)
        return True

    # --- one send -------------------------------------------------------------------------------

    async def dispatch(self, nid: str) -> None:
        """Send one due message if this instance wins its claim. A message this instance holds
        (being sent, or its outcome waiting for the store) is left alone, and so is one claimed by
        another instance until that instance is gone (``Holding.may_take_over``)."""
        if self.holding.holds(nid):
            return
        now = self.ctx.clock()
        known = await self.ctx.store.get(nid)
        if known is None or not self.holding.may_take_over(known, now):
            return
        message = await self.ctx.store.claim(nid, now, self.ctx.lease)
        if message is None:
            return
        await self.send(message)

    async def send(self, message: Message, *, contact: Contact | None = None) -> None:
        """Hand a claimed message to its provider and record the outcome. ``contact`` is the
        tenant's as read when the message was decided an instant ago; otherwise it is read again
        (a deferred message goes to the address the tenant has at send time). The message is held
        (its lease renewed) until its outcome is recorded."""
        self.holding.hold(message)
        try:
            await self._send(message, contact)
        finally:
            self.holding.let_go(message)

    async def _send(self, message: Message, contact: Contact | None) -> None:
        ctx = self.ctx
        now = ctx.clock()
        office = ctx.office(message.office)
        channel = message.channel
        tenant = message.draft.tenant_ref
        if message.to_tenant:
            if contact is None and tenant:
                contact = await ctx.store.get_contact(office.id, tenant)
            reason = unusable(contact, channel)
            if reason is not None:
                await self._finish(message, Status.SUPPRESSED, now, reason=reason.value)
                await self._fall_back(message, now)
                return
            assert contact is not None
            address = contact.address(channel)
            assert address is not None
            to: tuple[str, ...] = (address,)
        else:
            to = office_addresses(office, message.draft.audience)
        started = self.perf()
        try:
            if channel is Channel.SMS:
                await self.sms_limit.acquire()
                started = self.perf()
                provider_id = await self.sms.send_sms(
                    to=to[0], sender=office.sender_name, text=message.text or "", reference=message.id
                )
            else:
                await self.email_limit.acquire()
                started = self.perf()
                provider_id = await self.email.send_email(
                    to=to,
                    sender_name=office.sender_name,
                    subject=message.subject_line or "",
                    text=message.text or "",
                    html=message.html or "",
                    reference=message.id,
                )
        except PermanentFailure as exc:
            ctx.metrics.provider_seconds.labels(channel.value, "failed").observe(self.perf() - started)
            log.warning("provider refused a message: %s", exc.reason, extra={"office": office.id, "outcome": "failed"})
            await self._finish(message, Status.FAILED, ctx.clock(), reason=exc.reason)
            await self._fall_back(message, ctx.clock())
            return
        except TemporaryFailure as exc:
            ctx.metrics.provider_seconds.labels(channel.value, "retried").observe(self.perf() - started)
            log.warning("provider unavailable, message kept for later: %s", exc.reason, extra={"office": office.id})
            retry_at = ctx.clock() + timedelta(seconds=ctx.settings.retry_later_seconds)
            why = exc.reason
            await self.holding.until_done(
                lambda: ctx.store.release(message.id, retry_at, why), "a release", message.office, message_id=message.id
            )
            ctx.count(message, "retried")
            return
        ctx.metrics.provider_seconds.labels(channel.value, "sent").observe(self.perf() - started)
        if channel is Channel.SMS and message.segments:
            ctx.metrics.sms_segments.labels(office.id).inc(message.segments)
        masked = ", ".join(mask_recipient(a) for a in to)
        await self._finish(message, Status.SENT, ctx.clock(), provider_id=provider_id, recipient_masked=masked)

    async def _fall_back(self, message: Message, now: datetime) -> None:
        """The next channel, once the store takes it (its insert is idempotent)."""
        await self.holding.until_done(lambda: self.fallback(message, now), "a fallback", message.office)

    async def _finish(
        self,
        message: Message,
        status: Status,
        now: datetime,
        *,
        reason: str | None = None,
        provider_id: str | None = None,
        recipient_masked: str | None = None,
    ) -> None:
        """Emit the outcome, then record it with the status and whether the bus took it: one write
        on the hot path; an outcome recorded unpublished (the broker away, or slower than
        ``PUBLISH_WAIT``) is published by the dispatcher's relay flush (``publishing.py``). The
        record is retried for as long as the store is away: the instance keeps the outcome, and
        the message is never handed to a provider again. Only the lease holder gets here. A digest
        emits no outcome of its own: each alert it lists gets the digest's (``digest_done``)."""
        final = replace(
            message,
            status=status,
            outcome_at=now,
            reason=reason if reason is not None else message.reason,
            provider_id=provider_id,
            recipient_masked=recipient_masked,
        )
        published = True
        if not message.members:
            try:
                await asyncio.wait_for(self.ctx.publisher.publish([outcome_event(final)]), PUBLISH_WAIT)
            except Exception:  # the broker is away: record the outcome anyway, re-emit later
                log.warning("outcome not published yet", extra={"office": message.office, "outcome": status.value})
                published = False
        store = self.ctx.store
        tries = 0

        async def record() -> bool:
            nonlocal tries
            tries += 1
            return await store.finish(
                message.id,
                message.attempts,
                status,
                now,
                published=published,
                reason=reason,
                provider_id=provider_id,
                recipient_masked=recipient_masked,
            )

        recorded = await self.holding.until_done(record, "an outcome", message.office, message_id=message.id)
        if not recorded and tries > 1:  # a write that failed may have been applied all the same
            known = await self.holding.until_done(lambda: store.get(message.id), "an outcome", message.office)
            recorded = known is not None and known.status is status and known.attempts == message.attempts
        if recorded:
            self.ctx.count(message, status.value)
            if message.members:
                await self.holding.until_done(lambda: self.digest_done(final, now), "a digest", message.office)
