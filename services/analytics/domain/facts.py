"""Facts: what analytics keeps of the events, and how a fact is folded from its events.

Every kept event is stored once under its ``id`` (a redelivery is a no-op). A fact — one per
request, survey, detractor alert or notification — is recomputed from *all* the stored events of
its key, ordered by ``(time, id)``: the same events in any order, delivered any number of times,
give the same fact. Nothing personal is kept: no phone, e-mail, comment, summary or SMS text, and
no tenant reference either (``tenant.*`` and ``sms.replied`` events are counted, never stored).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics.domain.records import (
    AlertFact,
    Appointment,
    CampaignAnswer,
    Fact,
    FactBase,
    Interval,
    Missed,
    NotificationFact,
    Rating,
    RequestFact,
    StoredEvent,
    SurveyFact,
)
from shared.calendar import WorkingCalendar, calendar_for
from shared.events import CloudEvent
from shared.offices import Office, Offices

Doc = dict[str, Any]

REQUEST_TYPES = frozenset(
    {
        "request.opened",
        "request.assigned",
        "appointment.scheduled",
        "appointment.missed",
        "request.on_hold",
        "request.resumed",
        "repair.done",
        "request.closed",
        "request.reopened",
        "sla.at_risk",
        "sla.breached",
    }
)
SURVEY_TYPES = frozenset({"survey.requested", "satisfaction.rated", "campaign.answered"})
NOTIFICATION_OUTCOMES = ("sent", "delivered", "failed", "deferred", "suppressed")
#: the final outcome of a notification does not depend on arrival order: the highest rank wins
OUTCOME_RANK = {"deferred": 1, "suppressed": 2, "sent": 3, "failed": 4, "delivered": 5}
#: a tenant followed up in person (``followup.done``, one per task): kept as a notification whose
#: channel is the way it went (phone, counter, visit, letter) and whose outcome is ``followup_<outcome>``
FOLLOWUP_OUTCOMES = ("followup_reached", "followup_unreachable", "followup_refused")
OUTCOME_RANK.update(dict.fromkeys(FOLLOWUP_OUTCOMES, 6))
FOLLOWUP_CHANNELS = ("phone", "counter", "visit", "letter")
#: request channels counted as digital (docs/DOMAIN.md, digital share)
DIGITAL_CHANNELS = frozenset({"web", "app", "chatbot", "email"})
#: categories with a resolution deadline (docs/DOMAIN.md, SLA table)
RESOLUTION_CATEGORIES = frozenset({"neighbourhood", "administrative", "rent_charges", "transfer"})
FIRST_RESPONSE_TYPES = frozenset({"request.assigned", "appointment.scheduled", "request.closed"})
#: what answers a transfer request (docs/DOMAIN.md: "a first answer (closing or assigning)")
FIRST_ANSWER_TYPES = frozenset({"request.assigned", "request.closed"})


@dataclass(frozen=True)
class OfficeRules:
    """What the fold needs to know of an office: its time zone, intervention and transfer
    targets, office hours and holiday region."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    u1_hours: float = 4
    u2_hours: float = 24
    u3_working_days: float = 5
    day_start: time = time(8, 0)
    day_end: time = time(18, 0)
    holiday_region: str | None = None
    transfer_working_days: float = 30
    complaint_working_days: float = 10

    @classmethod
    def of(cls, office: Office) -> OfficeRules:
        sla = office.sla
        return cls(
            office.tz,
            sla.u1_hours,
            sla.u2_hours,
            sla.u3_working_days,
            sla.day_start,
            sla.day_end,
            office.holiday_region,
            sla.transfer_working_days,
            sla.complaint_answer_working_days,
        )

    def calendar(self) -> WorkingCalendar:
        """The office's working calendar (shared, cached): ``shared.calendar.office_calendar``'s,
        holiday region included."""
        return calendar_for(self.tz, self.day_start, self.day_end, self.holiday_region)


