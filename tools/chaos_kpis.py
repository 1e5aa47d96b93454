"""The indicators of ``GET /v1/kpis`` recomputed by the chaos tool from what it sent and what it read
back from the bus — its own code, written from docs/analytics.md ("Indicators"), not the analytics
service's. Only the shared office calendar (``shared.calendar``) is borrowed, for working days.

Input: the office events the tool sent (each once, any order) and the service events read from the
bus (``sla.breached``, ``survey.requested``, ``feedback.detractor_alert``, ``notification.*``).
Output: per office and for the ``network``, the ``total`` of the range, shaped like the API's.
Every event of the run falls inside the range the tool queries, so "in the period" is "at all".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from shared.calendar import calendar_for

Doc = dict[str, Any]
PREFIX = "fr.canopee."
DIGITAL = {"web", "app", "chatbot", "email"}
RESOLUTION_STAGE = {"neighbourhood", "administrative", "rent_charges", "transfer"}
RANK = {"deferred": 0, "suppressed": 1, "sent": 2, "failed": 3, "delivered": 4}
OUTCOMES = ("sent", "delivered", "failed", "deferred", "suppressed")
STAGES = ("first_response", "intervention", "resolution")
URGENT_HOURS = {"U1": 4.0, "U2": 24.0}
U3_WORKING_DAYS = 5
TRANSFER_WORKING_DAYS = 30
#: DOMAIN.md: a complaint is answered within 10 working days (on-hold time excluded)
COMPLAINT_WORKING_DAYS = 10
FOLLOWUP_CHANNELS = ("phone", "counter", "visit", "letter")
#: the acknowledgement that carries the tenant's tracker link (services/notifications templates)
TRACKER_TEMPLATE = "request_opened_tracker"
PARIS = ZoneInfo("Europe/Paris")


def kind(event: Doc) -> str:
    """``request.opened`` for ``fr.canopee.request.opened.v1``."""
    name = str(event["type"])
    return name.removeprefix(PREFIX).rsplit(".v", 1)[0]


def when(event: Doc) -> datetime:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


def _ordered(events: list[Doc]) -> list[Doc]:
    unique = {str(e["id"]): e for e in events}
    return sorted(unique.values(), key=lambda e: (when(e), str(e["id"])))


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 2)


def _rank(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = -(-pct * len(ordered) // 100)  # ceil without floats
    return round(ordered[max(1, index) - 1] / 3600, 3)


def _durations(values: list[float]) -> Doc:
    return {"n": len(values), "median_hours": _rank(values, 50), "p90_hours": _rank(values, 90)}


@dataclass
class _Request:
    office: str
    opened: Doc | None = None
    assignees: set[str] = field(default_factory=set)
    responded: datetime | None = None
    repaired: datetime | None = None
    holds: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    is_open: bool = False
    first_closed: datetime | None = None
    reopened_after_close: bool = False
    answered: datetime | None = None  # transfers: first assignment or closing

    def hold_seconds(self, until: datetime) -> float:
        return sum(((min(e or until, until) - s).total_seconds() for s, e in self.holds if s < until), 0.0)


@dataclass
class _Bucket:
    opened: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_urgency: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    backlog: int = 0
    digital: int = 0
    covered: int = 0
    tracked: int = 0
    reassigned: int = 0
    first_response: list[float] = field(default_factory=list)
    repair: dict[str, list[float]] = field(default_factory=lambda: {"U1": [], "U2": [], "U3": [], "none": []})
    within: dict[str, list[int]] = field(default_factory=lambda: {"emergency": [0, 0], "non_emergency": [0, 0]})
    breached: Counter[str] = field(default_factory=Counter)
    applicable: Counter[str] = field(default_factory=Counter)
    closed: int = 0
    reopened: int = 0
    appointments: set[str] = field(default_factory=set)
    missed: Counter[str] = field(default_factory=Counter)
    scores: list[int] = field(default_factory=list)
    nps: list[int] = field(default_factory=list)
    surveys_sent: int = 0
    surveys_answered: int = 0
    alerts: int = 0
    notifications: dict[str, Counter[str]] = field(default_factory=lambda: {"sms": Counter(), "email": Counter()})
    sms_segments: int = 0
    transfers: int = 0
    transfers_in_time: int = 0
    #: alerts acknowledged or past their deadline, and of them acknowledged within 48 hours
    loop_due: int = 0
    loop_within: int = 0
    #: complaints (``complaint: true`` on the opening): opened, answered, in time, clocks
    complaints: int = 0
    complaints_answered: int = 0
    complaints_in_time: int = 0
    complaint_response: list[float] = field(default_factory=list)
    complaint_resolution: list[float] = field(default_factory=list)
    #: follow-ups done in person: "channel|outcome" → count
    in_person: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Bucket) -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, int):
                setattr(self, name, mine + value)
            elif isinstance(value, Counter):
                mine.update(value)
            elif isinstance(value, list):
                mine.extend(value)
            elif isinstance(value, set):
                mine.update(value)
            elif name == "repair":
                for key, values in value.items():
                    mine.setdefault(key, []).extend(values)
            elif name == "within":
                for key, (n, w) in value.items():
                    mine[key][0] += n
                    mine[key][1] += w
            elif name == "notifications":
                for channel, counts in value.items():
                    mine[channel].update(counts)

    def result(self) -> Doc:
        every = [v for values in self.repair.values() for v in values]
        missed = sum(self.missed.values())
        satisfied = sum(1 for s in self.scores if s >= 4)
        promoters = sum(1 for n in self.nps if n >= 9)
        detractors = sum(1 for n in self.nps if n <= 6)
        return {
            "volume": {
                "opened": self.opened,
                "by_category": dict(sorted(self.by_category.items())),
                "by_urgency": dict(sorted(self.by_urgency.items())),
                "by_channel": dict(sorted(self.by_channel.items())),
            },
            "backlog": self.backlog,
            "digital_share_pct": _pct(self.digital, self.opened),
            "follow_up_coverage_pct": _pct(self.covered, self.opened),
            "status_available_pct": _pct(self.tracked, self.opened),
            "reassigned": {"count": self.reassigned, "pct": _pct(self.reassigned, self.opened)},
            "first_response": _durations(self.first_response),
            "repair_time": {"all": _durations(every), **{u: _durations(self.repair[u]) for u in ("U1", "U2", "U3")}},
            "within_target": {k: {"repairs": n, "within": w, "pct": _pct(w, n)} for k, (n, w) in self.within.items()},
            "sla_breaches": {
                s: {
                    "count": self.breached[s],
                    "applicable": self.applicable[s],
                    "rate_pct": _pct(self.breached[s], self.applicable[s]),
                }
                for s in STAGES
            },
            "reopen": {"closed": self.closed, "reopened": self.reopened, "rate_pct": _pct(self.reopened, self.closed)},
            "missed_appointments": {
                "appointments": len(self.appointments),
                "count": missed,
                "rate_pct": _pct(missed, len(self.appointments)),
                "by": {
                    who: {"count": self.missed[who], "pct_of_missed": _pct(self.missed[who], missed)}
                    for who in ("contractor", "tenant")
                },
            },
            "csat": {
                "ratings": len(self.scores),
                "satisfied": satisfied,
                "pct": _pct(satisfied, len(self.scores)),
                "mean": round(sum(self.scores) / len(self.scores), 3) if self.scores else None,
            },
            "nps": {
                "answers": len(self.nps),
                "promoters": promoters,
                "detractors": detractors,
                "score": None if not self.nps else round(100 * (promoters - detractors) / len(self.nps), 2),
            },
            "survey_response": {
                "sent": self.surveys_sent,
                "answered": self.surveys_answered,
                "rate_pct": _pct(self.surveys_answered, self.surveys_sent),
            },
            "closed_loop": {
                "alerts": self.alerts,
                "due": self.loop_due,
                "acknowledged_within_48h": self.loop_within,
                "acknowledged_within_48h_pct": _pct(self.loop_within, self.loop_due),
            },
            "complaints": {
                "opened": self.complaints,
                "answered": self.complaints_answered,
                "answered_in_time": self.complaints_in_time,
                "answered_in_time_pct": _pct(self.complaints_in_time, self.complaints_answered),
                "unanswered": self.complaints - self.complaints_answered,
                "first_answer": _durations(self.complaint_response),
                "resolved": len(self.complaint_resolution),
                "resolution": _durations(self.complaint_resolution),
            },
            "follow_ups_in_person": {
                "done": sum(self.in_person.values()),
                "reached": sum(n for k, n in self.in_person.items() if k.endswith("|reached")),
                "by_channel": {
                    ch: sum(n for k, n in self.in_person.items() if k.startswith(ch + "|")) for ch in FOLLOWUP_CHANNELS
                },
            },
            "notifications": {ch: {o: counts[o] for o in OUTCOMES} for ch, counts in self.notifications.items()},
            "sms_segments": self.sms_segments,
            "transfer_answered_in_time": {
                "requests": self.transfers,
                "in_time": self.transfers_in_time,
                "pct": _pct(self.transfers_in_time, self.transfers),
            },
        }


def _requests(office_events: list[Doc]) -> dict[tuple[str, str], _Request]:
    requests: dict[tuple[str, str], _Request] = {}
    for event in _ordered(office_events):
        name, data = kind(event), event["data"]
        if name == "satisfaction.rated" or "request_id" not in data or event["type"].startswith(PREFIX + "tenant."):
            continue
        office = str(event["officeid"])
        r = requests.setdefault((office, str(data["request_id"])), _Request(office))
        at = when(event)
        if name == "request.opened":
            if r.opened is None:
                r.opened = event
                r.is_open = True
        elif name == "request.assigned":
            r.assignees.add(str(data["assignee_ref"]))
            r.answered = r.answered or at
        elif name == "request.closed":
            r.is_open = False
            r.answered = r.answered or at
            if r.first_closed is None:
                r.first_closed = at
        elif name == "request.reopened":
            r.is_open = True
            if r.first_closed is not None:
                r.reopened_after_close = True
        elif name == "repair.done":
            r.repaired = r.repaired or at
        elif name == "request.on_hold":
            if not r.holds or r.holds[-1][1] is not None:
                r.holds.append((at, None))
        elif name == "request.resumed" and r.holds and r.holds[-1][1] is None:
            r.holds[-1] = (r.holds[-1][0], at)
        if name in ("request.assigned", "appointment.scheduled", "request.closed") and r.responded is None:
            r.responded = at
    return requests


def expected_totals(
    office_events: list[Doc], service_events: list[Doc], offices: list[str], stock: dict[str, int] | None = None
) -> Doc:
    """``{office: total, ..., "network": total}`` as ``/v1/kpis`` should answer for a range covering
    every event; with the offices' housing ``stock``, the figures per 1,000 homes too."""
    buckets: dict[str, _Bucket] = {o: _Bucket() for o in offices}
    calendar = calendar_for(PARIS, time(8, 0), time(18, 0), None)
    day = calendar.working_days(1).total_seconds()
    requests = _requests(office_events)

    # notifications: final outcome per notification (highest rank), first seen, segments
    notes: dict[str, Doc] = {}
    for event in _ordered([e for e in service_events if kind(e).startswith("notification.")]):
        data = event["data"]
        note = notes.setdefault(
            str(data["notification_id"]),
            {"office": event["officeid"], "channel": data["channel"], "outcome": None, "segments": 0, **data},
        )
        outcome = kind(event).split(".", 1)[1]
        if note["outcome"] is None or RANK[outcome] > RANK[note["outcome"]]:
            note["outcome"] = outcome
        note["segments"] = max(note["segments"], int(data.get("sms_segments") or 0))
    covered_causes = {
        str(n["cause_id"])
        for n in notes.values()
        if n["recipient"] == "tenant" and n["outcome"] in ("sent", "delivered")
    }
    # acknowledgements that carried the tenant's tracker link
    tracked_causes = {
        str(n["cause_id"])
        for n in notes.values()
        if n["recipient"] == "tenant" and n["outcome"] in ("sent", "delivered") and n["template"] == TRACKER_TEMPLATE
    }
    for note in notes.values():
        b = buckets.setdefault(str(note["office"]), _Bucket())
        b.notifications[str(note["channel"])][str(note["outcome"])] += 1
        if note["channel"] == "sms" and note["outcome"] in ("sent", "delivered"):
            b.sms_segments += int(note["segments"])

    breaches: set[tuple[str, str, str]] = set()
    for event in service_events:
        if kind(event) == "sla.breached":
            breaches.add((str(event["officeid"]), str(event["data"]["request_id"]), str(event["data"]["stage"])))

    for event in _ordered(office_events):
        name = kind(event)
        b = buckets.setdefault(str(event["officeid"]), _Bucket())
        if name == "appointment.scheduled":
            b.appointments.add(f"{event['data']['request_id']}|{event['data']['appointment_id']}")
        elif name == "appointment.missed":
            b.missed[str(event["data"]["missed_by"])] += 1

    for (office, request_id), r in requests.items():
        if r.opened is None:
            continue
        b = buckets.setdefault(office, _Bucket())
        data = r.opened["data"]
        opened_at = when(r.opened)
        category, urgency, channel = str(data["category"]), data.get("urgency"), str(data["channel"])
        b.opened += 1
        b.by_category[category] += 1
        b.by_urgency[str(urgency or "none")] += 1
        b.by_channel[channel] += 1
        b.digital += channel in DIGITAL
        b.covered += str(r.opened["id"]) in covered_causes
        b.tracked += str(r.opened["id"]) in tracked_causes
        b.reassigned += len(r.assignees) > 1
        b.backlog += r.is_open
        if r.responded is not None:
            b.first_response.append((r.responded - opened_at).total_seconds())
        if r.first_closed is not None:
            b.closed += 1
            b.reopened += r.reopened_after_close
        stages = ["first_response"] + (["intervention"] if urgency else [])
        stages += ["resolution"] if category in RESOLUTION_STAGE else []
        for stage in stages:
            b.applicable[stage] += 1
            b.breached[stage] += (office, request_id, stage) in breaches
        if r.repaired is not None:
            elapsed = (r.repaired - opened_at).total_seconds() - r.hold_seconds(r.repaired)
            b.repair[str(urgency or "none")].append(elapsed)
            if urgency in URGENT_HOURS:
                b.within["emergency"][0] += 1
                b.within["emergency"][1] += elapsed <= URGENT_HOURS[str(urgency)] * 3600
            elif urgency == "U3":
                worked = _working(calendar, opened_at, r.repaired, r)
                b.within["non_emergency"][0] += 1
                b.within["non_emergency"][1] += worked <= U3_WORKING_DAYS * day
        if data.get("complaint") is True:
            b.complaints += 1
            if r.responded is not None and r.responded >= opened_at:
                b.complaints_answered += 1
                b.complaints_in_time += _working(calendar, opened_at, r.responded, r) <= COMPLAINT_WORKING_DAYS * day
                b.complaint_response.append((r.responded - opened_at).total_seconds())
            if r.first_closed is not None:
                b.complaint_resolution.append((r.first_closed - opened_at).total_seconds())
        if category == "transfer":
            if r.answered is not None:
                b.transfers += 1
                b.transfers_in_time += _working(calendar, opened_at, r.answered, r) <= TRANSFER_WORKING_DAYS * day
            elif (office, request_id, "resolution") in breaches:
                b.transfers += 1

    # ratings: the first per survey (survey id, else the request); survey invitations and alerts
    first_rating: dict[tuple[str, str], Doc] = {}
    for event in _ordered([e for e in office_events + service_events if kind(e) == "satisfaction.rated"]):
        data = event["data"]
        key = (str(event["officeid"]), str(data.get("survey_id") or data.get("request_id")))
        first_rating.setdefault(key, event)
    answered = {key for key, e in first_rating.items() if e["data"].get("survey_id")}
    for (office, _), event in first_rating.items():
        b = buckets.setdefault(office, _Bucket())
        b.scores.append(int(event["data"]["score"]))
        if event["data"].get("nps") is not None:
            b.nps.append(int(event["data"]["nps"]))
    surveys: set[tuple[str, str]] = set()
    alerts: set[tuple[str, str]] = set()
    for event in service_events:
        name, data, office = kind(event), event["data"], str(event["officeid"])
        if name == "survey.requested" and data.get("request_id") and not data.get("reminder"):
            surveys.add((office, str(data["survey_id"])))
        elif name == "feedback.detractor_alert":
            alerts.add((office, str(event["subject"])))
    for office, survey in surveys:
        b = buckets.setdefault(office, _Bucket())
        b.surveys_sent += 1
        b.surveys_answered += (office, survey) in answered
    for office, _ in alerts:
        buckets.setdefault(office, _Bucket()).alerts += 1
    # the closed loop: an alert is due once acknowledged or past its deadline (feedback says which)
    subject_of = {
        str(e["id"]): (str(e["officeid"]), str(e["subject"]))
        for e in service_events
        if kind(e) == "feedback.detractor_alert"
    }
    acknowledged: dict[tuple[str, str], bool] = {}
    overdue: set[tuple[str, str]] = set()
    for event in _ordered(
        [e for e in service_events if kind(e) in ("feedback.alert_acknowledged", "feedback.alert_overdue")]
    ):
        alert = subject_of.get(str(event["data"].get("alert_id")))
        if alert is None:
            continue
        if kind(event) == "feedback.alert_overdue":
            overdue.add(alert)
        else:
            acknowledged.setdefault(alert, bool(event["data"].get("within_deadline")))
    for alert in alerts:
        b = buckets.setdefault(alert[0], _Bucket())
        b.loop_due += alert in acknowledged or alert in overdue
        b.loop_within += acknowledged.get(alert, False)
    # follow-ups done in person by office agents, once per task
    done = {
        (str(e["officeid"]), str(e["data"]["followup_id"])): e
        for e in _ordered([e for e in service_events if kind(e) == "followup.done"])
    }
    for (office, _), event in done.items():
        data = event["data"]
        buckets.setdefault(office, _Bucket()).in_person[f"{data['channel']}|{data['outcome']}"] += 1

    network = _Bucket()
    for bucket in buckets.values():
        network.add(bucket)
    totals = {office: bucket.result() for office, bucket in buckets.items()}
    totals["network"] = network.result()
    if stock is not None:
        homes: dict[str, int | None] = {o: stock.get(o) for o in offices}
        homes["network"] = sum(h for h in homes.values() if h) if all(homes.values()) else None
        for scope, total in totals.items():
            total["per_1000_homes"] = _per_1000_homes(total, homes.get(scope))
    return totals


