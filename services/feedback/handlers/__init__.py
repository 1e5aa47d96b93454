"""The feedback use cases, one module each (docs/ARCHITECTURE.md, "Inside a service"):

- ``surveys``: request events → one ``survey.requested`` per request (and ``invite``);
- ``reminders``: the periodic sweep (reminders, events left unpublished);
- ``campaigns``: create, open, close, paced invitations, progress, results;
- ``answers``: the tenant page, SMS replies, ratings and campaign answers from the topic;
- ``alerts``: detractor alerts, their acknowledgement, the open-alerts gauge;
- ``tenants``: consent, contact channels, erasure.

``HANDLERS`` maps each consumed event type to its handler; ``apply`` runs a consumed batch in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.feedback.handlers import answers, surveys, tenants
from services.feedback.ports import Deps
from shared.events import CloudEvent, full_type, short_type

Handler = Callable[[Deps, Any], Awaitable[None]]

#: consumed event type (short name) → its handler
HANDLERS: dict[str, Handler] = {
    "request.opened": surveys.on_request_opened,
    "repair.done": surveys.on_repair_done,
    "request.closed": surveys.on_request_closed,
    "tenant.consent_changed": tenants.on_consent_changed,
    "tenant.contact_updated": tenants.on_contact_updated,
    "tenant.erased": tenants.on_erased,
    "satisfaction.rated": answers.on_satisfaction_rated,
    "campaign.answered": answers.on_campaign_answered,
    "sms.replied": answers.on_sms_replied,
}

#: the full type names the consumer subscribes to
CONSUMED_TYPES = [full_type(t) for t in HANDLERS]


async def apply(deps: Deps, events: Sequence[CloudEvent]) -> None:
    """Apply a batch of events in order (every step is idempotent)."""
    for event in events:
        handler = HANDLERS.get(short_type(event.type))
        if handler is not None:
            await handler(deps, event)
