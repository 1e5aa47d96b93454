"""A request's survey: ``request.opened`` names the tenant, ``repair.done`` (or a resolved
``request.closed``) ends the request; once both are known, one ``survey.requested`` goes out —
unless the request ended longer ago than the office's history horizon (a backfill, an import, a
replay): then the request is known as repaired and the decision counted (``history``), nobody is
surveyed.

Load the request's survey context (``store``), decide with ``domain.surveys.plan_survey``, then
write the survey and publish its invitation through the outbox. ``invite`` is also how reminders and
campaign invitations go out.

A survey link's token is random and only its hash is stored: the plaintext lives in the outbox copy
of the ``survey.requested`` event until it is published (the outbox then drops the body), so a
retry before that point publishes the same link, and a retry after it publishes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.feedback.domain.surveys import (
    Decision,
    Link,
    RequestNote,
    Survey,
    invitation,
    invitation_id,
    new_token,
    plan_survey,
    token_hash,
)
from services.feedback.ports import Deps
from shared.events import CloudEvent, RepairDone, RequestClosed, RequestOpened, Resolution


async def on_request_opened(deps: Deps, event: RequestOpened) -> None:
    note = RequestNote(tenant_ref=event.data.tenant_ref, opened_at=event.time, category=event.data.category.value)
    await survey_after_request(deps, event.officeid, event.data.request_id, note)


async def on_repair_done(deps: Deps, event: RepairDone) -> None:
    note = RequestNote(repaired=True, trigger=True, ended_at=event.time)
    await survey_after_request(deps, event.officeid, event.data.request_id, note)


async def on_request_closed(deps: Deps, event: RequestClosed) -> None:
    await deps.store.close_request(event.officeid, event.data.request_id)  # no longer in progress
    if event.data.resolution is Resolution.RESOLVED:
        note = RequestNote(trigger=True, ended_at=event.time)
        await survey_after_request(deps, event.officeid, event.data.request_id, note)


async def survey_after_request(deps: Deps, office: str, request_id: str, note: RequestNote) -> None:
    """Note what the event says; survey the tenant once the request calls for it."""
    ctx = await deps.store.survey_context(office, request_id, note)
    plan = plan_survey(ctx, deps.clock(), deps.office(office))
    survey = plan.invite  # a redelivery: make sure its first message went out
    if plan.create is not None:
        created = await deps.store.create_survey(plan.create, plan.week)
        if created is None:  # another survey holds the tenant's week (a racing request or instance)
            deps.metrics.surveys.labels(office, Decision.CAPPED.value).inc()
            return
        survey, new = created
        if new:
            deps.metrics.surveys.labels(office, Decision.SEND.value).inc()
    elif plan.decision is not None:
        deps.metrics.surveys.labels(office, plan.decision.value).inc()
        return
    if survey is not None:
        await invite(deps, [survey], reminder=False)


async def invite(deps: Deps, surveys: Sequence[Survey], *, reminder: bool) -> list[Survey]:
    """Publish the invitations (or reminders) of surveys, each once with a fresh link, in a few
    bulk writes; returns the surveys whose event this call published."""
    by_event = {invitation_id(s.id, reminder=reminder): s for s in surveys}
    recorded = await deps.outbox.store.lookup(list(by_event))
    to_publish: list[CloudEvent] = []
    published: list[Survey] = []
    fresh: list[tuple[str, Survey]] = []  # (token, survey)
    for event_id, survey in by_event.items():
        if event_id not in recorded:
            fresh.append((new_token(), survey))
        elif (earlier := recorded[event_id]) is not None:
            # recorded by an earlier attempt and never published: its link is the one that goes out
            to_publish.append(earlier)
            published.append(survey)
    if fresh:
        # the links first: an event is never published with a link that does not resolve
        links = [Link(token_hash(token), s.id, s.office, s.tenant_ref) for token, s in fresh]
        await deps.store.add_links(links)
        events = [invitation(s, deps.url_base, token, reminder=reminder) for token, s in fresh]
        ours = await deps.outbox.store.record(events, deps.clock())
        lost = [link.digest for link, e in zip(links, events, strict=True) if e.id not in ours]
        if lost:  # another instance recorded these first: theirs go out, our links are dropped
            await deps.store.drop_links(lost)
        for event, (_, survey) in zip(events, fresh, strict=True):
            if event.id in ours:
                to_publish.append(event)
                published.append(survey)
    await deps.outbox.publish(to_publish)
    return published
