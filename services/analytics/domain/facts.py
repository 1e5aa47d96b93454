"""Facts: what analytics keeps of the events, and how a fact is folded from its events.

Every kept event is stored once under its ``id`` (a redelivery is a no-op). A fact — one per
request, survey, detractor alert or notification — is recomputed from *all* the stored events of
its key, ordered by ``(time, id)``: the same events in any order, delivered any number of times,
give the same fact. Nothing personal is kept: no phone, e-mail, comment, summary or SMS text, and
no tenant reference either (``tenant.*`` and ``sms.replied`` events are counted, never stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics.domain.calendar import WorkingCalendar
from shared.events import TYPE_PREFIX, CloudEvent
from shared.offices import Office

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
#: request channels counted as digital (DOMAIN.md, digital share)
DIGITAL_CHANNELS = frozenset({"web", "app", "chatbot", "email"})
#: categories with a resolution deadline (DOMAIN.md, SLA table)
RESOLUTION_CATEGORIES = frozenset({"neighbourhood", "administrative", "rent_charges", "transfer"})
FIRST_RESPONSE_TYPES = frozenset({"request.assigned", "appointment.scheduled", "request.closed"})


@dataclass(frozen=True)
class OfficeRules:
    """What the fold needs to know of an office: its time zone and intervention targets."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    u1_hours: float = 4
    u2_hours: float = 24
    u3_working_days: float = 5
    day_start: time = time(8, 0)
    day_end: time = time(18, 0)

    @classmethod
    def of(cls, office: Office) -> OfficeRules:
        sla = office.sla
        return cls(office.tz, sla.u1_hours, sla.u2_hours, sla.u3_working_days, sla.day_start, sla.day_end)

    def calendar(self) -> WorkingCalendar:
        return _calendar(self.tz, self.day_start, self.day_end)


_CALENDARS: dict[tuple[str, time, time], WorkingCalendar] = {}


def _calendar(tz: ZoneInfo, start: time, end: time) -> WorkingCalendar:
    key = (str(tz), start, end)
    if key not in _CALENDARS:
        _CALENDARS[key] = WorkingCalendar(tz, start, end)
    return _CALENDARS[key]


def short_type(full: str) -> str:
    """``fr.canopee.request.opened.v1`` → ``request.opened``."""
    return full.removeprefix(TYPE_PREFIX).rsplit(".", 1)[0]


def _keep(data: Mapping[str, Any], *names: str) -> Doc:
    return {n: data[n] for n in names if data.get(n) is not None}


def event_doc(event: CloudEvent) -> Doc | None:
    """The stored form of an event (None for events analytics does not keep)."""
    kind = short_type(event.type)
    data = event.data.model_dump(mode="python")
    office = event.officeid
    if kind in REQUEST_TYPES:
        key = f"r|{office}|{data['request_id']}"
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
        )
    elif kind in SURVEY_TYPES:
        survey = data.get("survey_id")
        key = f"s|{office}|{survey}" if survey else f"s|{office}|request:{data['request_id']}"
        kept = _keep(data, "request_id", "campaign_id", "reminder", "score", "nps", "channel")
        if kind == "campaign.answered":
            kept["axes"] = {k: v for k, v in data["axes"].items() if v is not None}
    elif kind == "feedback.detractor_alert":
        key = f"a|{office}|{event.subject}"
        kept = _keep(data, "score", "follow_up_due_at", "request_id")
    elif kind.startswith("notification."):
        key = f"n|{office}|{data['notification_id']}"
        kept = _keep(data, "cause_id", "channel", "template", "recipient", "sms_segments")
    else:
        return None
    for name, value in list(kept.items()):
        if hasattr(value, "value"):  # enums are stored as their values
            kept[name] = value.value
    return {"_id": event.id, "key": key, "office": office, "type": kind, "time": event.time, "d": kept}


def _ordered(events: Iterable[Doc]) -> list[Doc]:
    unique = {e["_id"]: e for e in events}
    return sorted(unique.values(), key=lambda e: (e["time"], e["_id"]))


def fold(key: str, events: Sequence[Doc], rules: OfficeRules) -> Doc:
    """The fact of ``key`` from all its stored events (order and duplicates do not matter)."""
    ordered = _ordered(events)
    kind, office, _ = key.split("|", 2)
    base: Doc = {"_id": key, "office": office, "n_events": len(ordered)}
    if kind == "r":
        return {**base, "kind": "request", **fold_request(ordered, rules)}
    if kind == "s":
        return {**base, "kind": "survey", **fold_survey(ordered)}
    if kind == "a":
        return {**base, "kind": "alert", **fold_alert(ordered)}
    return {**base, "kind": "notification", **fold_notification(ordered)}


