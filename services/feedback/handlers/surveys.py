"""A request's survey: ``request.opened`` names the tenant, ``repair.done`` (or a resolved
``request.closed``) ends the request; once both are known, one ``survey.requested`` goes out —
unless the request ended longer ago than the office's history horizon (a backfill, an import, a
replay): then the request is known as repaired and the decision counted (``history``), nobody is
surveyed.

Load the request's survey context (``store``), decide with ``domain.surveys.plan_survey``, then
write the survey and publish its invitation through the outbox: one event at a time
(``survey_after_request``), or a run of request events read from the topic at once, with the same
effects (``on_request_events``: a few bulk reads and writes for the whole run). ``invite`` is also how reminders and
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
    SurveyContext,
    invitation,
    invitation_id,
    new_token,
    plan_survey,
    survey_id_for,
    token_hash,
)
from services.feedback.domain.tenants import TenantState
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


#: a consumed request event
RequestEvent = RequestOpened | RepairDone | RequestClosed


def _note(event: RequestEvent) -> tuple[RequestNote, bool]:
    """What a request event says, and whether its handler then decides the request's survey."""
    if isinstance(event, RequestOpened):
        return RequestNote(
            tenant_ref=event.data.tenant_ref, opened_at=event.time, category=event.data.category.value
        ), True
    if isinstance(event, RepairDone):
        return RequestNote(repaired=True, trigger=True, ended_at=event.time), True
    if event.data.resolution is Resolution.RESOLVED:
        return RequestNote(trigger=True, ended_at=event.time, closed=True), True
    return RequestNote(closed=True), False


async def on_request_events(deps: Deps, events: Sequence[RequestEvent]) -> None:
    """A run of consecutive request events of a consumed batch (openings, repairs, closings, mixed),
    in bulk, with the effects of their handlers one after the other: every event noted on its
    request in one ordered write; for each event after which its request wants a survey, in order,
    the survey planned by ``plan_survey`` against what is stored and what this run planned before it
    (a second request of a tenant in the run sees the first one's survey as its last: capped); the
    new surveys created in a few bulk writes (claims of the tenants' weeks, then the surveys), and
    one ``invite`` of them all. A decision not to survey is counted by the completing event only.

    A redelivered run finds its requests noted and its surveys made: the notes change nothing, the
    surveys are invited again (what was published is not published again). The requests are read
    before the write, not locked: a request's events share its partition (the record key is the
    subject), so one instance at a time applies them, and the instance that takes a partition over
    replays the batch in progress with the request's earlier events. Two instances surveying two
    requests of one tenant at once still make one survey: the tenant's week is claimed by a unique
    insert (``create_surveys``), the loser counts ``capped``."""
    noted = [(e, *_note(e)) for e in events]
    changes = await deps.store.note_requests([(e.officeid, e.data.request_id, note) for e, note, _ in noted])
    steps = [
        (before, after)
        for (_, _, decides), (before, after) in zip(noted, changes, strict=True)
        if decides and after.wants_survey and after.tenant_ref is not None
    ]
    if not steps:
        return
    survey_ids = {survey_id_for(after.office, after.request_id) for _, after in steps}
    existing = await deps.store.surveys_of(sorted(survey_ids))
    fresh = sorted(survey_ids - set(existing))
    wanted = sorted(
        {(after.office, after.tenant_ref) for _, after in steps if after.tenant_ref is not None} if fresh else set()
    )
    tenants = await deps.store.tenant_states(wanted) if wanted else {}
    last = await deps.store.last_surveys_at(wanted, other_than=fresh) if wanted else {}
    now = deps.clock()
    planned: dict[str, Survey] = {}  # by id: created by this run (once each)
    creates: list[tuple[Survey, int]] = []
    order: list[Survey] = []  # what to invite, in the run's order (a planned one: once)
    for before, after in steps:
        office, tenant_ref = after.office, after.tenant_ref
        assert tenant_ref is not None
        survey_id = survey_id_for(office, after.request_id)
        if survey_id in planned:
            continue  # its survey is this run's: created and invited below
        ctx = SurveyContext(
            after,
            existing.get(survey_id),
            tenants.get((office, tenant_ref), TenantState()),
            last.get((office, tenant_ref)),
            completed=not before.wants_survey,
        )
        plan = plan_survey(ctx, now, deps.office(office))
        if plan.create is not None:
            planned[survey_id] = plan.create
            creates.append((plan.create, plan.week))
            order.append(plan.create)
            # the tenant's last survey is now this one (a later request of theirs in the run is capped)
            last[office, tenant_ref] = max(
                last.get((office, tenant_ref), plan.create.created_at), plan.create.created_at
            )
        elif plan.decision is not None:
            deps.metrics.surveys.labels(office, plan.decision.value).inc()
        elif plan.invite is not None:
            order.append(plan.invite)
    created = await deps.store.create_surveys(creates) if creates else {}
    to_invite: list[Survey] = []
    for survey in order:
        if survey.id not in planned:
            to_invite.append(survey)
            continue
        made = created[survey.id]
        if made is None:  # another survey holds the tenant's week (a racing request or instance)
            deps.metrics.surveys.labels(survey.office, Decision.CAPPED.value).inc()
            continue
        stored, new = made
        if new:
            deps.metrics.surveys.labels(survey.office, Decision.SEND.value).inc()
        to_invite.append(stored)
    if to_invite:
        await invite(deps, to_invite, reminder=False)


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
