"""Complaints (réclamations): requests opened with ``complaint: true`` (docs/EVENTS.md), whatever
their category, with their own clocks: the first answer (first assignment, appointment or
closing, as the first response) against the office's ``complaint_answer_working_days`` (10
working days by default, on-hold time excluded), and the resolution (opening → first closing).
Every figure counts the complaints *opened* in the period, and what became of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.analytics.domain.facts import Doc
from services.analytics.domain.indicators import NETWORK, Query, nearest_rank, period_label
from services.analytics.domain.records import RequestFact


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 2)


def _times(values: list[float]) -> Doc:
    def hours(v: float | None) -> float | None:
        return None if v is None else round(v / 3600, 3)

    return {
        "n": len(values),
        "median_hours": hours(nearest_rank(values, 50)),
        "p90_hours": hours(nearest_rank(values, 90)),
    }


@dataclass
class ComplaintCell:
    opened: int = 0
    answered: int = 0
    in_time: int = 0
    response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)

    def add(self, f: RequestFact) -> None:
        self.opened += 1
        if f.complaint_answered_in_time is not None:
            self.answered += 1
            self.in_time += bool(f.complaint_answered_in_time)
        if f.first_response_seconds is not None:
            self.response.append(float(f.first_response_seconds))
        if f.first_closed_at is not None and f.opened_at is not None:
            self.resolution.append((f.first_closed_at - f.opened_at).total_seconds())

    def merge(self, other: ComplaintCell) -> None:
        self.opened += other.opened
        self.answered += other.answered
        self.in_time += other.in_time
        self.response.extend(other.response)
        self.resolution.extend(other.resolution)

    def result(self) -> Doc:
        return {
            "opened": self.opened,
            "answered": self.answered,
            "answered_in_time": self.in_time,
            "answered_in_time_pct": _pct(self.in_time, self.answered),
            "unanswered": self.opened - self.answered,
            "first_answer": _times(self.response),
            "resolved": len(self.resolution),
            "resolution": _times(self.resolution),
        }


def add_complaints(result: Doc, query: Query, facts: Iterable[RequestFact]) -> Doc:
    """Add ``complaints`` to every period row and total of an indicator document of ``query``
    (in place; returned) from the complaint facts of its offices."""
    cells = {(o, label): ComplaintCell() for o in query.offices for label, _, _ in _spans(result)}
    totals = {o: ComplaintCell() for o in query.offices}
    for f in {f.key: f for f in facts}.values():
        if not f.complaint or f.opened_at is None or f.office not in totals:
            continue
        day = f.opened_at.astimezone(query.zone(f.office)).date()
        if query.start <= day <= query.end:
            cells[(f.office, period_label(day, query.period))].add(f)
            totals[f.office].add(f)
    network_rows = {label: ComplaintCell() for label, _, _ in _spans(result)}
    network_total = ComplaintCell()
    for office in query.offices:
        data = result["offices"].get(office)
        for row in data["periods"] if data else ():
            row["complaints"] = cells[(office, row["period"])].result()
        for row in result[NETWORK]["periods"]:
            network_rows[row["period"]].merge(cells[(office, row["period"])])
        if data:
            data["total"]["complaints"] = totals[office].result()
        network_total.merge(totals[office])
    for row in result[NETWORK]["periods"]:
        row["complaints"] = network_rows[row["period"]].result()
    result[NETWORK]["total"]["complaints"] = network_total.result()
    return result


def _spans(result: Doc) -> list[tuple[str, str, str]]:
    return [(row["period"], row["from"], row["to"]) for row in result[NETWORK]["periods"]]
