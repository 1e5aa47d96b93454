"""The tenant's request tracker: the link of each opened request recorded (its token's digest,
``shared/tracker.py``), the page of a token, and the links of an erased tenant revoked."""

from __future__ import annotations

from collections.abc import Sequence

from services.ticketing.domain.requests import fold
from services.ticketing.domain.tracker import TrackerLink, TrackerPage, tracker_page
from services.ticketing.handlers.context import Ticketing
from shared.events import CloudEvent, RequestOpened, TenantErased
from shared.tracker import token_digest, tracker_token


async def record_links(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """Record the tracker link of every ``request.opened`` of the batch (once per request)."""
    if t.trackers is None or not t.tracker_secret:
        return
    links = [
        TrackerLink(
            token_digest(tracker_token(t.tracker_secret, e.officeid, e.data.request_id)),
            e.officeid,
            e.data.request_id,
            e.data.tenant_ref,
        )
        for e in events
        if isinstance(e, RequestOpened)
    ]
    if links:
        await t.trackers.record(links)


async def page_of(t: Ticketing, token: str) -> TrackerPage | None:
    """The page a token opens, or None for a token never handed out, revoked or expired."""
    page = await _page(t, token)
    t.metrics.tracker.labels("shown" if page else "not_found").inc()
    return page


async def _page(t: Ticketing, token: str) -> TrackerPage | None:
    if t.trackers is None or not t.tracker_secret or not 20 <= len(token) <= 64:
        return None
    link = await t.trackers.find(token_digest(token))
    if link is None:
        return None
    office = t.offices.get(link.office)
    facts = await t.requests.get(link.office, link.request_id)
    if office is None or facts is None:
        return None
    return tracker_page(office, link.request_id, fold(facts), t.clock())


async def erase_tenants(t: Ticketing, events: Sequence[CloudEvent]) -> None:
    """``tenant.erased``: the tenant's tracker links stop opening, now and for later requests."""
    if t.trackers is None:
        return
    for event in events:
        if isinstance(event, TenantErased):
            await t.trackers.erase(event.officeid, event.data.tenant_ref)
