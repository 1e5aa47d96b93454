"""Deciding: the messages an event calls for (``domain/messages.py``), each one's channel or the
reason not to send it (``domain/policy.py``), then recorded and sent when due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.bus import Rejected
from shared.events import Channel, CloudEvent, Recipient, RequestOpened, short_type
from shared.offices import Office
from shared.tracker import tracker_token, tracker_url

from ..domain.digests import goes_in_digest
from ..domain.messages import AppointmentInfo, RequestInfo, office_addresses, plans_for
from ..domain.outcomes import notification_id
from ..domain.policy import MessagePlan, Reason, choose_channels, decide_message
from ..domain.records import Draft, Waiting
from ..templates import TemplateProblem
from .context import Context
from .digests import Digests
from .recording import Recorder

log = logging.getLogger("canopee.notifications")


@dataclass
class Decider:
    ctx: Context
    recorder: Recorder
    digests: Digests

    def _drafts(
        self,
        event: CloudEvent,
        office: Office,
        request: RequestInfo | None,
        appointment: AppointmentInfo | None,
        apologise: bool = False,
    ) -> list[tuple[Draft, MessagePlan]]:
        plans = plans_for(
            event,
            office,
            request=request,
            appointment=appointment,
            now=self.ctx.clock(),
            reminder_hour=self.ctx.settings.reminder_hour,
            tracker_url=self._tracker_url(event),
            apologise=apologise,
        )
        return [
            (
                Draft(
                    office=office.id,
                    cause_id=event.id,
                    cause_type=short_type(event.type),
                    cause_time=event.time,
                    subject=event.subject,
                    tenant_ref=plans.tenant_ref if plan.recipient is Recipient.TENANT else None,
                    request_id=plans.request_id,
                    appointment_id=plans.appointment_id,
                    template=plan.template,
                    recipient=plan.recipient,
                    policy=plan.policy,
                    context=plan.context,
                    urgent=plan.urgent,
                ),
                plan,
            )
            for plan in plans.messages
        ]

    def _tracker_url(self, event: CloudEvent) -> str | None:
        """The tenant's tracker link of an opened request, when tracker links are configured."""
        secret = self.ctx.settings.tracker_secret
        if secret is None or not isinstance(event, RequestOpened):
            return None
        token = tracker_token(secret.get_secret_value(), event.officeid, event.data.request_id)
        return tracker_url(self.ctx.settings.tracker_base_url, token)

    async def decide_all(
        self,
        event: CloudEvent,
        office: Office,
        request: RequestInfo | None,
        appointment: AppointmentInfo | None,
        *,
        apologise: bool = False,
    ) -> None:
        """Decide every message ``event`` calls for (``request``: what is known of its request;
        ``apologise``: an SLA alert owns its request and stage's apology to the tenant)."""
        now = self.ctx.clock()
        for draft, plan in self._drafts(event, office, request, appointment, apologise):
            await self.decide(draft, plan, event.time, now)

    async def supersede_all(self, event: CloudEvent, office: Office, request: RequestInfo | None) -> None:
        """An appointment's scheduling that a later one (by event time) already replaced arrived
        late: its messages are suppressed (reason ``superseded``; ``stale`` if it is history too),
        on the channel they would use."""
        now = self.ctx.clock()
        reason = Reason.STALE if office.is_history(event.time, now) else Reason.SUPERSEDED
        for draft, plan in self._drafts(event, office, request, None):
            tenant = draft.tenant_ref
            contact = await self.ctx.store.get_contact(office.id, tenant) if tenant else None
            nominal = choose_channels(contact, plan.policy).nominal
            await self.recorder.suppress(draft, nominal, reason, now)

    async def decide(
        self,
        draft: Draft,
        plan: MessagePlan,
        cause_time: datetime,
        now: datetime,
        *,
        waiting_until: datetime | None = None,
        arrived_at: datetime | None = None,
    ) -> None:
        """Load what the decision needs, decide (``domain/policy.py``), then record the message
        (and send it if due), keep it waiting, or suppress it. ``waiting_until``: the message
        already waited for its tenant's first contact since ``arrived_at`` (the cause is history
        or live as of its arrival, not of the end of the wait)."""
        ctx = self.ctx
        office = ctx.office(draft.office)
        tenant = draft.tenant_ref if plan.recipient is Recipient.TENANT else None
        contact = await ctx.store.get_contact(draft.office, tenant) if tenant is not None else None
        history = office.is_history(cause_time, arrived_at or now)
        may_wait = waiting_until is None and ctx.settings.contact_wait_seconds > 0
        # whether anything at all is known of the tenant: read only when it can matter
        tenant_known = (
            tenant is None
            or contact is not None
            or history
            or not may_wait
            or await ctx.store.has_contact_record(draft.office, tenant)
        )
        office_reachable = plan.recipient is Recipient.TENANT or bool(office_addresses(office, draft.audience))
        decision = decide_message(
            plan,
            tenant_ref=draft.tenant_ref,
            contact=contact,
            tenant_known=tenant_known,
            history=history,
            may_wait=may_wait,
            office_reachable=office_reachable,
        )
        if decision.wait:
            await self._await_contact(draft, plan, now)
        elif decision.suppressed is not None:
            await self.recorder.suppress(draft, decision.nominal, decision.suppressed, now)
        elif goes_in_digest(plan, self.digests.rules):
            await self.digests.group(draft, now)
        else:
            channel, fallbacks = decision.channels[0], decision.channels[1:]
            await self.recorder.enqueue(
                draft, channel, fallbacks, plan.scheduled_at, now, contact=contact, hand_off=True
            )

    async def _await_contact(self, draft: Draft, plan: MessagePlan, now: datetime) -> None:
        """Nothing known of this tenant yet: its first contact event may be on its way on the
        other topic; the message waits for it (or for the deadline). Its texts are built now all
        the same: a template error fails this event, not a later one."""
        templates = self.ctx.templates
        for option in (Channel.SMS, Channel.EMAIL):
            if templates.has(draft.office, draft.template, option):
                templates.render(draft.office, draft.template, option, draft.context)
        until = now + timedelta(seconds=self.ctx.settings.contact_wait_seconds)
        key = notification_id(draft.cause_id, draft.template, Channel.SMS) + "/contact"
        await self.ctx.store.await_contact(Waiting(key, draft, plan.scheduled_at, until, now))

    async def decide_awaiting(self, waiting: Sequence[Waiting]) -> None:
        """Decide messages that waited for their tenant's first contact (it came, or time is up)."""
        for item in waiting:
            draft = item.draft
            try:
                plan = draft.plan(item.scheduled_at)
                now = self.ctx.clock()
                await self.decide(
                    draft, plan, draft.cause_time, now, waiting_until=item.until, arrived_at=item.created_at
                )
            except (Rejected, TemplateProblem) as exc:  # cannot be built any more (templates changed)
                log.warning("a message waiting for a contact was dropped: %s", exc, extra={"office": draft.office})
            await self.ctx.store.forget_awaiting(item.key)


@dataclass(frozen=True)
class Cases:
    """What an event handler (``requests.py``, ``tenants.py``) works with."""

    ctx: Context
    recorder: Recorder
    decider: Decider
