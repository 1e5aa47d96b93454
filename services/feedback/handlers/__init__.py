"""The feedback use cases, one module each (docs/ARCHITECTURE.md, "Inside a service"):

- ``surveys``: request events → one ``survey.requested`` per request (and ``invite``);
- ``reminders``: the periodic sweep (reminders, events left unpublished);
- ``campaigns``: create, open, close, paced invitations, progress, results;
- ``answers``: the tenant page, SMS replies, ratings and campaign answers from the topic;
- ``alerts``: detractor alerts, their acknowledgement, the open-alerts gauge;
- ``tenants``: consent, contact channels, erasure.

``HANDLERS`` maps each consumed event type to its handler; ``apply`` runs a consumed batch in order,
each run of consecutive events of a kind in ``BULK`` (ratings, campaign answers, request events —
openings, repairs and closings mixed make one run) by its bulk use case (one set of writes for the
run), every other event by its handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from itertools import groupby
from typing import Any

from services.feedback.handlers import answers, surveys, tenants
from services.feedback.ports import Deps
from shared.events import CloudEvent, full_type, short_type

Handler = Callable[[Deps, Any], Awaitable[None]]
BulkHandler = Callable[[Deps, Sequence[Any]], Awaitable[None]]

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

#: consumed event types that make one run together (their bulk use case takes them mixed)
RUNS: dict[str, str] = {"request.opened": "request", "repair.done": "request", "request.closed": "request"}

#: kind of run (a consumed event type, or a name of ``RUNS``) → the use case of a run of consecutive
#: events of that kind, with the effects of their handlers applied to each in turn
BULK: dict[str, BulkHandler] = {
    "satisfaction.rated": answers.on_ratings,
    "campaign.answered": answers.on_campaign_answers,
    "request": surveys.on_request_events,
}

#: the full type names the consumer subscribes to
CONSUMED_TYPES = [full_type(t) for t in HANDLERS]


def _kind(event: CloudEvent) -> str:
    kind = short_type(event.type)
    return RUNS.get(kind, kind)


async def apply(deps: Deps, events: Sequence[CloudEvent]) -> None:
    """Apply a batch of events in order (every step is idempotent): a run of consecutive events of
    a bulk type at once, any other event on its own."""
    for kind, run in groupby(events, key=_kind):
        bulk = BULK.get(kind)
        if bulk is not None:
            await bulk(deps, list(run))
            continue
        handler = HANDLERS.get(kind)
        if handler is not None:
            for event in run:
                await handler(deps, event)
