"""Handlers of the events about requests (``office.requests``, ``ticketing.sla``,
``feedback.surveys``): remember what later messages need, cancel what no longer applies, then
decide the event's messages."""

from __future__ import annotations

import asyncio

from shared.events import (
    AppointmentMissed,
    AppointmentScheduled,
    CloudEvent,
    RequestAssigned,
    RequestClosed,
    RequestOpened,
    SlaAtRisk,
    SlaBreached,
)
from shared.offices import Office

from ..domain.messages import APOLOGY_STAGES, AppointmentInfo, RequestInfo
from ..domain.policy import Reason
from ..domain.records import PendingFilter
from .deciding import Cases

REMINDER = "appointment_reminder"


async def request_opened(cases: Cases, event: RequestOpened, office: Office) -> None:
    d = event.data
    details = RequestInfo(d.tenant_ref, d.category.value, d.urgency.value if d.urgency else None)
    # the request's own messages need none of it: saved while they are decided
    saved = asyncio.ensure_future(cases.ctx.store.save_request(office.id, d.request_id, details))
    try:
        await cases.decider.decide_all(event, office, None, None)
    finally:
        await saved


async def request_assigned(cases: Cases, event: RequestAssigned, office: Office) -> None:
    d = event.data
    if d.assignee_kind.value == "contractor" and d.assignee_name:
        await cases.ctx.store.save_request(office.id, d.request_id, RequestInfo(contractor=d.assignee_name))


async def appointment_scheduled(cases: Cases, event: AppointmentScheduled, office: Office) -> None:
    a = event.data
    store = cases.ctx.store
    request = await store.get_request(office.id, a.request_id)
    slot = AppointmentInfo(a.slot_start, a.slot_end, a.contractor_name)
    if not await store.save_appointment(office.id, a.request_id, a.appointment_id, slot, event.time, event.id):
        # a later re-scheduling (by event time) arrived first: this older slot must not win
        await cases.decider.supersede_all(event, office, request)
        return
    # a re-scheduled appointment: the reminders of earlier schedulings (older by event time:
    # only the latest gets here) must not go out
    old_reminder = PendingFilter(office.id, a.request_id, a.appointment_id, template=REMINDER, except_cause=event.id)
    await cases.recorder.cancel(old_reminder, Reason.CANCELLED)
    await cases.decider.decide_all(event, office, request, None)


async def appointment_missed(cases: Cases, event: AppointmentMissed, office: Office) -> None:
    m = event.data
    store = cases.ctx.store
    request = await store.get_request(office.id, m.request_id)
    appointment = await store.get_appointment(office.id, m.request_id, m.appointment_id)
    reminder = PendingFilter(office.id, m.request_id, m.appointment_id, template=REMINDER)
    await cases.recorder.cancel(reminder, Reason.CANCELLED)
    await cases.decider.decide_all(event, office, request, appointment)


async def request_closed(cases: Cases, event: RequestClosed, office: Office) -> None:
    request_id = event.data.request_id
    request = await cases.ctx.store.get_request(office.id, request_id)
    await cases.recorder.cancel(PendingFilter(office.id, request_id, template=REMINDER), Reason.CANCELLED)
    await cases.decider.decide_all(event, office, request, None)


async def sla_alert(cases: Cases, event: SlaAtRisk | SlaBreached, office: Office) -> None:
    """An SLA alert: the office team's message, and the tenant's apology when the alert is the
    first of its request and stage (``sla.at_risk`` then ``sla.breached``: one apology)."""
    sla = event.data
    store = cases.ctx.store
    request = await store.get_request(office.id, sla.request_id)
    apologise = False
    owners = cases.ctx.followup_store
    if owners is not None and request is not None and request.tenant_ref and sla.stage in APOLOGY_STAGES:
        key = f"{office.id}|{sla.request_id}|{sla.stage.value}"
        apologise = await owners.apology_cause(key, event.id) == event.id
    await cases.decider.decide_all(event, office, request, None, apologise=apologise)


async def about_a_request(cases: Cases, event: CloudEvent, office: Office) -> None:
    """SLA alerts, survey invitations, detractor alerts and overdue ones: messages about a request
    (if named)."""
    request_id = getattr(event.data, "request_id", None)
    request = await cases.ctx.store.get_request(office.id, request_id) if request_id is not None else None
    await cases.decider.decide_all(event, office, request, None)