def fold_request(events: Sequence[Doc], rules: OfficeRules) -> Doc:
    opened = next((e for e in events if e["type"] == "request.opened"), None)
    fact: Doc = {"placeholder": opened is None}
    opened_at: datetime | None = opened["time"] if opened else None
    if opened is not None:
        fact.update(
            opened_at=opened_at,
            opened_event=opened["_id"],
            category=opened["d"].get("category"),
            urgency=opened["d"].get("urgency"),
            channel=opened["d"].get("channel"),
        )
    first_response = next((e["time"] for e in events if e["type"] in FIRST_RESPONSE_TYPES), None)
    fact["first_response_at"] = first_response
    fact["first_response_seconds"] = (
        (first_response - opened_at).total_seconds()
        if opened_at is not None and first_response is not None and first_response >= opened_at
        else None
    )
    # on-hold intervals, paired in time order
    holds: list[tuple[datetime, datetime | None]] = []
    for e in events:
        if e["type"] == "request.on_hold" and (not holds or holds[-1][1] is not None):
            holds.append((e["time"], None))
        elif e["type"] == "request.resumed" and holds and holds[-1][1] is None:
            holds[-1] = (holds[-1][0], e["time"])
    done = next(
        (e["time"] for e in events if e["type"] == "repair.done" and (opened_at is None or e["time"] >= opened_at)),
        None,
    )
    fact["repair_done_at"] = done
    fact["repair_seconds"] = None
    fact["within_target"] = None
    urgency = fact.get("urgency")
    if opened_at is not None and done is not None:
        held = timedelta(0)
        for start, end in holds:
            lo, hi = max(start, opened_at), min(end or done, done)
            if hi > lo:
                held += hi - lo
        elapsed = done - opened_at - held
        fact["repair_seconds"] = elapsed.total_seconds()
        if urgency in ("U1", "U2"):
            target = rules.u1_hours if urgency == "U1" else rules.u2_hours
            fact["within_target"] = elapsed <= timedelta(hours=target)
        elif urgency == "U3":
            calendar = rules.calendar()
            worked = calendar.working_time(opened_at, done)
            for start, end in holds:
                lo, hi = max(start, opened_at), min(end or done, done)
                worked -= calendar.working_time(lo, hi)
            fact["within_target"] = worked <= calendar.day_length * rules.u3_working_days
    # open intervals (opened → closed, reopened → closed …), for the backlog at any instant
    intervals: list[Doc] = []
    closes = [e for e in events if e["type"] == "request.closed"]
    if opened_at is not None:
        current: Doc | None = {"s": opened_at, "e": None}
        for e in events:
            if e["time"] < opened_at:
                continue
            if e["type"] == "request.closed" and current is not None:
                current["e"] = e["time"]
                intervals.append(current)
                current = None
            elif e["type"] == "request.reopened" and current is None:
                current = {"s": e["time"], "e": None}
        if current is not None:
            intervals.append(current)
    fact["open_intervals"] = intervals
    fact["first_closed_at"] = closes[0]["time"] if closes else None
    fact["resolution"] = closes[-1]["d"].get("resolution") if closes else None
    fact["reopened"] = bool(closes) and any(
        e["type"] == "request.reopened" and e["time"] >= closes[0]["time"] for e in events
    )
    fact["assignees"] = len({e["d"].get("assignee_ref") for e in events if e["type"] == "request.assigned"})
    appointments: dict[str, datetime] = {}
    for e in events:
        if e["type"] == "appointment.scheduled":
            appointments.setdefault(e["d"]["appointment_id"], e["time"])
    fact["appointments"] = [{"id": a, "at": t} for a, t in appointments.items()]
    fact["missed"] = [{"at": e["time"], "by": e["d"]["missed_by"]} for e in events if e["type"] == "appointment.missed"]
    breaches: Doc = {}
    for e in events:
        if e["type"] == "sla.breached":
            breaches.setdefault(e["d"]["stage"], e["time"])
    fact["breaches"] = breaches
    return fact


def fold_survey(events: Sequence[Doc]) -> Doc:
    sent = next((e for e in events if e["type"] == "survey.requested" and not e["d"].get("reminder")), None)
    any_request = next((e for e in events if e["type"] == "survey.requested"), None)
    rating = next((e for e in events if e["type"] == "satisfaction.rated"), None)
    answer = next((e for e in events if e["type"] == "campaign.answered"), None)
    origin_doc = (any_request or {}).get("d", {})
    fact: Doc = {
        "sent_at": sent["time"] if sent else None,
        "origin": "campaign" if origin_doc.get("campaign_id") or answer else "request",
        "campaign_id": origin_doc.get("campaign_id") or (answer["d"]["campaign_id"] if answer else None),
        "rating": None,
        "campaign_answer": None,
    }
    if rating is not None:  # the first answer wins
        fact["rating"] = {
            "at": rating["time"],
            "score": rating["d"]["score"],
            "nps": rating["d"].get("nps"),
            "channel": rating["d"].get("channel"),
        }
    if answer is not None:
        fact["campaign_answer"] = {"at": answer["time"], "axes": answer["d"]["axes"], "nps": answer["d"].get("nps")}
    return fact


def fold_alert(events: Sequence[Doc]) -> Doc:
    first = events[0]
    return {"raised_at": first["time"], "score": first["d"].get("score"), "due_at": first["d"].get("follow_up_due_at")}


def fold_notification(events: Sequence[Doc]) -> Doc:
    first = events[0]["d"]
    outcomes = sorted({e["type"].removeprefix("notification.") for e in events}, key=OUTCOME_RANK.__getitem__)
    segments = [e["d"]["sms_segments"] for e in events if e["d"].get("sms_segments") is not None]
    return {
        "first_at": events[0]["time"],
        "channel": first.get("channel"),
        "template": first.get("template"),
        "recipient": first.get("recipient"),
        "cause_id": first.get("cause_id"),
        "outcome": outcomes[-1],
        "outcomes": outcomes,
        "sms_segments": max(segments) if segments else 0,
    }
