"""Follow-up tasks (``domain/followups.py``): opened when a tenant message cannot go out digitally,
listed for the office, closed by an agent (``followup.done`` through the shared outbox, once),
erased with the tenant."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.events import Channel, CloudEvent, FollowupChannel, FollowupOutcome, Recipient
from shared.outbox import Relay

from ..domain.followups import Followup, FollowupStatus, calls_for_task, done_event, followup_id
from ..domain.messages import at_send_time
from ..domain.records import Draft
from ..ports import FollowupStore
from .context import Context

log = logging.getLogger("canopee.notifications")


class DoneEvents:
    """The outbox's ``RecordedEvents`` over the tasks: a task done is recorded unpublished, its
    event published by the relay and the task marked published."""

    def __init__(self, store: FollowupStore) -> None:
        self.store = store
        self._tasks: dict[str, str] = {}

    def event(self, task: Followup) -> CloudEvent:
        event = done_event(task)
        self._tasks[event.id] = task.id
        return event

    async def mark_published(self, ids: Sequence[str]) -> None:
        await self.store.mark_followups_published([self._tasks.pop(i) for i in ids if i in self._tasks])

    async def pending(self, before: datetime, limit: int) -> list[CloudEvent]:
        tasks = await self.store.unpublished_followups(limit)
        return [self.event(t) for t in tasks if t.done_at is not None and t.done_at <= before]


class AlreadyDone(Exception):
    """The task was closed before (its event went out then)."""

    def __init__(self, task: Followup) -> None:
        super().__init__(task.id)
        self.task = task


@dataclass
class Followups:
    ctx: Context
    store: FollowupStore
    events: DoneEvents = field(init=False)
    relay: Relay = field(init=False)

    def __post_init__(self) -> None:
        self.events = DoneEvents(self.store)
        self.relay = Relay(self.events, self.ctx.publisher, self.ctx.clock)

    async def open_for(self, draft: Draft, reason: str, now: datetime) -> None:
        """A tenant message that could not go out digitally for ``reason``: a task, once."""
        if not calls_for_task(reason, draft.recipient is Recipient.TENANT):
            return
        task = Followup(
            id=followup_id(draft.cause_id, draft.template),
            office=draft.office,
            cause_id=draft.cause_id,
            cause_type=draft.cause_type,
            request_id=draft.request_id,
            tenant_ref=draft.tenant_ref,
            template=draft.template,
            reason=reason,
            text=self._words(draft, now),
            created_at=now,
        )
        if await self.store.add_followup(task):
            self.ctx.metrics.followups.labels(draft.office, "opened").inc()

    def _words(self, draft: Draft, now: datetime) -> str:
        """What the agent tells the tenant: the message as it would have gone (its SMS form when
        there is one, the shortest)."""
        office = self.ctx.office(draft.office)
        templates = self.ctx.templates
        channel = Channel.SMS if templates.has(office.id, draft.template, Channel.SMS) else Channel.EMAIL
        return templates.render(office.id, draft.template, channel, at_send_time(draft.context, now, office)).text

    async def worklist(self, office: str | None, status: FollowupStatus | None, limit: int) -> list[Followup]:
        return await self.store.followups(office, status.value if status else None, limit)

    async def get(self, task_id: str) -> Followup | None:
        return await self.store.get_followup(task_id)

    async def phone_of(self, task: Followup) -> str | None:
        """The tenant's phone for the agent's page (never logged, never in the JSON list)."""
        if task.tenant_ref is None:
            return None
        contact = await self.ctx.store.get_contact(task.office, task.tenant_ref)
        return contact.phone if contact else None

    async def close(self, task: Followup, channel: FollowupChannel, outcome: FollowupOutcome) -> Followup:
        """Record the task done and emit ``followup.done`` (once: ``AlreadyDone`` afterwards)."""
        if task.status is FollowupStatus.DONE:
            raise AlreadyDone(task)
        done = task.done(channel, outcome, self.ctx.clock())
        if not await self.store.finish_followup(done):
            current = await self.store.get_followup(task.id)
            raise AlreadyDone(current or task)
        self.ctx.metrics.followups.labels(task.office, f"done_{channel.value}").inc()
        try:
            await self.relay.publish([self.events.event(done)])
        except Exception:  # the broker is away: recorded unpublished, the dispatcher's flush emits it
            log.warning("followup.done not published yet", extra={"office": task.office})
        return done

    async def flush(self, grace: timedelta, limit: int) -> int:
        """Emit the ``followup.done`` events a crash or an absent broker left unpublished."""
        return await self.relay.flush(grace, limit)

    async def erase(self, office: str, tenant_ref: str) -> int:
        return await self.store.erase_followups(office, tenant_ref)
