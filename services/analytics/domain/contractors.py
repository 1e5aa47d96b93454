"""Contractor indicators (docs/DOMAIN.md "contractors"), per office and contractor and for the
network, computed from request and survey facts.

A request's repair is attributed to one contractor (``facts.contractor_of``). For a range of
office-local dates: repairs done, within target (emergency / non-emergency), median and p90
repair time (on-hold excluded) and first-visit fix rate count the repairs *done* in the range;
missed appointments count the appointments the contractor missed in it; a repair is a *repeat*
when its request was reopened, or when a new request for the same home and category was opened
within 30 days after the repair; CSAT and detractors (a score of at most 2, as for detractor
alerts) count the ratings *given* in the range to a survey of a request of that contractor.
A contractor is named by the name most of its counted repairs, missed appointments and
ratings give. Contractors with fewer repairs than ``min_repairs`` are listed but not ranked; the others are
ranked by their within-target rate, then their first-visit fix rate, then their repeat rate.
Percentiles are nearest-rank. Facts only: the same events in any order give the same numbers.

Two ways to the same document: ``compute_contractors`` from the facts of the range (the
reference, and the benchmark's baseline), and ``compute_from_days`` from each office-day's
``ContractorDay`` (kept in the daily rollups, ``contractor_day``), which queries use. A day holds
per contractor the counts, the exact repair durations and a histogram of the scores, and for
repeats the (home, category, repair instant) of its repairs not reopened, beside the (home,
category, opening instant) of the requests opened that day: the query joins them over the range
and the 31 days after it, so nothing a day holds depends on another day's facts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.analytics.domain.facts import Doc
from services.analytics.domain.indicators import NETWORK, nearest_rank
from services.analytics.domain.records import Fact, RequestFact, SurveyFact

#: a new request for the same home and category within this time after a repair makes it a repeat
REPEAT_WINDOW = timedelta(days=30)
#: the highest score that counts as a detractor (as feedback's detractor alerts)
DETRACTOR_MAX_SCORE = 2
PARIS = ZoneInfo("Europe/Paris")


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 2)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 3)


@dataclass
class Cell:
    """One contractor's counts in one office (or the network), before rates."""

    names: Counter[str] = field(default_factory=Counter)
    repairs: int = 0
    within: dict[str, list[int]] = field(default_factory=lambda: {"emergency": [0, 0], "non_emergency": [0, 0]})
    times: list[float] = field(default_factory=list)
    first_visit: list[int] = field(default_factory=lambda: [0, 0])
    missed: int = 0
    repeats: int = 0
    scores: list[int] = field(default_factory=list)
    #: (home digest, category, repair instant) of repairs whose repeat is decided at query time
    candidates: list[tuple[str, str, datetime]] = field(default_factory=list)

    def add_repair(self, f: RequestFact) -> None:
        """Count the repair of ``f`` (its target, time and first visit; repeats apart)."""
        self.repairs += 1
        if f.within_target is not None and f.urgency in ("U1", "U2", "U3"):
            within = self.within["emergency" if f.urgency in ("U1", "U2") else "non_emergency"]
            within[0] += 1
            within[1] += bool(f.within_target)
        if f.repair_seconds is not None:
            self.times.append(float(f.repair_seconds))
        if f.first_visit is not None:
            self.first_visit[0] += 1
            self.first_visit[1] += bool(f.first_visit)

    def merge(self, other: Cell) -> None:
        self.names.update(other.names)
        self.repairs += other.repairs
        for k in self.within:
            self.within[k] = [a + b for a, b in zip(self.within[k], other.within[k], strict=True)]
        self.times.extend(other.times)
        self.first_visit = [a + b for a, b in zip(self.first_visit, other.first_visit, strict=True)]
        self.missed += other.missed
        self.repeats += other.repeats
        self.scores.extend(other.scores)
        self.candidates.extend(other.candidates)

    def result(self) -> Doc:
        n_all = sum(n for n, _ in self.within.values())
        w_all = sum(w for _, w in self.within.values())
        satisfied = sum(1 for s in self.scores if s >= 4)
        detractors = sum(1 for s in self.scores if s <= DETRACTOR_MAX_SCORE)
        name = min(self.names.items(), key=lambda kv: (-kv[1], kv[0]))[0] if self.names else None
        return {
            "name": name,
            "repairs": self.repairs,
            "within_target": {
                **{k: {"repairs": n, "within": w, "pct": _pct(w, n)} for k, (n, w) in self.within.items()},
                "all": {"repairs": n_all, "within": w_all, "pct": _pct(w_all, n_all)},
            },
            "repair_time": {
                "n": len(self.times),
                "median_hours": _hours(nearest_rank(self.times, 50)),
                "p90_hours": _hours(nearest_rank(self.times, 90)),
            },
            "first_visit": {
                "known": self.first_visit[0],
                "fixed": self.first_visit[1],
                "rate_pct": _pct(self.first_visit[1], self.first_visit[0]),
            },
            "missed_appointments": self.missed,
            "repeat_repairs": {"count": self.repeats, "rate_pct": _pct(self.repeats, self.repairs)},
            "csat": {
                "ratings": len(self.scores),
                "satisfied": satisfied,
                "pct": _pct(satisfied, len(self.scores)),
                "mean": round(sum(self.scores) / len(self.scores), 3) if self.scores else None,
            },
            "detractors": {"count": detractors, "pct": _pct(detractors, len(self.scores))},
        }


