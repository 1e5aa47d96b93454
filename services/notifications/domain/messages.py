"""Which messages an event calls for, with the words they need (docs/DOMAIN.md, follow-ups table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.events import (
    AlertOverdue,
    AppointmentMissed,
    AppointmentScheduled,
    CloudEvent,
    DetractorAlert,
    MissedBy,
    Recipient,
    RequestClosed,
    RequestOpened,
    Resolution,
    SlaAtRisk,
    SlaBreached,
    Stage,
    SurveyRequested,
    Urgency,
)
from shared.offices import Office

from .calendar import french_date, french_datetime, french_time, relative_day, reminder_time
from .policy import (
    CATEGORY_LABELS,
    RESOLUTION_LABELS,
    STAGE_LABELS,
    TECHNICAL_CATEGORIES,
    MessagePlan,
    Policy,
    template_for_survey,
)

#: the acknowledgement of an opened request that carries the tenant's tracker link
ACKNOWLEDGEMENT_WITH_TRACKER = "request_opened_tracker"

#: a tenant whose intervention (or the answer to a non-technical request) is at risk or late gets
#: one apology per request and stage, with what happens next
APOLOGY = "sla_apology"
APOLOGY_STAGES = frozenset({Stage.INTERVENTION, Stage.RESOLUTION})

#: who in the office team receives an alert: ``alert`` → alert_emails, ``manager`` → manager_emails
ALERT, MANAGER = "alert", "manager"


@dataclass(frozen=True)
class RequestInfo:
    """What the service remembers of a request to write about it."""

    tenant_ref: str | None = None
    category: str | None = None
    urgency: str | None = None
    contractor: str | None = None


@dataclass(frozen=True)
class AppointmentInfo:
    slot_start: datetime
    slot_end: datetime
    contractor: str | None = None


@dataclass(frozen=True)
class Plans:
    """The messages of one event and the tenant they are about (None: unknown request)."""

    tenant_ref: str | None
    messages: tuple[MessagePlan, ...]
    request_id: str | None = None
    appointment_id: str | None = None


def office_addresses(office: Office, audience: str) -> tuple[str, ...]:
    return office.manager_emails if audience == MANAGER else office.alert_emails


def office_context(office: Office) -> dict[str, Any]:
    """What every message says of its office: names, and how to reach a person (phone and
    opening hours, None when the offices file does not give them)."""
    return {
        "office_name": office.name,
        "sender_name": office.sender_name,
        "office_phone": office.phone,
        "office_hours": office.opening_hours,
    }


def _base(office: Office, request_id: str, info: RequestInfo | None) -> dict[str, Any]:
    category = info.category if info else None
    return {
        **office_context(office),
        "request_id": request_id,
        "category_label": CATEGORY_LABELS.get(category or "", "demande"),
        "urgent": bool(info and info.urgency == Urgency.U1.value),
        "intervention": is_intervention(info),
    }


def _slot(office: Office, start: datetime, end: datetime, contractor: str | None) -> dict[str, Any]:
    return {
        "slot_date": french_date(start, office.tz),
        "slot_start": french_time(start, office.tz),
        "slot_end": french_time(end, office.tz),
        "contractor": contractor,
        # the day is named from the time the message is actually sent (``at_send_time``)
        "slot_at": start.isoformat(),
        "slot_day": None,
    }


def at_send_time(context: dict[str, Any], send_at: datetime, office: Office) -> dict[str, Any]:
    """The words that depend on when the message goes out (quiet hours and holidays may defer
    it): a slot is ``aujourd'hui`` or ``demain`` only as seen from ``send_at``, else its date."""
    slot_at = context.get("slot_at")
    if not slot_at:
        return context
    return {**context, "slot_day": relative_day(datetime.fromisoformat(slot_at), send_at, office.tz)}


def is_intervention(info: RequestInfo | None) -> bool:
    """Whether a request called for a technical intervention (its category or an urgency):
    a neighbourhood or administrative request is not ``une intervention``."""
    return info is not None and (info.category in TECHNICAL_CATEGORIES or info.urgency is not None)


