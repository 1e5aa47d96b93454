"""Use cases of the notifications service, one module each (see docs/notifications.md):

- ``consuming.py``: a consumed batch grouped and each event routed by the event-type table;
- ``requests.py``, ``tenants.py``: the handlers of request events and of tenant events;
- ``deciding.py``: the messages an event calls for, each one's channel or reason not to send;
- ``recording.py``: a decided message recorded once, deferred, suppressed, cancelled, fallen back;
- ``digests.py``: office alerts grouped per office team and window, the digest sent once;
- ``sending.py``: the background send pool, the provider call, the outcome recorded;
- ``holding.py``: what an instance holds until recorded: claimed messages (leases renewed),
  outcomes kept while the store is away;
- ``publishing.py``: outcome events through the shared outbox's relay;
- ``dispatching.py``: the periodic dispatcher (due messages, unpublished outcomes, claims);
- ``webhooks.py``: delivery receipts and inbound SMS;
- ``audit.py``: the audit list;
- ``followups.py``: tasks for tenants no digital message reaches, closed with ``followup.done``.

``Notifier`` wires them together over the ports of ``ports.py`` (built in ``app.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.events import CloudEvent
from shared.offices import Offices

from ..domain.records import EPOCH, AuditEntry
from ..metrics import NotificationMetrics
from ..ports import Clock, EmailProvider, FollowupStore, NotificationStore, Publisher, SmsProvider, WebhookIdStore
from ..providers import TokenBucket
from ..settings import NotificationsSettings
from ..templates import Templates
from .audit import audit_list
from .consuming import HANDLERS, Consumer
from .context import Context, utcnow
from .deciding import Cases, Decider
from .digests import Digests
from .dispatching import Dispatcher
from .followups import Followups
from .recording import Recorder
from .sending import Sender
from .webhooks import Webhooks


@dataclass
class Notifier:
    """The service's use cases over their ports (see ``app.py``)."""

    store: NotificationStore
    templates: Templates
    offices: Offices
    sms: SmsProvider
    email: EmailProvider
    publisher: Publisher
    metrics: NotificationMetrics
    settings: NotificationsSettings
    sms_limit: TokenBucket
    email_limit: TokenBucket
    clock: Clock = utcnow
    perf: Callable[[], float] = field(default=time.perf_counter)
    #: ids of the webhook calls accepted (replays refused); None: ids are not checked
    webhook_ids: WebhookIdStore | None = None
    _next_id_purge: datetime = field(default=EPOCH, init=False)
    #: follow-up tasks and apology owners (None: no tasks, no apologies)
    followup_store: FollowupStore | None = None

    def __post_init__(self) -> None:
        ctx = Context(
            self.store,
            self.templates,
            self.offices,
            self.publisher,
            self.metrics,
            self.settings,
            self.clock,
            self.followup_store,
        )
        self.sender = Sender(ctx, self.sms, self.email, self.sms_limit, self.email_limit, self.perf)
        self.followups = Followups(ctx, self.followup_store) if self.followup_store is not None else None
        recorder = Recorder(ctx, self.sender, self.followups)
        self.digests = Digests(ctx, self.sender)
        decider = Decider(ctx, recorder, self.digests)
        self.consumer = Consumer(Cases(ctx, recorder, decider))
        self.dispatcher = Dispatcher(ctx, self.sender, decider, self.digests, self.followups)
        self.webhooks = Webhooks(ctx, recorder)

    async def handle_batch(self, events: Sequence[CloudEvent]) -> None:
        # no new work while outcomes of this instance wait for the store (``holding.py``)
        await self.sender.holding.wait_settled()
        await self.consumer.handle_batch(events)

    async def handle(self, event: CloudEvent) -> None:
        await self.consumer.handle(event)

    async def dispatch_due(self) -> int:
        return await self.dispatcher.dispatch_due()

    async def renew_leases(self) -> int:
        """Renew the leases of the sends this instance holds (``app.py``'s job, every second)."""
        return await self.sender.holding.renew()

    async def drain(self, timeout: float) -> bool:
        return await self.sender.drain(timeout)

    async def delivery_receipt(self, reference: str, delivered: bool, reason: str | None) -> str:
        return await self.webhooks.delivery_receipt(reference, delivered, reason)

    async def inbound_sms(self, sender: str, text: str, message_id: str) -> str:
        return await self.webhooks.inbound_sms(sender, text, message_id)

    async def purge(self) -> int:
        """Storage limitation: message texts, inactive contacts and follow-up tasks' words and
        tenant references past their retention."""
        now = self.clock()
        changed = await self.store.purge_personal(
            now - timedelta(days=self.settings.message_body_retention_days),
            now - timedelta(days=self.settings.contact_retention_days),
        )
        if self.followup_store is not None:
            followup_before = now - timedelta(days=self.settings.followup_retention_days)
            changed += await self.followup_store.purge_followups(followup_before)
        return changed

    async def accept_webhook_id(self, msg_id: str) -> bool:
        """Record a webhook call's id until twice the tolerance window has passed (a replay after
        that is refused as stale); False when it was already accepted (a replay)."""
        if self.webhook_ids is None:
            return True
        now = datetime.now(UTC)  # wall time, as the calls' timestamps
        if now >= self._next_id_purge:
            await self.webhook_ids.purge_webhook_ids(now)
            self._next_id_purge = now + timedelta(minutes=1)
        window = timedelta(seconds=2 * self.settings.webhook_tolerance_seconds)
        return await self.webhook_ids.accept_webhook_id(msg_id, now + window)

    async def forget_webhook_id(self, msg_id: str) -> None:
        """The call failed: the sender may retry it with the same id."""
        if self.webhook_ids is not None:
            await self.webhook_ids.forget_webhook_id(msg_id)

    async def audit(
        self,
        office: str | None,
        subject: str | None,
        limit: int,
        *,
        status: str | None = None,
        reason: str | None = None,
    ) -> list[AuditEntry]:
        return await audit_list(self.store, self.store, office, subject, limit, status=status, reason=reason)


__all__ = ["EPOCH", "HANDLERS", "Notifier", "utcnow"]