@dataclass(frozen=True)
class ContractorQuery:
    start: date
    end: date
    offices: Sequence[str]
    tz: Mapping[str, ZoneInfo]
    min_repairs: int = 5

    def in_range(self, office: str, moment: datetime | None) -> bool:
        if moment is None:
            return False
        day = moment.astimezone(self.tz.get(office, PARIS)).date()
        return self.start <= day <= self.end


def is_repeat(repair: RequestFact, later: Mapping[tuple[str, str, str], Sequence[datetime]]) -> bool:
    """A repair whose request was reopened, or followed by a new request for the same home and
    category opened within ``REPEAT_WINDOW`` after it (``later``: opening instants by office,
    home digest and category)."""
    if repair.reopened:
        return True
    done = repair.repair_done_at
    if done is None or not repair.housing or not repair.category:
        return False
    return any(
        done < t <= done + REPEAT_WINDOW for t in later.get((repair.office, repair.housing, repair.category), ())
    )


def _rank(cells: Mapping[str, Doc], min_repairs: int) -> None:
    def key(item: tuple[str, Doc]) -> tuple[float, float, float, str]:
        cid, doc = item
        within = doc["within_target"]["all"]["pct"]
        first = doc["first_visit"]["rate_pct"]
        repeat = doc["repeat_repairs"]["rate_pct"]
        return (
            -(within if within is not None else -1),
            -(first if first is not None else -1),
            repeat if repeat is not None else 101,
            cid,
        )

    ranked = sorted(((c, d) for c, d in cells.items() if d["repairs"] >= min_repairs), key=key)
    for i, (cid, _) in enumerate(ranked, start=1):
        cells[cid]["rank"] = i
    for doc in cells.values():
        doc.setdefault("rank", None)


def _view(cells: Mapping[str, Cell], min_repairs: int) -> Doc:
    total = Cell()
    for cell in cells.values():
        total.merge(cell)
    docs = {cid: cell.result() for cid, cell in sorted(cells.items())}
    _rank(docs, min_repairs)
    order = sorted(docs, key=lambda c: (docs[c]["rank"] is None, docs[c]["rank"] or 0, -docs[c]["repairs"], c))
    out = total.result()
    out.pop("name")
    return {"contractors": {c: docs[c] for c in order}, "total": out}


def compute_contractors(query: ContractorQuery, requests: Iterable[RequestFact], surveys: Iterable[SurveyFact]) -> Doc:
    """Contractor indicators of ``query`` from request facts (those repaired or with a missed
    appointment in the range, those opened up to ``REPEAT_WINDOW`` after it, and those the
    surveys are about) and survey facts (those rated in the range); duplicates count once."""
    wanted = set(query.offices)
    by_key = {f.key: f for f in requests if f.office in wanted and not f.placeholder}
    later: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for f in by_key.values():
        if f.housing and f.category and f.opened_at is not None:
            later[(f.office, f.housing, f.category)].append(f.opened_at)
    cells: dict[str, dict[str, Cell]] = {o: defaultdict(Cell) for o in query.offices}
    for f in by_key.values():
        if f.contractor is None:
            continue
        cell = cells[f.office][f.contractor]
        missed = sum(1 for m in f.missed if m.by == "contractor" and query.in_range(f.office, m.at))
        repaired = query.in_range(f.office, f.repair_done_at)
        if f.contractor_name:
            cell.names[f.contractor_name] += missed + repaired
        if repaired:
            cell.add_repair(f)
            cell.repeats += is_repeat(f, later)
        cell.missed += missed
    for s in {s.key: s for s in surveys if s.office in wanted}.values():
        if s.rating is None or s.request_id is None or not query.in_range(s.office, s.rating.at):
            continue
        request = by_key.get(f"r|{s.office}|{s.request_id}")
        if request is None or request.contractor is None:
            continue
        cells[s.office][request.contractor].scores.append(int(s.rating.score))
        if request.contractor_name:
            cells[s.office][request.contractor].names[request.contractor_name] += 1
    network: dict[str, Cell] = defaultdict(Cell)
    offices: Doc = {}
    for office in query.offices:
        kept = {c: cell for c, cell in cells[office].items() if _counts(cell)}
        for c, cell in kept.items():
            network[c].merge(cell)
        offices[office] = _view(kept, query.min_repairs)
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "by": "contractor",
        "min_repairs": query.min_repairs,
        "offices": offices,
        NETWORK: _view(network, query.min_repairs),
    }