@dataclass(frozen=True)
class OfficeBook:
    """The rules of every configured office (an unknown office gets the default rules)."""

    rules: Mapping[str, OfficeRules] = field(default_factory=dict)

    @classmethod
    def of(cls, offices: Offices) -> OfficeBook:
        return cls({o.id: OfficeRules.of(o) for o in offices.office})

    def of_office(self, office: str) -> OfficeRules:
        return self.rules.get(office) or OfficeRules()

    def of_key(self, key: str) -> OfficeRules:
        """The rules of a fact key's office (``kind|office|id``)."""
        return self.of_office(key.split("|", 2)[1])

    def tz(self, office: str) -> ZoneInfo:
        return self.of_office(office).tz

    def zones(self) -> dict[str, ZoneInfo]:
        return {office: rules.tz for office, rules in self.rules.items()}


def _keep(data: Mapping[str, Any], *names: str) -> Doc:
    return {n: data[n] for n in names if data.get(n) is not None}


def _stored(event: CloudEvent, kind: str, key: str, kept: Doc) -> StoredEvent:
    for name, value in list(kept.items()):
        if hasattr(value, "value"):  # enums are kept as their values
            kept[name] = value.value
    return StoredEvent(id=event.id, key=key, office=event.officeid, type=kind, time=event.time, data=kept)


def keep_request(event: CloudEvent, kind: str) -> StoredEvent:
    """What is kept of a request's event (``r|office|request_id``)."""
    data = event.data.model_dump(mode="python")
    kept = _keep(
        data,
        "category",
        "urgency",
        "channel",
        "assignee_ref",
        "appointment_id",
        "missed_by",
        "resolution",
        "stage",
        "policy",
        "assignee_kind",
        "assignee_name",
        "contractor_name",
        "first_visit",
        "complaint",
    )
    if kept.get("assignee_kind") != "contractor":
        kept.pop("assignee_name", None)  # an agent's or team's name is not needed (nor kept)
    if data.get("housing_ref"):
        kept["housing"] = housing_digest(event.officeid, data["housing_ref"])
    return _stored(event, kind, f"r|{event.officeid}|{data['request_id']}", kept)


def housing_digest(office: str, housing_ref: str) -> str:
    """What analytics keeps of a housing reference: enough to tell two requests of the same home
    apart from others (repeat repairs), not the reference."""
    return hashlib.sha256(f"housing\x00{office}\x00{housing_ref}".encode()).hexdigest()[:20]


def keep_survey(event: CloudEvent, kind: str) -> StoredEvent:
    """What is kept of a survey's event (``s|office|survey_id``; a rating without survey id is
    keyed by its request)."""
    data = event.data.model_dump(mode="python")
    office = event.officeid
    survey = data.get("survey_id")
    key = f"s|{office}|{survey}" if survey else f"s|{office}|request:{data['request_id']}"
    kept = _keep(data, "request_id", "campaign_id", "reminder", "score", "nps", "channel")
    if kind == "campaign.answered":
        kept["axes"] = {k: v for k, v in data["axes"].items() if v is not None}
    return _stored(event, kind, key, kept)


#: the events of a detractor alert's life, keyed like the alert (same subject)
ALERT_TYPES = frozenset({"feedback.detractor_alert", "feedback.alert_acknowledged", "feedback.alert_overdue"})


def keep_alert(event: CloudEvent, kind: str) -> StoredEvent:
    """What is kept of a detractor alert, its acknowledgement or its overdue deadline
    (``a|office|subject``: the three share the alert's subject); never the action's text."""
    data = event.data.model_dump(mode="python")
    kept = _keep(data, "score", "follow_up_due_at", "request_id", "acknowledged_at", "within_deadline")
    return _stored(event, kind, f"a|{event.officeid}|{event.subject}", kept)


def keep_notification(event: CloudEvent, kind: str) -> StoredEvent:
    """What is kept of a notification outcome (``n|office|notification_id``)."""
    data = event.data.model_dump(mode="python")
    kept = _keep(data, "cause_id", "channel", "template", "recipient", "sms_segments")
    return _stored(event, kind, f"n|{event.officeid}|{data['notification_id']}", kept)


