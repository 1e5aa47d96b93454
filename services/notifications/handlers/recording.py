"""Recording a decided message once (built, deferred past quiet hours, or suppressed with its
reason), resuming one decided before, cancelling pending ones, falling back to the next channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.calendar import office_next_opening
from shared.events import Channel, Recipient

from ..domain.messages import at_send_time
from ..domain.outcomes import deferred_event, notification_id
from ..domain.policy import Contact, Reason, unusable
from ..domain.records import EPOCH, TERMINAL, Draft, Message, PendingFilter, Status
from ..domain.sms import prepare_sms
from .context import Context
from .followups import Followups
from .sending import Sender


@dataclass
class Recorder:
    ctx: Context
    sender: Sender
    #: where tenant messages that cannot go out digitally become tasks (None: nowhere)
    followups: Followups | None = None

    def __post_init__(self) -> None:
        self.sender.fallback = self.fallback

    async def enqueue(
        self,
        draft: Draft,
        channel: Channel,
        fallbacks: Sequence[Channel],
        scheduled_at: datetime | None,
        now: datetime,
        *,
        contact: Contact | None = None,
        hand_off: bool = False,
    ) -> None:
        """Build the message now (a template error fails here, never half-way at send time),
        record it once, and send it when due (``contact``: the tenant's, just read, if known).

        ``hand_off``: the send runs in the background (see ``Sender.hand_off``) and this returns
        once the message is recorded and claimed, so the consumer goes on with its next batch."""
        ctx = self.ctx
        office = ctx.office(draft.office)
        send_at = scheduled_at or now
        defer_reason = "scheduled" if scheduled_at else None
        if channel is Channel.SMS and draft.recipient is Recipient.TENANT and not draft.urgent:
            opening = office_next_opening(send_at, office)
            if opening > send_at:
                send_at, defer_reason = opening, defer_reason or "quiet_hours"
        # worded for the time it actually goes out (a deferred reminder never says "demain" on the day)
        context = at_send_time(draft.context, send_at, office)
        rendered = ctx.templates.render(office.id, draft.template, channel, context)
        for other in fallbacks:  # the fallback must build too
            ctx.templates.render(office.id, draft.template, other, context)
        segments = encoding = None
        text = rendered.text
        if channel is Channel.SMS:
            sms = prepare_sms(rendered.text, rewrite=ctx.settings.sms_gsm_rewrite)
            text, segments, encoding = sms.text, sms.segments, sms.encoding
        due = send_at <= now
        message = Message(
            id=notification_id(draft.cause_id, draft.template, channel),
            draft=draft,
            channel=channel,
            fallbacks=tuple(fallbacks),
            text=text,
            subject_line=rendered.subject,
            html=rendered.html,
            segments=segments,
            encoding=encoding,
            # a due message is inserted already claimed: the unique id lets one instance only do it
            status=Status.SENDING if due else Status.PENDING,
            send_at=send_at,
            defer_reason=defer_reason,
            lease_until=now + ctx.lease if due else EPOCH,
            attempts=1 if due else 0,
            created_at=now,
        )
        if not await ctx.store.insert(message):
            await self.resume(message.id, now)
            return
        if not due:
            ctx.count(message, "deferred")
            await ctx.publisher.publish([deferred_event(message)])
            return
        if hand_off:
            await self.sender.hand_off(message, contact)
        else:
            await self.sender.send(message, contact=contact)

    async def suppress(self, draft: Draft, channel: Channel, reason: Reason, now: datetime) -> None:
        message = Message(
            id=notification_id(draft.cause_id, draft.template, channel),
            draft=draft,
            channel=channel,
            status=Status.SUPPRESSED,
            reason=reason.value,
            send_at=now,
            created_at=now,
            outcome_at=now,
            published=False,
        )
        if await self.ctx.store.insert(message):
            self.ctx.count(message, Status.SUPPRESSED.value)
            if reason is Reason.STALE:  # history: recorded and counted, never acted on
                self.ctx.metrics.history.labels(draft.office, draft.recipient.value).inc()
            await self.ctx.publish_outcome(message)
        else:
            await self.resume(message.id, now)
        if self.followups is not None:  # once per cause and message (also after a crash here)
            await self.followups.open_for(draft, reason.value, now)

    async def resume(self, nid: str, now: datetime) -> None:
        """A message decided before (redelivery, restart, another instance): finish its job."""
        message = await self.ctx.store.get(nid)
        if message is None:
            return
        if message.status in TERMINAL:
            await self.ctx.publish_outcome(message)  # same event id: downstream deduplicates
        elif message.status in (Status.PENDING, Status.GROUPED) and message.send_at > now:
            await self.ctx.publisher.publish([deferred_event(message)])
        elif message.status is not Status.GROUPED:  # a grouped alert goes out with its digest
            await self.sender.dispatch(nid)

    async def cancel(self, which: PendingFilter, reason: Reason) -> None:
        """Suppress the pending messages ``which`` names (re-scheduled appointment, erasure…)."""
        for message in await self.ctx.store.cancel_pending(which, reason.value, self.ctx.clock()):
            self.ctx.count(message, Status.SUPPRESSED.value)
            await self.ctx.publish_outcome(message)

    async def fallback(self, message: Message, now: datetime) -> None:
        """The first channel failed for good or became unusable: try the next one, once. When
        there is none left, the tenant is followed up in person (a task for the office)."""
        tenant = message.draft.tenant_ref
        contact = await self.ctx.store.get_contact(message.office, tenant) if tenant else None
        if message.fallbacks and unusable(contact, message.fallbacks[0]) is None:
            await self.enqueue(message.draft, message.fallbacks[0], message.fallbacks[1:], None, now)
            return
        # the first channel's outcome already says why nothing went out
        if self.followups is not None and message.to_tenant:
            why = unusable(contact, message.channel)
            await self.followups.open_for(message.draft, why.value if why else "failed", now)
