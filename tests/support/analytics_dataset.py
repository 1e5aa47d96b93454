"""A generated multi-office dataset for analytics tests and benchmarks, with the expected
indicators computed here from the generation plan — independently of the service's code.

Times are chosen so that what the dataset expects is known by construction: U3 repairs are
either at most 40 calendar hours (always within 5 working days) or at least 22 calendar days
(never within), on-hold time is excluded from repair times, and the reporting range covers
every event.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import CloudEvent, parse_event

OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")
CATEGORIES = ("repair", "common_areas", "heating_hot_water", "neighbourhood", "administrative", "transfer", "other")
TECHNICAL = ("repair", "common_areas", "heating_hot_water")
CHANNELS = ("phone", "counter", "email", "web", "app", "chatbot", "letter", "visit")
DIGITAL = {"web", "app", "chatbot", "email"}
PARIS = ZoneInfo("Europe/Paris")
START = date(2026, 3, 2)
DAYS = 56
#: the reporting range that covers every generated event
RANGE = (START, START + timedelta(days=DAYS + 60))


@dataclass
class Planned:
    office: str
    request_id: str
    opened: datetime
    category: str
    urgency: str | None
    channel: str
    first_response_h: float
    repair_h: float | None = None  # excluding hold
    hold_h: float = 0.0
    within: bool | None = None
    closed: bool = True
    reopened: bool = False
    missed_by: str | None = None
    breached_stage: str | None = None
    acknowledged: bool = False
    ack_outcome: str = "delivered"
    ack_channel: str = "sms"
    ack_segments: int = 1
    survey: bool = False
    score: int | None = None
    nps: int | None = None


@dataclass
class Dataset:
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Planned] = field(default_factory=list)
    campaign: dict[str, list[dict[str, int] | None]] = field(default_factory=dict)
    campaign_nps: dict[str, list[int]] = field(default_factory=dict)

    def cloud_events(self) -> list[CloudEvent]:
        import json

        return [parse_event(json.dumps(e)) for e in self.events]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def generate(
    per_office: int = 40, seed: int = 7, prefix: str = "", days: int = DAYS, offices: tuple[str, ...] = OFFICES
) -> Dataset:
    """``per_office`` requests opened over ``days`` days in each office (ids prefixed with ``prefix``)."""
    rnd = random.Random(seed)
    ds = Dataset()
    counter = 0

    def add(office: str, kind: str, subject: str, t: datetime, data: dict[str, Any], service: str | None = None) -> str:
        nonlocal counter
        counter += 1
        event_id = f"{prefix}ev-{counter:07d}"
        ds.events.append(
            {
                "specversion": "1.0",
                "id": event_id,
                "source": f"/services/{service}" if service else f"/offices/{office}/ikos",
                "type": f"fr.canopee.{kind}.v1",
                "subject": subject,
                "time": _iso(t),
                "officeid": office,
                "data": data,
            }
        )
        return event_id

    def invite(office: str, rid: str, n: int, done: datetime, at: datetime, reminder: bool) -> None:
        """The survey invitation (or its reminder) of a repaired request, valid 14 days."""
        sid = f"S-{rid}"
        data = {
            "survey_id": sid,
            "request_id": rid,
            "tenant_ref": f"T-{n}",
            "url": "https://s.example.org/x",
            "expires_at": _iso(done + timedelta(days=14)),
            "reminder": reminder,
        }
        add(office, "survey.requested", sid, at, data, "feedback")

    for office in offices:
        for n in range(per_office):
            rid = f"{prefix}{office[5:]}-{n:05d}"
            opened = datetime.combine(
                START + timedelta(days=rnd.randrange(days)), datetime.min.time(), UTC
            ) + timedelta(hours=rnd.randint(7, 15), minutes=rnd.randint(0, 59))
            category = rnd.choice(CATEGORIES)
            urgency = rnd.choice(("U1", "U2", "U3")) if category in TECHNICAL else None
            p = Planned(office, rid, opened, category, urgency, rnd.choice(CHANNELS), round(rnd.uniform(0.5, 30), 2))
            ds.requests.append(p)
            data = {"request_id": rid, "tenant_ref": f"T-{n}", "category": category, "channel": p.channel}
            if urgency:
                data["urgency"] = urgency
            opened_id = add(office, "request.opened", rid, opened, data)
            add(
                office,
                "request.assigned",
                rid,
                opened + timedelta(hours=p.first_response_h),
                {"request_id": rid, "assignee_kind": "team", "assignee_ref": "E1"},
            )
            end = opened + timedelta(hours=p.first_response_h)
            if urgency:
                p.within = rnd.random() < 0.7
                ranges = {
                    "U1": ((1, 3.5), (5, 10)),
                    "U2": ((2, 20), (30, 60)),
                    "U3": ((1, 40), (22 * 24, 30 * 24)),
                }[urgency]
                low, high = ranges[0] if p.within else ranges[1]
                p.repair_h = round(rnd.uniform(low, high), 2)
                slot = opened + timedelta(hours=p.first_response_h, minutes=10)
                add(
                    office,
                    "appointment.scheduled",
                    rid,
                    slot,
                    {
                        "request_id": rid,
                        "appointment_id": f"A-{rid}",
                        "slot_start": _iso(slot + timedelta(hours=1)),
                        "slot_end": _iso(slot + timedelta(hours=2)),
                    },
                )
                if rnd.random() < 0.2:
                    p.missed_by = rnd.choice(("contractor", "tenant"))
                    add(
                        office,
                        "appointment.missed",
                        rid,
                        slot + timedelta(minutes=5),
                        {"request_id": rid, "appointment_id": f"A-{rid}", "missed_by": p.missed_by},
                    )
                if rnd.random() < 0.3:
                    p.hold_h = round(rnd.uniform(1, 30), 2)
                    hold_start = opened + timedelta(minutes=10)
                    add(office, "request.on_hold", rid, hold_start, {"request_id": rid, "reason": "parts_ordered"})
                    add(office, "request.resumed", rid, hold_start + timedelta(hours=p.hold_h), {"request_id": rid})
                done = opened + timedelta(hours=p.repair_h + p.hold_h)
                add(office, "repair.done", rid, done, {"request_id": rid})
                end = max(end, done)
                if rnd.random() < 0.75:
                    p.survey = True
                    sid = f"S-{rid}"
                    invite(office, rid, n, done, done + timedelta(minutes=1), reminder=False)
                    if rnd.random() < 0.6:
                        p.score = rnd.randint(1, 5)
                        p.nps = rnd.choice((None, *range(11)))
                        rated = done + timedelta(hours=3)
                        rating = {"survey_id": sid, "tenant_ref": f"T-{n}", "score": p.score, "channel": "sms"}
                        if p.nps is not None:
                            rating["nps"] = p.nps
                        add(office, "satisfaction.rated", sid, rated, rating, "feedback")
                        if p.score <= 2:
                            add(
                                office,
                                "feedback.detractor_alert",
                                sid,
                                rated,
                                {
                                    "survey_id": sid,
                                    "tenant_ref": f"T-{n}",
                                    "score": p.score,
                                    "follow_up_due_at": _iso(rated + timedelta(hours=48)),
                                },
                                "feedback",
                            )
                    else:
                        invite(office, rid, n, done, done + timedelta(days=3), reminder=True)
            if rnd.random() < 0.15:
                p.breached_stage = "first_response"
                add(
                    office,
                    "sla.breached",
                    rid,
                    opened + timedelta(hours=1),
                    {
                        "request_id": rid,
                        "stage": "first_response",
                        "policy": "first_response",
                        "due_at": _iso(opened + timedelta(hours=1)),
                        "category": category,
                    },
                    "ticketing",
                )
            if rnd.random() < 0.7:
                p.acknowledged = True
                p.ack_channel = rnd.choice(("sms", "email"))
                p.ack_outcome = rnd.choice(("delivered", "delivered", "failed"))
                p.ack_segments = rnd.randint(1, 3) if p.ack_channel == "sms" else 0
                nid = f"N-{rid}"
                base: dict[str, Any] = {
                    "notification_id": nid,
                    "cause_id": opened_id,
                    "channel": p.ack_channel,
                    "template": "request_opened",
                    "recipient": "tenant",
                }
                if p.ack_channel == "sms":
                    base["sms_segments"] = p.ack_segments
                sent_at = opened + timedelta(minutes=2)
                if p.ack_outcome == "delivered":
                    add(office, "notification.sent", nid, sent_at, base, "notifications")
                    add(office, "notification.delivered", nid, sent_at + timedelta(minutes=1), base, "notifications")
                else:
                    add(office, "notification.failed", nid, sent_at, {**base, "reason": "provider"}, "notifications")
            p.closed = rnd.random() < 0.85
            if p.closed:
                closed_at = end + timedelta(hours=1)
                add(office, "request.closed", rid, closed_at, {"request_id": rid, "resolution": "resolved"})
                if rnd.random() < 0.15:
                    p.reopened = True
                    add(office, "request.reopened", rid, closed_at + timedelta(hours=5), {"request_id": rid})
                    if rnd.random() < 0.5:
                        add(
                            office,
                            "request.closed",
                            rid,
                            closed_at + timedelta(hours=9),
                            {"request_id": rid, "resolution": "resolved"},
                        )
                    else:
                        p.closed = False  # still open after the reopen
        # one relationship campaign: 8 tenants per office, 5 answer
        answers: list[dict[str, int] | None] = []
        nps_values: list[int] = []
        for k in range(8):
            sid = f"{prefix}C-{office}-{k}"
            sent = datetime.combine(START + timedelta(days=10), datetime.min.time(), UTC) + timedelta(hours=9)
            add(
                office,
                "survey.requested",
                sid,
                sent,
                {
                    "survey_id": sid,
                    "campaign_id": f"{prefix}camp-2026",
                    "tenant_ref": f"T-c{k}",
                    "url": "https://s.example.org/c",
                    "expires_at": _iso(sent + timedelta(days=14)),
                    "reminder": False,
                },
                "feedback",
            )
            if k < 5:
                axes = {a: rnd.randint(1, 5) for a in ("keys", "posture", "team", "mission")}
                nps = rnd.randint(0, 10)
                nps_values.append(nps)
                add(
                    office,
                    "campaign.answered",
                    sid,
                    sent + timedelta(days=1),
                    {
                        "campaign_id": f"{prefix}camp-2026",
                        "survey_id": sid,
                        "tenant_ref": f"T-c{k}",
                        "axes": axes,
                        "nps": nps,
                        "channel": "web",
                    },
                    "feedback",
                )
                answers.append(axes)
            else:
                answers.append(None)
        ds.campaign[office] = answers
        ds.campaign_nps[office] = nps_values
    return ds


# --- the expected indicators, from the plan ------------------------------------------------------


def _rank(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(1, math.ceil(pct * len(s) / 100)) - 1]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 3)


def _pct(a: int, b: int) -> float | None:
    return None if b == 0 else round(100 * a / b, 2)


def expected_totals(ds: Dataset, office: str | None) -> dict[str, Any]:
    """Totals over ``RANGE`` for one office (None: the network), from the generation plan."""
    rs = [r for r in ds.requests if office is None or r.office == office]
    repairs = {
        u: [r.repair_h * 3600 for r in rs if r.urgency == u and r.repair_h is not None] for u in ("U1", "U2", "U3")
    }
    emergency = [r for r in rs if r.urgency in ("U1", "U2")]
    non_emergency = [r for r in rs if r.urgency == "U3"]
    closed_once = [r for r in rs if r.closed or r.reopened]
    scores = [r.score for r in rs if r.score is not None]
    nps = [r.nps for r in rs if r.nps is not None]
    missed = Counter(r.missed_by for r in rs if r.missed_by)
    acks = [r for r in rs if r.acknowledged]
    return {
        "opened": len(rs),
        "by_category": dict(Counter(r.category for r in rs)),
        "by_urgency": dict(Counter(r.urgency or "none" for r in rs)),
        "by_channel": dict(Counter(r.channel for r in rs)),
        "digital_share_pct": _pct(sum(r.channel in DIGITAL for r in rs), len(rs)),
        "follow_up_coverage_pct": _pct(sum(r.acknowledged and r.ack_outcome == "delivered" for r in rs), len(rs)),
        "backlog": sum(not r.closed for r in rs),
        "first_response_median_h": _hours(_rank([r.first_response_h * 3600 for r in rs], 50)),
        "first_response_p90_h": _hours(_rank([r.first_response_h * 3600 for r in rs], 90)),
        "repair": {
            u: (
                len(v),
                _hours(_rank(v, 50)),
                _hours(_rank(v, 90)),
            )
            for u, v in repairs.items()
        },
        "within_emergency": (len(emergency), sum(bool(r.within) for r in emergency)),
        "within_non_emergency": (len(non_emergency), sum(bool(r.within) for r in non_emergency)),
        "first_response_breaches": sum(r.breached_stage == "first_response" for r in rs),
        "reopen": (len(closed_once), sum(r.reopened for r in rs)),
        "appointments": sum(r.urgency is not None for r in rs),
        "missed": dict(missed),
        "csat_pct": _pct(sum(s >= 4 for s in scores), len(scores)),
        "csat_mean": round(sum(scores) / len(scores), 3) if scores else None,
        "nps": None if not nps else round(100 * (sum(n >= 9 for n in nps) - sum(n <= 6 for n in nps)) / len(nps), 2),
        "surveys": (sum(r.survey for r in rs), sum(r.survey and r.score is not None for r in rs)),
        "alerts": sum(s <= 2 for s in scores),
        "notifications": {
            ch: {
                "delivered": sum(r.ack_channel == ch and r.ack_outcome == "delivered" for r in acks),
                "failed": sum(r.ack_channel == ch and r.ack_outcome == "failed" for r in acks),
            }
            for ch in ("sms", "email")
        },
        "sms_segments": sum(r.ack_segments for r in acks if r.ack_channel == "sms" and r.ack_outcome == "delivered"),
    }


def expected_campaign(ds: Dataset, office: str | None) -> dict[str, Any]:
    answers = [a for o, rows in ds.campaign.items() if office in (None, o) for a in rows]
    given = [a for a in answers if a is not None]
    nps = [n for o, rows in ds.campaign_nps.items() if office in (None, o) for n in rows]
    return {
        "sent": len(answers),
        "answered": len(given),
        "means": {
            axis: round(sum(a[axis] for a in given) / len(given), 3) for axis in ("keys", "posture", "team", "mission")
        },
        "nps": round(100 * (sum(n >= 9 for n in nps) - sum(n <= 6 for n in nps)) / len(nps), 2),
    }


def opened_by_month(ds: Dataset, office: str) -> dict[str, int]:
    return dict(Counter(f"{r.opened.astimezone(PARIS):%Y-%m}" for r in ds.requests if r.office == office))