def _request_of(f: SurveyFact, requests: Mapping[str, RequestFact]) -> RequestFact | None:
    request = requests.get(f"r|{f.office}|{f.request_id}")
    return None if request is None or request.placeholder else request


@dataclass(frozen=True)
class ContractorDay:
    """One office-day's share of the contractor indicators: ``cells`` by contractor (``repeats``
    holds the repairs of the day whose request was reopened, ``candidates`` the others with a home
    and a category), and ``openings``: (home digest, category, instant) of the requests opened
    that day, for the repeats of earlier repairs."""

    cells: Mapping[str, Cell] = field(default_factory=dict)
    openings: Sequence[tuple[str, str, datetime]] = ()


def contractor_day(
    office: str, day: date, facts: Iterable[Fact], requests: Mapping[str, RequestFact], tz: ZoneInfo
) -> ContractorDay:
    """The contractor share of ``office`` on local ``day`` from the facts touching that day and
    ``requests``: the request facts of the day's rated surveys (by key; those touching the day
    may be missing from it)."""

    def on_day(moment: datetime | None) -> bool:
        return moment is not None and moment.astimezone(tz).date() == day

    unique = {f.key: f for f in facts if f.office == office}
    cells: dict[str, Cell] = defaultdict(Cell)
    openings: list[tuple[str, str, datetime]] = []
    for f in unique.values():
        if not isinstance(f, RequestFact) or f.placeholder:
            continue
        if f.housing and f.category and f.opened_at is not None and on_day(f.opened_at):
            openings.append((f.housing, f.category, f.opened_at))
        if f.contractor is None:
            continue
        missed = sum(1 for m in f.missed if m.by == "contractor" and on_day(m.at))
        repaired = on_day(f.repair_done_at)
        if not (missed or repaired):
            continue
        cell = cells[f.contractor]
        cell.missed += missed
        if f.contractor_name:
            cell.names[f.contractor_name] += missed + repaired
        if repaired:
            cell.add_repair(f)
            if f.reopened:
                cell.repeats += 1
            elif f.housing and f.category and f.repair_done_at is not None:
                cell.candidates.append((f.housing, f.category, f.repair_done_at))
    lookup = {**requests, **{k: f for k, f in unique.items() if isinstance(f, RequestFact)}}
    for s in unique.values():
        if not isinstance(s, SurveyFact) or s.rating is None or not s.request_id or not on_day(s.rating.at):
            continue
        request = _request_of(s, lookup)
        if request is None or request.contractor is None:
            continue
        cell = cells[request.contractor]
        cell.scores.append(int(s.rating.score))
        if request.contractor_name:
            cell.names[request.contractor_name] += 1
    for cell in cells.values():
        cell.times.sort()
        cell.scores.sort()
        cell.candidates.sort()
    return ContractorDay(dict(sorted(cells.items())), tuple(sorted(openings)))


def compute_from_days(query: ContractorQuery, days: Iterable[tuple[str, date, ContractorDay]]) -> Doc:
    """Contractor indicators of ``query`` from the ``ContractorDay`` of (office, local day): those
    of the range count, the openings of the range and of the ``REPEAT_WINDOW`` (+ 1 day) after it
    decide the repeats. The same document as ``compute_contractors`` on the same facts."""
    horizon = query.end + REPEAT_WINDOW + timedelta(days=1)
    wanted = set(query.offices)
    later: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    cells: dict[str, dict[str, Cell]] = {o: defaultdict(Cell) for o in query.offices}
    for office, day, share in days:
        if office not in wanted or not query.start <= day <= horizon:
            continue
        for housing, category, at in share.openings:
            later[(office, housing, category)].append(at)
        if day <= query.end:
            for cid, cell in share.cells.items():
                cells[office][cid].merge(cell)
    network: dict[str, Cell] = defaultdict(Cell)
    offices: Doc = {}
    for office in query.offices:
        for cell in cells[office].values():
            cell.repeats += sum(
                1
                for housing, category, done in cell.candidates
                if any(done < t <= done + REPEAT_WINDOW for t in later.get((office, housing, category), ()))
            )
            cell.candidates = []
        kept = {c: cell for c, cell in cells[office].items() if _counts(cell)}
        for c, cell in kept.items():
            network[c].merge(cell)
        offices[office] = _view(kept, query.min_repairs)
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "by": "contractor",
        "min_repairs": query.min_repairs,
        "offices": offices,
        NETWORK: _view(network, query.min_repairs),
    }


def _counts(cell: Cell) -> bool:
    """Whether a contractor did anything counted in the range."""
    return bool(cell.repairs or cell.missed or cell.scores)
