"""Office alerts as digests: an alert that waits (``domain/digests.py``) is recorded once as a
member of its office team's window (status ``grouped``, ``notification.deferred`` reason
``digest``); when the window ends, the dispatcher of any instance builds the digest, records it
once under its key (the unique insert is the claim: one instance only sends it), sends it, and
gives every listed alert the digest's outcome (``notification.sent`` per alert, the digest itself
emits none: analytics counts the alerts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.events import Channel

from ..domain.digests import DIGEST_TEMPLATES, DigestRules, digest_draft, digest_key, window_end
from ..domain.outcomes import deferred_event, notification_id
from ..domain.records import TERMINAL, Draft, Message, Status
from ..templates import TemplateProblem
from .context import Context
from .sending import Sender

log = logging.getLogger("canopee.notifications")


@dataclass
class Digests:
    ctx: Context
    sender: Sender

    def __post_init__(self) -> None:
        self.sender.digest_done = self.finish_members

    @property
    def rules(self) -> DigestRules:
        settings = self.ctx.settings
        return DigestRules(settings.digest_minutes, settings.detractor_immediate_max_score)

    async def group(self, draft: Draft, now: datetime) -> None:
        """Record an office alert as waiting for the digest of its window (once)."""
        end = window_end(now, self.ctx.settings.digest_minutes)
        message = Message(
            id=notification_id(draft.cause_id, draft.template, Channel.EMAIL),
            draft=draft,
            channel=Channel.EMAIL,
            status=Status.GROUPED,
            send_at=end,
            created_at=now,
            defer_reason="digest",
            digest=digest_key(draft.office, DIGEST_TEMPLATES[draft.audience], end),
        )
        if await self.ctx.store.insert(message):
            self.ctx.count(message, "deferred")
            await self.ctx.publisher.publish([deferred_event(message)])
            return
        known = await self.ctx.store.get(message.id)  # decided before: its outcome again (same id)
        if known is not None and known.status in TERMINAL:
            await self.ctx.publish_outcome(known)
        elif known is not None and known.status is Status.GROUPED:
            await self.ctx.publisher.publish([deferred_event(known)])

    async def send_due(self) -> int:
        """Send the digests whose window has ended (the dispatcher's tick, any instance)."""
        now = self.ctx.clock()
        keys = await self.ctx.store.due_digests(now, self.ctx.settings.dispatch_batch)
        for key in keys:
            try:
                await self._send(key, now)
            except TemplateProblem as exc:  # an office's override is broken: its alerts keep waiting
                log.error("a digest cannot be built: %s", exc, extra={"office": key.split("/")[1]})
            except Exception:  # recorded and claimed: the dispatcher sends it after its lease
                log.exception("sending a digest failed, it goes out after its lease")
        return len(keys)

    async def _send(self, key: str, now: datetime) -> None:
        ctx = self.ctx
        members = await ctx.store.grouped(key)
        if not members:
            return
        office = ctx.office(members[0].office)
        template = DIGEST_TEMPLATES[members[0].draft.audience]
        nid = notification_id(key, template, Channel.EMAIL)
        known = await ctx.store.get(nid)
        if known is not None:
            await self._settle(known, members, now)
            return
        minutes = ctx.settings.digest_minutes
        draft = digest_draft(office, key, template, members[0].send_at, max(minutes, 1), members)
        rendered = ctx.templates.render(office.id, template, Channel.EMAIL, draft.context)
        digest = Message(
            id=nid,
            draft=draft,
            channel=Channel.EMAIL,
            # inserted already claimed: the unique id lets one instance only send it
            status=Status.SENDING,
            send_at=now,
            created_at=now,
            lease_until=now + ctx.lease,
            attempts=1,
            text=rendered.text,
            subject_line=rendered.subject,
            html=rendered.html,
            digest=key,
            members=tuple(m.id for m in members),
        )
        if await ctx.store.insert(digest):
            await self.sender.send(digest)

    async def _settle(self, digest: Message, members: Sequence[Message], now: datetime) -> None:
        """A digest recorded before: once it has an outcome, the alerts it lists take it (a crash
        came in between); alerts recorded while it was being built wait for the next window.
        While it is being sent (or waits for a retry), its sender finishes its alerts."""
        if digest.status not in TERMINAL:
            return
        await self.finish_members(digest, now)
        late = [m.id for m in members if m.id not in digest.members]
        if late:
            end = window_end(now, max(self.ctx.settings.digest_minutes, 1))
            await self.ctx.store.regroup(late, digest_key(digest.office, digest.template, end), end)

    async def finish_members(self, digest: Message, now: datetime) -> None:
        """The digest went out (or failed for good): each alert it lists gets that outcome."""
        ctx = self.ctx
        changed = await ctx.store.finish_grouped(
            digest.members, digest.status, now, reason=digest.reason, recipient_masked=digest.recipient_masked
        )
        for member in changed:
            ctx.count(member, digest.status.value)
        try:
            await ctx.relay.publish([ctx.outcomes.event(m) for m in changed])
        except Exception:  # the broker is away: the dispatcher's flush publishes them a lease later
            log.warning("digest outcomes not published yet", extra={"office": digest.office})
