"""A generated history of repairs by contractors (several offices, one reporting month and its
neighbours), with the expected contractor indicators computed here from the generation plan —
independently of the service's code.

Repairs are timed so that within target is known by construction (U1/U2 on calendar hours, U3
either at most 30 calendar hours or at least 22 days); no on-hold time; homes are drawn from a
small pool so that repeats happen."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import CloudEvent, parse_event

PARIS = ZoneInfo("Europe/Paris")
#: (kind, ref, name): contractors by assignment, and one only named by its appointments
CONTRACTORS = (
    ("ref", "C-PLOMB", "Plomberie Martin"),
    ("ref", "C-ELEC", "Électricité Roussel"),
    ("ref", "C-MULTI", "Multiservices Atlantique"),
    ("name", "name:serrurerie leblanc", "Serrurerie Leblanc"),
)
TARGET_HOURS = {"U1": 4.0, "U2": 24.0}


@dataclass
class Repair:
    office: str
    request_id: str
    opened: datetime
    category: str
    urgency: str
    housing: str
    contractor: str
    name: str
    done: datetime | None
    within: bool | None
    first_visit: bool | None
    reopened: bool
    missed_by_contractor: list[datetime] = field(default_factory=list)
    rating: tuple[datetime, int] | None = None


@dataclass
class History:
    events: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)

    def cloud_events(self) -> list[CloudEvent]:
        return [parse_event(json.dumps(e)) for e in self.events]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def generate(
    offices: tuple[str, ...], month: date, per_office: int = 120, seed: int = 3, prefix: str = "", homes: int = 25
) -> History:
    """``per_office`` technical requests per office opened from 20 days before ``month`` to 20 days
    after its end (so some repairs of the month are repeated by requests of the next)."""
    rnd = random.Random(seed)
    h = History()
    counter = 0
    first = datetime.combine(month, datetime.min.time(), UTC) - timedelta(days=20)
    span_days = 31 + 40

    def add(
        office: str, kind: str, subject: str, t: datetime, data: dict[str, Any], service: str | None = None
    ) -> None:
        nonlocal counter
        counter += 1
        h.events.append(
            {
                "specversion": "1.0",
                "id": f"{prefix}ce-{counter:07d}",
                "source": f"/services/{service}" if service else f"/offices/{office}/ikos",
                "type": f"fr.canopee.{kind}.v1",
                "subject": subject,
                "time": _iso(t),
                "officeid": office,
                "data": data,
            }
        )

    for office in offices:
        for n in range(per_office):
            rid = f"{prefix}{office}-R{n:05d}"
            opened = first + timedelta(
                days=rnd.randrange(span_days), hours=rnd.randint(6, 16), minutes=rnd.randint(0, 59)
            )
            category = rnd.choice(("repair", "heating_hot_water", "common_areas"))
            urgency = rnd.choice(("U1", "U2", "U3"))
            housing = f"H-{rnd.randrange(homes):03d}"
            kind, ref, name = rnd.choice(CONTRACTORS)
            add(
                office,
                "request.opened",
                rid,
                opened,
                {
                    "request_id": rid,
                    "tenant_ref": f"T-{n}",
                    "housing_ref": housing,
                    "category": category,
                    "urgency": urgency,
                    "channel": "phone",
                },
            )
            t = opened + timedelta(minutes=30)
            if kind == "ref":
                if rnd.random() < 0.2:  # first given to another contractor, then reassigned
                    other = rnd.choice([c for c in CONTRACTORS if c[0] == "ref" and c[1] != ref])
                    add(
                        office,
                        "request.assigned",
                        rid,
                        t,
                        {
                            "request_id": rid,
                            "assignee_kind": "contractor",
                            "assignee_ref": other[1],
                            "assignee_name": other[2],
                        },
                    )
                    t += timedelta(minutes=10)
                add(
                    office,
                    "request.assigned",
                    rid,
                    t,
                    {"request_id": rid, "assignee_kind": "contractor", "assignee_ref": ref, "assignee_name": name},
                )
                appointment_name: str | None = name if rnd.random() < 0.5 else None
            else:
                add(
                    office,
                    "request.assigned",
                    rid,
                    t,
                    {"request_id": rid, "assignee_kind": "team", "assignee_ref": "EQ-1"},
                )
                appointment_name = name
            slot = t + timedelta(minutes=20)
            data: dict[str, Any] = {
                "request_id": rid,
                "appointment_id": f"A-{rid}",
                "slot_start": _iso(slot),
                "slot_end": _iso(slot + timedelta(hours=2)),
            }
            if appointment_name:
                data["contractor_name"] = appointment_name
            add(office, "appointment.scheduled", rid, t + timedelta(minutes=5), data)
            repair = Repair(office, rid, opened, category, urgency, housing, ref, name, None, None, None, False)
            h.repairs.append(repair)
            if rnd.random() < 0.25:
                by = rnd.choice(("contractor", "tenant"))
                missed_at = t + timedelta(minutes=40)
                add(
                    office,
                    "appointment.missed",
                    rid,
                    missed_at,
                    {"request_id": rid, "appointment_id": f"A-{rid}", "missed_by": by},
                )
                if by == "contractor":
                    repair.missed_by_contractor.append(missed_at)
            if rnd.random() < 0.1:
                continue  # not repaired (yet)
            within = rnd.random() < 0.7
            if urgency == "U3":
                hours = rnd.uniform(2, 30) if within else rnd.uniform(22 * 24, 25 * 24)
            else:
                target = TARGET_HOURS[urgency]
                hours = rnd.uniform(1.2, target - 0.1) if within else rnd.uniform(target + 0.5, target * 3)
            done = opened + timedelta(hours=round(hours, 3))
            fv = rnd.choice((True, False, None))
            done_data: dict[str, Any] = {"request_id": rid, "completed_by": name}
            if fv is not None:
                done_data["first_visit"] = fv
            add(office, "repair.done", rid, done, done_data)
            repair.done, repair.within, repair.first_visit = done, within, fv
            closed = done + timedelta(hours=2)
            add(office, "request.closed", rid, closed, {"request_id": rid, "resolution": "resolved"})
            if rnd.random() < 0.12:
                add(office, "request.reopened", rid, closed + timedelta(days=2), {"request_id": rid})
                repair.reopened = True
            if rnd.random() < 0.6:
                sid = f"S-{rid}"
                sent = done + timedelta(hours=3)
                add(
                    office,
                    "survey.requested",
                    sid,
                    sent,
                    {
                        "survey_id": sid,
                        "request_id": rid,
                        "tenant_ref": f"T-{n}",
                        "url": "https://s.example.org/x",
                        "expires_at": _iso(sent + timedelta(days=14)),
                        "reminder": False,
                    },
                    "feedback",
                )
                if rnd.random() < 0.8:
                    rated = sent + timedelta(hours=rnd.randint(1, 100))
                    score = rnd.randint(1, 5)
                    add(
                        office,
                        "satisfaction.rated",
                        sid,
                        rated,
                        {"survey_id": sid, "request_id": rid, "tenant_ref": f"T-{n}", "score": score, "channel": "sms"},
                        "feedback",
                    )
                    repair.rating = (rated, score)
    return h


def _local(t: datetime) -> date:
    return t.astimezone(PARIS).date()


def _rank(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def expected(h: History, start: date, end: date, office: str | None) -> dict[str, dict[str, Any]]:
    """Expected figures per contractor (one office, or the network for ``office`` None)."""
    inside = [r for r in h.repairs if office is None or r.office == office]
    openings: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for r in h.repairs:
        openings[(r.office, r.housing, r.category)].append(r.opened)
    out: dict[str, dict[str, Any]] = {}
    for r in inside:
        e = out.setdefault(
            r.contractor,
            {
                "name": r.name,
                "repairs": 0,
                "emergency": [0, 0],
                "non_emergency": [0, 0],
                "times": [],
                "fv": [0, 0],
                "missed": 0,
                "repeats": 0,
                "scores": [],
            },
        )
        if r.done is not None and start <= _local(r.done) <= end:
            e["repairs"] += 1
            cell = e["emergency"] if r.urgency in ("U1", "U2") else e["non_emergency"]
            cell[0] += 1
            cell[1] += bool(r.within)
            e["times"].append((r.done - r.opened).total_seconds())
            if r.first_visit is not None:
                e["fv"][0] += 1
                e["fv"][1] += r.first_visit
            done = r.done
            again = any(done < t <= done + timedelta(days=30) for t in openings[(r.office, r.housing, r.category)])
            e["repeats"] += r.reopened or again
        e["missed"] += sum(1 for m in r.missed_by_contractor if start <= _local(m) <= end)
        if r.rating is not None and start <= _local(r.rating[0]) <= end:
            e["scores"].append(r.rating[1])
    for e in out.values():
        times = e.pop("times")
        e["median_hours"] = None if not times else round(_rank(times, 50) / 3600, 3)  # type: ignore[operator]
        e["p90_hours"] = None if not times else round(_rank(times, 90) / 3600, 3)  # type: ignore[operator]
        scores = e["scores"]
        e["satisfied"] = sum(1 for s in scores if s >= 4)
        e["detractors"] = sum(1 for s in scores if s <= 2)
    return {c: e for c, e in out.items() if e["repairs"] or e["missed"] or e["scores"]}


def _pct(a: int, b: int) -> float | None:
    return None if b == 0 else round(100 * a / b, 2)


def check(view: dict[str, Any], exp: dict[str, dict[str, Any]]) -> None:
    """A ``by=contractor`` view (an office or the network) holds the figures of ``expected``."""
    assert set(view["contractors"]) == set(exp)
    for cid, e in exp.items():
        got = view["contractors"][cid]
        assert got["name"] == e["name"], cid
        assert got["repairs"] == e["repairs"], cid
        for k in ("emergency", "non_emergency"):
            assert [got["within_target"][k]["repairs"], got["within_target"][k]["within"]] == e[k], (cid, k)
        assert (got["repair_time"]["median_hours"], got["repair_time"]["p90_hours"]) == (
            e["median_hours"],
            e["p90_hours"],
        )
        assert [got["first_visit"]["known"], got["first_visit"]["fixed"]] == e["fv"], cid
        assert got["first_visit"]["rate_pct"] == _pct(e["fv"][1], e["fv"][0])
        assert got["missed_appointments"] == e["missed"], cid
        assert got["repeat_repairs"]["count"] == e["repeats"], cid
        assert got["csat"]["ratings"] == len(e["scores"]), cid
        assert got["csat"]["satisfied"] == e["satisfied"], cid
        assert got["detractors"]["count"] == e["detractors"], cid
    assert view["total"]["repairs"] == sum(e["repairs"] for e in exp.values())