def plans_for(
    event: CloudEvent,
    office: Office,
    *,
    request: RequestInfo | None,
    appointment: AppointmentInfo | None,
    now: datetime,
    reminder_hour: int,
    tracker_url: str | None = None,
    apologise: bool = False,
) -> Plans:
    """The messages ``event`` calls for; ``request`` is what is known of its request (for events
    that do not name the tenant) and ``appointment`` the slot a missed appointment was for.
    ``tracker_url``: the tenant's tracker link of an opened request (``shared/tracker.py``), put
    in its acknowledgement, whose template is then ``request_opened_tracker`` (what analytics
    counts as "status available to the tenant"). ``apologise``: an SLA alert that owns its request
    and stage's apology to the tenant (``APOLOGY_STAGES``; one per request and stage)."""
    tenant = Recipient.TENANT
    if isinstance(event, RequestOpened):
        d = event.data
        info = RequestInfo(d.tenant_ref, d.category.value, d.urgency.value if d.urgency else None)
        ctx = _base(office, d.request_id, info)
        ctx["tracker_url"] = tracker_url
        template = ACKNOWLEDGEMENT_WITH_TRACKER if tracker_url else "request_opened"
        return Plans(
            d.tenant_ref,
            (MessagePlan(template, tenant, Policy.PREFERRED, ctx, urgent=ctx["urgent"]),),
            d.request_id,
        )
    if isinstance(event, AppointmentScheduled):
        a = event.data
        ctx = {**_base(office, a.request_id, request), **_slot(office, a.slot_start, a.slot_end, a.contractor_name)}
        if ctx["contractor"] is None and request is not None:
            ctx["contractor"] = request.contractor
        urgent = bool(ctx["urgent"])
        at = reminder_time(a.slot_start, office.tz, reminder_hour)
        reminder = at > now  # a slot booked for tomorrow morning needs no reminder on top
        ctx["reminder"] = reminder
        messages = [MessagePlan("appointment_scheduled", tenant, Policy.PREFERRED, ctx, urgent=urgent)]
        if reminder:
            messages.append(MessagePlan("appointment_reminder", tenant, Policy.PREFERRED, ctx, scheduled_at=at))
        return Plans(request.tenant_ref if request else None, tuple(messages), a.request_id, a.appointment_id)
    if isinstance(event, AppointmentMissed):
        m = event.data
        if m.missed_by is not MissedBy.CONTRACTOR:
            return Plans(None, (), m.request_id, m.appointment_id)
        ctx = _base(office, m.request_id, request)
        ctx["slot_date"] = french_date(appointment.slot_start, office.tz) if appointment else None
        plan = MessagePlan("appointment_missed", tenant, Policy.PREFERRED, ctx, urgent=ctx["urgent"])
        return Plans(request.tenant_ref if request else None, (plan,), m.request_id, m.appointment_id)
    if isinstance(event, RequestClosed):
        c = event.data
        ctx = _base(office, c.request_id, request)
        responsibility = c.resolution is Resolution.TENANT_RESPONSIBILITY
        ctx["resolution_label"] = RESOLUTION_LABELS[c.resolution]
        ctx["tenant_responsibility"] = responsibility
        category = request.category if request else None
        ctx["tutorial_url"] = office.tutorials.get(category or "") if responsibility else None
        plan = MessagePlan("request_closed", tenant, Policy.EMAIL_FIRST, ctx)
        return Plans(request.tenant_ref if request else None, (plan,), c.request_id)
    if isinstance(event, SurveyRequested):
        s = event.data
        campaign = s.campaign_id is not None
        ctx = _base(office, s.request_id or "", request)
        ctx["url"] = s.url
        ctx["expires_date"] = french_date(s.expires_at, office.tz)
        policy = Policy.PREFERRED if campaign else Policy.SMS_FIRST
        plan = MessagePlan(template_for_survey(campaign, s.reminder), tenant, policy, ctx)
        return Plans(s.tenant_ref, (plan,), s.request_id)
    if isinstance(event, SlaAtRisk | SlaBreached):
        sla = event.data
        ctx = _base(office, sla.request_id, RequestInfo(category=sla.category.value))
        ctx.update(
            stage_label=STAGE_LABELS[sla.stage],
            policy=sla.policy,
            urgency=sla.urgency.value if sla.urgency else None,
            due_text=french_datetime(sla.due_at, office.tz),
            due_at=sla.due_at.astimezone(UTC).isoformat(),
            audience=ALERT,
        )
        name = "sla_at_risk" if isinstance(event, SlaAtRisk) else "sla_breached"
        plans = [MessagePlan(name, Recipient.OFFICE, Policy.OFFICE_EMAIL, ctx)]
        tenant_ref = request.tenant_ref if request else None
        if apologise and tenant_ref and sla.stage in APOLOGY_STAGES:
            words = {
                **_base(office, sla.request_id, request),
                "late": isinstance(event, SlaBreached),
                "stage_label": STAGE_LABELS[sla.stage],
            }
            plans.append(MessagePlan(APOLOGY, tenant, Policy.PREFERRED, words, urgent=words["urgent"]))
        return Plans(tenant_ref, tuple(plans), sla.request_id)
    if isinstance(event, DetractorAlert):
        alert = event.data
        ctx = _base(office, alert.request_id or "", request)
        ctx.update(
            request_id=alert.request_id,
            score=alert.score,
            comment=alert.comment,
            follow_up_text=french_datetime(alert.follow_up_due_at, office.tz),
            follow_up_at=alert.follow_up_due_at.astimezone(UTC).isoformat(),
            audience=MANAGER,
        )
        plan = MessagePlan("detractor_alert", Recipient.OFFICE, Policy.OFFICE_EMAIL, ctx)
        return Plans(None, (plan,), alert.request_id)
    if isinstance(event, AlertOverdue):
        overdue = event.data
        ctx = _base(office, overdue.request_id or "", request)
        ctx.update(
            request_id=overdue.request_id,
            survey_id=overdue.survey_id,
            follow_up_text=french_datetime(overdue.follow_up_due_at, office.tz),
            follow_up_at=overdue.follow_up_due_at.astimezone(UTC).isoformat(),
            audience=MANAGER,
        )
        # at once, never in a digest: the deadline has already passed
        plan = MessagePlan("detractor_overdue", Recipient.OFFICE, Policy.OFFICE_EMAIL, ctx)
        return Plans(None, (plan,), overdue.request_id)
    return Plans(None, ())
