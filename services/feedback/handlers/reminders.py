"""The periodic sweep: one reminder per unanswered survey three days after its invitation (claimed
once per survey across instances), then the outbox's events left unpublished."""

from __future__ import annotations

from services.feedback.domain.reminders import may_remind, reminders_to_send
from services.feedback.handlers.surveys import invite
from services.feedback.ports import Deps

#: at most this many unpublished events are published per sweep
FLUSH_LIMIT = 90


async def sweep(deps: Deps) -> None:
    """Send the reminders due and publish events left unpublished."""
    now = deps.clock()
    due = await deps.store.reminders_due(now)
    if due:
        await deps.store.stop_reminders([s.id for s in due])
    worth = [s for s in due if may_remind(s, now)]
    campaigns = {c: await deps.store.campaign(c) for c in dict.fromkeys(s.campaign_id for s in worth) if c}
    tenants = {
        (s.office, s.tenant_ref): await deps.store.tenant(s.office, s.tenant_ref) for s in worth if not s.campaign_id
    }
    chosen = reminders_to_send(due, campaigns, tenants, now)
    # a reminder is claimed by inserting the survey's id: several instances send it once
    claimed = await deps.store.claim_reminders([s.id for s in chosen], now)
    for survey in await invite(deps, [s for s in chosen if s.id in claimed], reminder=True):
        deps.metrics.reminders.labels(survey.office).inc()
    await deps.outbox.flush(deps.outbox_grace, limit=FLUSH_LIMIT)