def _per_1000_homes(total: Doc, homes: int | None) -> Doc:
    def per(count: float | None) -> float | None:
        return None if count is None or not homes else round(1000 * count / homes, 2)

    breaches = sum(int(s["count"]) for s in total["sla_breaches"].values())
    return {
        "homes": homes,
        "opened": per(total["volume"]["opened"]),
        "breaches": per(breaches),
        "complaints": per(total["complaints"]["opened"]),
        "detractors": per(total["closed_loop"]["alerts"]),
    }


def _working(calendar: Any, start: datetime, end: datetime, r: _Request) -> float:
    """Working seconds from ``start`` to ``end``, the request's holds excluded."""
    worked = calendar.working_time_between(start, end)
    for hold_start, hold_end in r.holds:
        if hold_start < end:
            worked -= calendar.working_time_between(hold_start, min(hold_end or end, end))
    return float(worked.total_seconds())


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every leaf of ``expected`` that ``actual`` does not equal (numbers within 0.01 % or 0.001)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        out: list[str] = []
        for key, value in expected.items():
            out.extend(differences(value, actual.get(key), f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool):
        if abs(expected - actual) <= max(1e-3, abs(expected) * 1e-4):
            return []
    elif expected == actual:
        return []
    return [f"{path}: expected {expected!r}, got {actual!r}"]


def leaves(doc: Any, path: str = "") -> list[str]:
    if isinstance(doc, dict):
        return [leaf for key, value in doc.items() for leaf in leaves(value, f"{path}.{key}" if path else str(key))]
    return [path]