def keep_followup(event: CloudEvent, kind: str) -> StoredEvent:
    """What is kept of a follow-up done in person (``n|office|followup_id``): counted with the
    notifications, on its own channel, acknowledging its cause when the tenant was reached."""
    data = event.data.model_dump(mode="python")
    kept = _keep(data, "cause_id", "channel")
    kept.update(template="followup", recipient="tenant", result=f"followup_{data['outcome'].value}")
    return _stored(event, kind, f"n|{event.officeid}|{data['followup_id']}", kept)


def _ordered(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    unique = {e.id: e for e in events}
    return sorted(unique.values(), key=lambda e: (e.time, e.id))


def fold(key: str, events: Sequence[StoredEvent], rules: OfficeRules) -> Fact:
    """The fact of ``key`` from all its stored events (order and duplicates do not matter), with
    the office-local days it touches."""
    ordered = _ordered(events)
    kind, office, _ = key.split("|", 2)
    base = FactBase(key=key, office=office, n_events=len(ordered))
    fact: Fact
    if kind == "r":
        fact = fold_request(base, ordered, rules)
    elif kind == "s":
        fact = fold_survey(base, ordered)
    elif kind == "a":
        fact = fold_alert(base, ordered)
    else:
        fact = fold_notification(base, ordered)
    return replace(fact, days=tuple(fact_days(fact, rules.tz)))


def _moments(fact: Fact) -> Iterable[datetime | None]:
    if isinstance(fact, RequestFact):
        if fact.placeholder:
            return
        yield fact.opened_at
        yield fact.first_response_at
        yield fact.repair_done_at
        yield fact.first_closed_at
        for appointment in fact.appointments:
            yield appointment.at
        for missed in fact.missed:
            yield missed.at
        for interval in fact.open_intervals:
            yield interval.s
            yield interval.e
    elif isinstance(fact, SurveyFact):
        yield fact.sent_at
        yield fact.rating.at if fact.rating else None
        yield fact.campaign_answer.at if fact.campaign_answer else None
    elif isinstance(fact, AlertFact):
        yield fact.raised_at
    else:
        yield fact.first_at


def fact_days(fact: Fact, tz: ZoneInfo) -> list[str]:
    """The local days (ISO dates) a fact contributes to, sorted."""
    return sorted({m.astimezone(tz).date().isoformat() for m in _moments(fact) if m is not None})


def _base(base: FactBase) -> dict[str, Any]:
    return {"key": base.key, "office": base.office, "n_events": base.n_events}


def fold_request(base: FactBase, events: Sequence[StoredEvent], rules: OfficeRules) -> RequestFact:
    opened = next((e for e in events if e.type == "request.opened"), None)
    opened_at: datetime | None = opened.time if opened else None
    urgency = opened.data.get("urgency") if opened else None
    first_response = next((e.time for e in events if e.type in FIRST_RESPONSE_TYPES), None)
    # on-hold intervals, paired in time order
    holds: list[tuple[datetime, datetime | None]] = []
    for e in events:
        if e.type == "request.on_hold" and (not holds or holds[-1][1] is not None):
            holds.append((e.time, None))
        elif e.type == "request.resumed" and holds and holds[-1][1] is None:
            holds[-1] = (holds[-1][0], e.time)
    # only a repair counts for repair time and within target: a request closed with no repair
    # has neither (its intervention clock is "not applicable", docs/DOMAIN.md)
    done_event = next(
        (e for e in events if e.type == "repair.done" and (opened_at is None or e.time >= opened_at)),
        None,
    )
    done = done_event.time if done_event is not None else None
    repair_seconds: float | None = None
    within_target: bool | None = None
    if opened_at is not None and done is not None:
        held = timedelta(0)
        for start, end in holds:
            lo, hi = max(start, opened_at), min(end or done, done)
            if hi > lo:
                held += hi - lo
        elapsed = done - opened_at - held
        repair_seconds = elapsed.total_seconds()
        if urgency in ("U1", "U2"):
            target = rules.u1_hours if urgency == "U1" else rules.u2_hours
            within_target = elapsed <= timedelta(hours=target)
        elif urgency == "U3":
            within_target = _within_working_days(rules, opened_at, done, holds, rules.u3_working_days)
    # open intervals (opened → closed, reopened → closed …), for the backlog at any instant
    intervals: list[Interval] = []
    closes = [e for e in events if e.type == "request.closed"]
    if opened_at is not None:
        current: datetime | None = opened_at
        for e in events:
            if e.time < opened_at:
                continue
            if e.type == "request.closed" and current is not None:
                intervals.append(Interval(current, e.time))
                current = None
            elif e.type == "request.reopened" and current is None:
                current = e.time
        if current is not None:
            intervals.append(Interval(current, None))
    appointments: dict[str, datetime] = {}
    for e in events:
        if e.type == "appointment.scheduled":
            appointments.setdefault(e.data["appointment_id"], e.time)
    breaches: dict[str, datetime] = {}
    for e in events:
        if e.type == "sla.breached":
            breaches.setdefault(e.data["stage"], e.time)
    transfer_in_time: bool | None = None
    complaint = bool(opened.data.get("complaint")) if opened else False
    contractor = contractor_of(events, done)
    if opened_at is not None and opened is not None and opened.data.get("category") == "transfer":
        transfer_in_time = _transfer_in_time(rules, opened_at, events, holds, breaches)
    return RequestFact(
        **_base(base),
        placeholder=opened is None,
        opened_at=opened_at,
        opened_event=opened.id if opened else None,
        category=opened.data.get("category") if opened else None,
        urgency=urgency,
        channel=opened.data.get("channel") if opened else None,
        first_response_at=first_response,
        first_response_seconds=(
            (first_response - opened_at).total_seconds()
            if opened_at is not None and first_response is not None and first_response >= opened_at
            else None
        ),
        repair_done_at=done,
        repair_seconds=repair_seconds,
        within_target=within_target,
        open_intervals=tuple(intervals),
        first_closed_at=closes[0].time if closes else None,
        resolution=closes[-1].data.get("resolution") if closes else None,
        reopened=bool(closes) and any(e.type == "request.reopened" and e.time >= closes[0].time for e in events),
        assignees=len({e.data.get("assignee_ref") for e in events if e.type == "request.assigned"}),
        appointments=tuple(Appointment(a, t) for a, t in appointments.items()),
        missed=tuple(Missed(e.time, e.data["missed_by"]) for e in events if e.type == "appointment.missed"),
        breaches=breaches,
        transfer_in_time=transfer_in_time,
        contractor=contractor[0],
        contractor_name=contractor[1],
        first_visit=done_event.data.get("first_visit") if done_event is not None else None,
        housing=opened.data.get("housing") if opened else None,
        complaint=complaint,
        complaint_answered_in_time=(
            _within_working_days(rules, opened_at, first_response, holds, rules.complaint_working_days)
            if complaint and opened_at is not None and first_response is not None and first_response >= opened_at
            else None
        ),
    )


def contractor_of(events: Sequence[StoredEvent], done: datetime | None) -> tuple[str | None, str | None]:
    """The contractor a request's repair is attributed to (events in time order): the last
    contractor assignment at or before the repair (any, when none was before it or no repair),
    else the contractor named by the last appointment scheduled at or before it; with a name
    (the assignment's, else an appointment's, else the reference): (id, name)."""

    def upto(found: list[StoredEvent]) -> list[StoredEvent]:
        before = [e for e in found if done is None or e.time <= done]
        return before or found

    assigned = upto([e for e in events if e.type == "request.assigned" and e.data.get("assignee_kind") == "contractor"])
    named = upto([e for e in events if e.type == "appointment.scheduled" and e.data.get("contractor_name")])
    appointment_name = str(named[-1].data["contractor_name"]).strip() if named else None
    if assigned:
        last = assigned[-1]
        ref = str(last.data["assignee_ref"])
        return ref, str(last.data.get("assignee_name") or appointment_name or ref)
    if appointment_name:
        return "name:" + " ".join(appointment_name.lower().split()), appointment_name
    return None, None


def _within_working_days(
    rules: OfficeRules,
    start: datetime,
    end: datetime,
    holds: Sequence[tuple[datetime, datetime | None]],
    days: float,
) -> bool:
    """Whether the working time from ``start`` to ``end``, on-hold time excluded, is at most
    ``days`` working days (on the office's calendar, holiday region included)."""
    calendar = rules.calendar()
    worked = calendar.working_time_between(start, end)
    for hold_start, hold_end in holds:
        lo, hi = max(hold_start, start), min(hold_end or end, end)
        worked -= calendar.working_time_between(lo, hi)
    return worked <= calendar.day_length * days


def _transfer_in_time(
    rules: OfficeRules,
    opened_at: datetime,
    events: Sequence[StoredEvent],
    holds: Sequence[tuple[datetime, datetime | None]],
    breaches: Mapping[str, datetime],
) -> bool | None:
    """A transfer request's part in "transfer requests answered in time": answered (first
    assignment or closing) within its deadline → True; answered late, or overdue (its resolution
    deadline passed unanswered: the ``sla.breached`` ticketing states) → False; still open within
    its deadline → None (not counted). Facts only, never the time of reading or of arrival."""
    answer = next((e.time for e in events if e.type in FIRST_ANSWER_TYPES and e.time >= opened_at), None)
    if answer is not None:
        return _within_working_days(rules, opened_at, answer, holds, rules.transfer_working_days)
    return False if "resolution" in breaches else None


def fold_survey(base: FactBase, events: Sequence[StoredEvent]) -> SurveyFact:
    sent = next((e for e in events if e.type == "survey.requested" and not e.data.get("reminder")), None)
    any_request = next((e for e in events if e.type == "survey.requested"), None)
    rating = next((e for e in events if e.type == "satisfaction.rated"), None)  # the first answer wins
    answer = next((e for e in events if e.type == "campaign.answered"), None)
    requested_campaign = any_request.data.get("campaign_id") if any_request is not None else None
    return SurveyFact(
        **_base(base),
        sent_at=sent.time if sent else None,
        origin="campaign" if requested_campaign or answer else "request",
        campaign_id=requested_campaign or (answer.data["campaign_id"] if answer else None),
        rating=(
            Rating(rating.time, rating.data["score"], rating.data.get("nps"), rating.data.get("channel"))
            if rating is not None
            else None
        ),
        campaign_answer=(
            CampaignAnswer(answer.time, answer.data["axes"], answer.data.get("nps")) if answer is not None else None
        ),
        request_id=next((str(e.data["request_id"]) for e in events if e.data.get("request_id")), None),
    )


def fold_alert(base: FactBase, events: Sequence[StoredEvent]) -> AlertFact:
    """The alert (its first ``feedback.detractor_alert``), the first acknowledgement and whether its
    deadline passed: the same whatever the arrival order."""
    raised = next((e for e in events if e.type == "feedback.detractor_alert"), events[0])
    ack = next((e for e in events if e.type == "feedback.alert_acknowledged"), None)
    overdue = next((e for e in events if e.type == "feedback.alert_overdue"), None)
    due_at = raised.data.get("follow_up_due_at")
    if due_at is None and overdue is not None:
        due_at = overdue.data.get("follow_up_due_at")
    return AlertFact(
        **_base(base),
        raised_at=raised.time,
        score=raised.data.get("score"),
        due_at=due_at,
        acknowledged_at=ack.data.get("acknowledged_at", ack.time) if ack is not None else None,
        within_deadline=bool(ack.data.get("within_deadline")) if ack is not None else None,
        overdue=overdue is not None,
    )


def fold_notification(base: FactBase, events: Sequence[StoredEvent]) -> NotificationFact:
    first = events[0].data
    outcomes = sorted(
        {str(e.data["result"]) if e.type == "followup.done" else e.type.removeprefix("notification.") for e in events},
        key=OUTCOME_RANK.__getitem__,
    )
    segments = [e.data["sms_segments"] for e in events if e.data.get("sms_segments") is not None]
    return NotificationFact(
        **_base(base),
        first_at=events[0].time,
        channel=first.get("channel"),
        template=first.get("template"),
        recipient=first.get("recipient"),
        cause_id=first.get("cause_id"),
        outcome=outcomes[-1],
        outcomes=tuple(outcomes),
        sms_segments=max(segments) if segments else 0,
    )
