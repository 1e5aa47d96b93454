"""Apply a batch of request events: store the new ones, then recompute each touched request once
(with a handful of bulk round trips for the whole batch), record the alerts it calls for and
publish them — or, when the service lets requests settle (``alert_settle``), leave new alerts to
the sweeper once the request's events have been quiet that long."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.views import View, request_key
from services.ticketing.handlers.alerts import publish_pending
from services.ticketing.handlers.context import Ticketing
from services.ticketing.handlers.erasure import erase_late, strip_erased
from services.ticketing.handlers.projections import refresh_requests
from services.ticketing.handlers.tracking import record_links
from shared.events import CloudEvent


async def apply_request_events(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """Apply request events (idempotent: a redelivered batch changes nothing)."""
    now = t.clock()
    incoming: dict[str, list[Fact]] = defaultdict(list)
    for event in events:
        incoming[request_key(event.officeid, event.subject)].append(Fact.from_event(event))
    fresh: dict[str, list[Fact]] = {}
    outcomes: list[tuple[str, str, str]] = []
    for key, facts in incoming.items():
        seen: set[str] = set()
        for fact in facts:
            if fact.id in seen:
                outcomes.append((key, fact.id, "duplicate"))
            else:
                seen.add(fact.id)
                fresh.setdefault(key, []).append(fact)
    await strip_erased(t, fresh)
    duplicates = await t.requests.add_events(fresh)
    await record_links(t, events)
    await erase_late(t, fresh)
    views = await refresh_requests(t, list(incoming), now, settle=True)
    types = {(k, f.id): f.type for k, facts in incoming.items() for f in facts}
    outcomes += [
        (key, fact.id, "duplicate" if (key, fact.id) in duplicates else _flag_outcome(views.get(key), fact.id))
        for key, facts in fresh.items()
        for fact in facts
    ]
    for key, event_id, outcome in outcomes:
        t.metrics.facts.labels(types[(key, event_id)], outcome).inc()
    await publish_pending(t)


def _flag_outcome(view: View | None, event_id: str) -> str:
    if view is not None:
        for entry in view.request.timeline:
            if entry.fact.id == event_id:
                return "flagged" if entry.flag else "applied"
    return "applied"
