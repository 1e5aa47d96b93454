"""Indicators of docs/DOMAIN.md computed from facts, per office and period and for the network.

Attribution (docs/analytics.md): volumes, digital share, follow-up coverage, SLA breaches and
reassignment count the requests *opened* in a period; first response and repair times, within
target, the requests whose response or repair *happened* in it; reopen rate the requests first
closed in it; CSAT/NPS the ratings given in it; response rate the surveys sent in it; backlog is
the number of requests open at the period's end. Percentiles are nearest-rank.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.analytics.domain.facts import DIGITAL_CHANNELS, RESOLUTION_CATEGORIES, Doc
from services.analytics.domain.records import AlertFact, Fact, NotificationFact, RequestFact, SurveyFact

Period = Literal["day", "week", "month"]
STAGES = ("first_response", "intervention", "resolution")
URGENCIES = ("U1", "U2", "U3")
AXES = ("keys", "posture", "team", "mission")
#: the acknowledgement that carries the tenant's tracker link ("status available to the tenant")
TRACKER_TEMPLATE = "request_opened_tracker"
#: how an acknowledged cause whose acknowledgement carried the link is marked among the causes
TRACKER_PREFIX = "tracker|"
FOLLOWUP_CHANNELS = ("phone", "counter", "visit", "letter")
NETWORK = "network"


def period_label(day: date, period: Period) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def periods(start: date, end: date, period: Period) -> list[tuple[str, date, date]]:
    """The periods covering ``start``..``end`` (inclusive), each clipped to the range."""
    out: list[tuple[str, date, date]] = []
    day = start
    while day <= end:
        label = period_label(day, period)
        last = day
        while last + timedelta(days=1) <= end and period_label(last + timedelta(days=1), period) == label:
            last += timedelta(days=1)
        out.append((label, day, last))
        day = last + timedelta(days=1)
    return out


def nearest_rank(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 3)


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 2)


@dataclass
class Bucket:
    """What one office (or the network) did in one period, before rates and percentiles."""

    opened: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_urgency: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    digital: int = 0
    acknowledged: int = 0
    reassigned: int = 0
    backlog: int = 0
    first_response: list[float] = field(default_factory=list)
    repair: dict[str, list[float]] = field(default_factory=lambda: {u: [] for u in URGENCIES})
    within: dict[str, list[int]] = field(default_factory=lambda: {"emergency": [0, 0], "non_emergency": [0, 0]})
    stage_applicable: Counter[str] = field(default_factory=Counter)
    stage_breached: Counter[str] = field(default_factory=Counter)
    closed: int = 0
    reopened: int = 0
    appointments: int = 0
    missed: Counter[str] = field(default_factory=Counter)
    scores: list[int] = field(default_factory=list)
    nps: list[int] = field(default_factory=list)
    surveys_sent: int = 0
    surveys_answered: int = 0
    alerts: int = 0
    #: alerts acknowledged or past their deadline, and of them acknowledged within 48 hours
    loop_due: int = 0
    loop_within: int = 0
    notifications: dict[str, Counter[str]] = field(default_factory=lambda: {"sms": Counter(), "email": Counter()})
    sms_segments: int = 0
    transfer: list[int] = field(default_factory=lambda: [0, 0])
    #: requests whose tenant was sent the tracker link (with the acknowledgement)
    tracked: int = 0
    #: follow-ups done in person, by ``channel|outcome``
    in_person: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Bucket) -> None:
        self.tracked += other.tracked
        self.in_person.update(other.in_person)
        for name in ("opened", "digital", "acknowledged", "reassigned", "backlog", "closed", "reopened"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("appointments", "surveys_sent", "surveys_answered", "alerts", "sms_segments"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.loop_due += other.loop_due
        self.loop_within += other.loop_within
        for name in ("by_category", "by_urgency", "by_channel", "stage_applicable", "stage_breached", "missed"):
            getattr(self, name).update(getattr(other, name))
        self.first_response.extend(other.first_response)
        for u in URGENCIES:
            self.repair[u].extend(other.repair[u])
        for k in self.within:
            self.within[k] = [a + b for a, b in zip(self.within[k], other.within[k], strict=True)]
        self.scores.extend(other.scores)
        self.nps.extend(other.nps)
        for channel, counts in other.notifications.items():
            self.notifications.setdefault(channel, Counter()).update(counts)
        self.transfer = [a + b for a, b in zip(self.transfer, other.transfer, strict=True)]

    def _in_person(self) -> Doc:
        """Follow-ups done in person (``followup.done``): how many, how many reached the tenant,
        by channel."""
        counts = self.in_person
        by_channel = {ch: sum(n for k, n in counts.items() if k.startswith(ch + "|")) for ch in FOLLOWUP_CHANNELS}
        reached = sum(n for k, n in counts.items() if k.endswith("|reached"))
        return {"done": sum(by_channel.values()), "reached": reached, "by_channel": by_channel}

    def result(self) -> Doc:
        """The published indicators of this bucket."""

        def times(values: list[float]) -> Doc:
            return {
                "n": len(values),
                "median_hours": _hours(nearest_rank(values, 50)),
                "p90_hours": _hours(nearest_rank(values, 90)),
            }

        all_repairs = [v for u in URGENCIES for v in self.repair[u]]
        missed_total = sum(self.missed.values())
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
            "follow_up_coverage_pct": _pct(self.acknowledged, self.opened),
            "status_available_pct": _pct(self.tracked, self.opened),
            "follow_ups_in_person": self._in_person(),
            "reassigned": {"count": self.reassigned, "pct": _pct(self.reassigned, self.opened)},
            "first_response": times(self.first_response),
            "repair_time": {"all": times(all_repairs), **{u: times(self.repair[u]) for u in URGENCIES}},
            "within_target": {k: {"repairs": n, "within": w, "pct": _pct(w, n)} for k, (n, w) in self.within.items()},
            "sla_breaches": {
                s: {
                    "count": self.stage_breached[s],
                    "applicable": self.stage_applicable[s],
                    "rate_pct": _pct(self.stage_breached[s], self.stage_applicable[s]),
                }
                for s in STAGES
            },
            "reopen": {"closed": self.closed, "reopened": self.reopened, "rate_pct": _pct(self.reopened, self.closed)},
            "missed_appointments": {
                "appointments": self.appointments,
                "count": missed_total,
                "rate_pct": _pct(missed_total, self.appointments),
                "by": {
                    who: {"count": self.missed[who], "pct_of_missed": _pct(self.missed[who], missed_total)}
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
            # alerts raised in the period; the share is over those acknowledged or past their deadline
            "closed_loop": {
                "alerts": self.alerts,
                "due": self.loop_due,
                "acknowledged_within_48h": self.loop_within,
                "acknowledged_within_48h_pct": _pct(self.loop_within, self.loop_due),
            },
            "notifications": {
                ch: {o: counts[o] for o in ("sent", "delivered", "failed", "deferred", "suppressed")}
                for ch, counts in self.notifications.items()
                if ch not in FOLLOWUP_CHANNELS
            },
            "sms_segments": self.sms_segments,
            "transfer_answered_in_time": {
                "requests": self.transfer[0],
                "in_time": self.transfer[1],
                "pct": _pct(self.transfer[1], self.transfer[0]),
            },
        }


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    period: Period
    offices: Sequence[str]
    tz: Mapping[str, ZoneInfo]

    def zone(self, office: str) -> ZoneInfo:
        return self.tz.get(office, ZoneInfo("Europe/Paris"))


class Accumulator:
    """Buckets per (office, period label) and per office over the whole range."""

    def __init__(self, query: Query) -> None:
        self.query = query
        self.spans = periods(query.start, query.end, query.period)
        self.labels = [s[0] for s in self.spans]
        self.buckets: dict[tuple[str, str], Bucket] = {
            (o, label): Bucket() for o in query.offices for label in self.labels
        }
        self.totals: dict[str, Bucket] = {o: Bucket() for o in query.offices}
        self.campaigns: dict[tuple[str, str], dict[str, Any]] = {}
        self.acknowledged_causes: set[str] = set()
        self.intervals: dict[str, tuple[list[datetime], list[datetime]]] = {}

    def _label(self, office: str, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        day = moment.astimezone(self.query.zone(office)).date()
        if day < self.query.start or day > self.query.end:
            return None
        return period_label(day, self.query.period)

    def _add(self, office: str, moment: datetime | None) -> list[Bucket]:
        label = self._label(office, moment)
        if label is None or office not in self.totals:
            return []
        return [self.buckets[(office, label)], self.totals[office]]

    def add_notifications(self, facts: Iterable[NotificationFact]) -> None:
        for f in facts:
            if f.recipient == "tenant" and f.outcome in ("sent", "delivered", "followup_reached") and f.cause_id:
                self.acknowledged_causes.add(f.cause_id)
                if f.template == TRACKER_TEMPLATE:
                    self.acknowledged_causes.add(TRACKER_PREFIX + f.cause_id)
            if f.template == "followup" and f.outcome.startswith("followup_"):
                for b in self._add(f.office, f.first_at):
                    b.in_person[f"{f.channel}|{f.outcome.removeprefix('followup_')}"] += 1
                continue
            for b in self._add(f.office, f.first_at):
                channel = f.channel or "sms"
                b.notifications.setdefault(channel, Counter())[f.outcome] += 1
                if channel == "sms" and f.outcome in ("sent", "delivered"):
                    b.sms_segments += f.sms_segments

    def add_request(self, f: RequestFact) -> None:
        office = f.office
        if f.placeholder:
            return
        for b in self._add(office, f.opened_at):
            b.opened += 1
            b.by_category[f.category or "unknown"] += 1
            b.by_urgency[f.urgency or "none"] += 1
            b.by_channel[f.channel or "unknown"] += 1
            b.digital += f.channel in DIGITAL_CHANNELS
            b.acknowledged += f.opened_event in self.acknowledged_causes
            b.tracked += (TRACKER_PREFIX + (f.opened_event or "")) in self.acknowledged_causes
            b.reassigned += f.assignees > 1
            breaches = f.breaches
            applicable = ["first_response"]
            # a request closed without a repair has no intervention to time ("not applicable")
            if f.urgency and not (f.first_closed_at is not None and f.repair_done_at is None):
                applicable.append("intervention")
            if f.category in RESOLUTION_CATEGORIES:
                applicable.append("resolution")
            for stage in set(applicable) | set(breaches):
                b.stage_applicable[stage] += 1
                b.stage_breached[stage] += stage in breaches
            if f.transfer_in_time is not None:  # answered, or overdue: not those still within their deadline
                b.transfer[0] += 1
                b.transfer[1] += f.transfer_in_time
        if f.first_response_seconds is not None:
            for b in self._add(office, f.first_response_at):
                b.first_response.append(float(f.first_response_seconds))
        if f.repair_seconds is not None and f.urgency in URGENCIES:
            for b in self._add(office, f.repair_done_at):
                b.repair[f.urgency].append(float(f.repair_seconds))
                if f.within_target is not None:
                    cell = b.within["emergency" if f.urgency in ("U1", "U2") else "non_emergency"]
                    cell[0] += 1
                    cell[1] += bool(f.within_target)
        for b in self._add(office, f.first_closed_at):
            b.closed += 1
            b.reopened += bool(f.reopened)
        for appointment in f.appointments:
            for b in self._add(office, appointment.at):
                b.appointments += 1
        for missed in f.missed:
            for b in self._add(office, missed.at):
                b.missed[missed.by] += 1
        self._backlog(f)

    def _backlog(self, f: RequestFact) -> None:
        if f.office not in self.totals:
            return
        starts, ends = self.intervals.setdefault(f.office, ([], []))
        for interval in f.open_intervals:
            starts.append(interval.s)
            if interval.e is not None:
                ends.append(interval.e)

    def _fill_backlog(self) -> None:
        # intervals of one request never overlap, so the requests open at instant t are the
        # intervals started before t minus those ended before t
        for office, (starts, ends) in self.intervals.items():
            starts.sort()
            ends.sort()
            zone = self.query.zone(office)

            def open_at(moment: datetime, starts: list[datetime] = starts, ends: list[datetime] = ends) -> int:
                return bisect.bisect_left(starts, moment) - bisect.bisect_left(ends, moment)

            for label, _, last in self.spans:
                self.buckets[(office, label)].backlog = open_at(_day_end(last, zone))
            self.totals[office].backlog = open_at(_day_end(self.query.end, zone))

    def add_survey(self, f: SurveyFact, *, campaign: bool = True) -> None:
        """Count a survey (its campaign part only with ``campaign``: rollups keep campaign
        surveys as entries of their own)."""
        office, rating = f.office, f.rating
        if rating is not None:
            for b in self._add(office, rating.at):
                b.scores.append(int(rating.score))
                if rating.nps is not None:
                    b.nps.append(int(rating.nps))
        if f.origin == "request" and f.sent_at is not None:
            for b in self._add(office, f.sent_at):
                b.surveys_sent += 1
                b.surveys_answered += rating is not None
        if campaign and f.origin == "campaign" and f.campaign_id:
            answer = f.campaign_answer
            counted_sent = self._label(office, f.sent_at) is not None
            counted_answer = answer is not None and self._label(office, answer.at) is not None
            if not (counted_sent or counted_answer) or office not in self.totals:
                return
            c = self.campaigns.setdefault(
                (office, f.campaign_id), {"sent": 0, "answered": 0, "axes": {a: [] for a in AXES}, "nps": []}
            )
            c["sent"] += f.sent_at is not None
            if answer is not None:
                c["answered"] += 1
                for axis, score in answer.axes.items():
                    c["axes"].setdefault(axis, []).append(int(score))
                if answer.nps is not None:
                    c["nps"].append(int(answer.nps))

    def add_alert(self, f: AlertFact) -> None:
        due = f.acknowledged_at is not None or f.overdue
        within = f.acknowledged_at is not None and bool(f.within_deadline)
        for b in self._add(f.office, f.raised_at):
            b.alerts += 1
            b.loop_due += due
            b.loop_within += within

    def add(self, facts: Iterable[Fact]) -> None:
        """Count facts of every kind (notifications first: follow-up coverage needs the
        acknowledged ``request.opened`` ids)."""
        facts = list(facts)
        self.add_notifications(f for f in facts if isinstance(f, NotificationFact))
        for f in facts:
            if isinstance(f, RequestFact):
                self.add_request(f)
        for f in facts:
            if isinstance(f, SurveyFact):
                self.add_survey(f)
        for f in facts:
            if isinstance(f, AlertFact):
                self.add_alert(f)

    def result(self) -> Doc:
        self._fill_backlog()
        offices: Doc = {}
        network_periods = {label: Bucket() for label in self.labels}
        network_total = Bucket()
        for office in self.query.offices:
            rows = []
            for label, first, last in self.spans:
                bucket = self.buckets[(office, label)]
                network_periods[label].merge(bucket)
                rows.append({"period": label, "from": first.isoformat(), "to": last.isoformat(), **bucket.result()})
            network_total.merge(self.totals[office])
            offices[office] = {
                "periods": rows,
                "total": self.totals[office].result(),
                "campaigns": _campaigns({c: v for (o, c), v in self.campaigns.items() if o == office}),
            }
        merged: dict[str, dict[str, Any]] = {}
        for (_, campaign), value in self.campaigns.items():
            into = merged.setdefault(campaign, {"sent": 0, "answered": 0, "axes": {a: [] for a in AXES}, "nps": []})
            into["sent"] += value["sent"]
            into["answered"] += value["answered"]
            for axis, scores in value["axes"].items():
                into["axes"].setdefault(axis, []).extend(scores)
            into["nps"].extend(value["nps"])
        return {
            "from": self.query.start.isoformat(),
            "to": self.query.end.isoformat(),
            "period": self.query.period,
            "offices": offices,
            NETWORK: {
                "periods": [
                    {
                        "period": label,
                        "from": first.isoformat(),
                        "to": last.isoformat(),
                        **network_periods[label].result(),
                    }
                    for label, first, last in self.spans
                ],
                "total": network_total.result(),
                "campaigns": _campaigns(merged),
            },
        }


def _campaigns(campaigns: Mapping[str, Mapping[str, Any]]) -> Doc:
    out: Doc = {}
    for campaign, c in sorted(campaigns.items()):
        axes = {}
        for axis in AXES:
            scores = c["axes"].get(axis, [])
            axes[axis] = {
                "answers": len(scores),
                "mean": round(sum(scores) / len(scores), 3) if scores else None,
                "satisfied_pct": _pct(sum(1 for s in scores if s >= 4), len(scores)),
            }
        nps = c["nps"]
        promoters = sum(1 for n in nps if n >= 9)
        detractors = sum(1 for n in nps if n <= 6)
        out[campaign] = {
            "sent": c["sent"],
            "answered": c["answered"],
            "response_rate_pct": _pct(c["answered"], c["sent"]),
            "axes": axes,
            "nps": None if not nps else round(100 * (promoters - detractors) / len(nps), 2),
        }
    return out


def _day_end(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def compute(query: Query, facts: Iterable[Fact]) -> Doc:
    """Every indicator for ``query`` from the facts of its offices (any order)."""
    acc = Accumulator(query)
    acc.add(facts)
    return acc.result()
