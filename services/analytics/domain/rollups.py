"""Daily rollups: what every indicator needs of one office's local day, computed from facts.

A rollup (key ``office|YYYY-MM-DD``, the day in the office's time zone) holds the day's
share of every indicator before rates and percentiles: counts and sums, the duration values the
exact nearest-rank percentiles need, score/NPS histograms, campaign entries, and the open
intervals started and ended that day (for the backlog), and the day's share of the contractor
indicators (``contractors.ContractorDay``). It is always *computed* from the facts
that touch the day (never incremented), so it is as idempotent and order-independent as the
facts; answers from rollups equal answers from facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.analytics.domain.contractors import ContractorDay, contractor_day
from services.analytics.domain.facts import Doc
from services.analytics.domain.indicators import (
    AXES,
    TRACKER_PREFIX,
    TRACKER_TEMPLATE,
    Accumulator,
    Bucket,
    Query,
    period_label,
)
from services.analytics.domain.records import (
    AlertFact,
    Fact,
    Net,
    NotificationFact,
    RequestFact,
    SurveyFact,
    day_key,
)

#: the outcomes of a tenant notification that acknowledge the request it was sent for (a tenant
#: reached in person by a follow-up counts too)
ACK_OUTCOMES = ("sent", "delivered", "followup_reached")


def acknowledged_causes(notifications: Iterable[NotificationFact]) -> set[str]:
    """The ``request.opened`` ids acknowledged to the tenant by these notification facts, and
    ``tracker|<id>`` for those whose acknowledgement carried the tenant's tracker link."""
    found: set[str] = set()
    for f in notifications:
        if f.cause_id and f.recipient == "tenant" and f.outcome in ACK_OUTCOMES:
            found.add(f.cause_id)
            if f.template == TRACKER_TEMPLATE:
                found.add(TRACKER_PREFIX + f.cause_id)
    return found


def _expand(histogram: Mapping[int, int]) -> list[int]:
    """The values of a histogram, ascending."""
    return [value for value, n in sorted(histogram.items()) for _ in range(n)]


@dataclass(frozen=True)
class CampaignEntry:
    """Campaign surveys of one office-day: sent that day (``by`` = ``s``), or answered that day
    and sent on another (``by`` = ``a``, with ``sent_day``); answers as histograms (score → count)."""

    campaign: str
    by: Literal["s", "a"]
    sent_day: date | None
    sent: int
    answered: int
    axes: Mapping[str, Mapping[int, int]]
    nps: Mapping[int, int]


@dataclass(frozen=True)
class Rollup:
    """An office-day's share of every indicator, computed from the facts touching the day.

    ``bucket``: the day's counts, sums and value lists (its backlog left at 0: see ``net``);
    ``campaigns``: its campaign entries; ``starts``/``ends``: the instants of the open intervals
    started and ended that day, ascending; ``gen``: the dirty marker's generation read before the
    facts were (None when the day had no marker); ``contractors``: the day's contractor share."""

    office: str
    day: date
    bucket: Bucket
    campaigns: Sequence[CampaignEntry]
    starts: Sequence[datetime]
    ends: Sequence[datetime]
    net: int
    n_facts: int
    gen: str | None = None
    contractors: ContractorDay = field(default_factory=ContractorDay)

    @property
    def key(self) -> str:
        return day_key(self.office, self.day)

    def as_net(self) -> Net:
        return Net(self.office, self.day, self.net, self.gen)


def _campaign_entries(office: str, day: date, surveys: Iterable[SurveyFact], tz: ZoneInfo) -> list[CampaignEntry]:
    """Campaign surveys of the day. A survey is counted in a range when it was sent or answered in
    it: an ``s`` entry on its sending day, an ``a`` entry (with the sending day) on its answer day
    when that is another day, so a query counts every survey once."""
    entries: dict[tuple[str, Literal["s", "a"], date | None], Doc] = {}
    for f in surveys:
        if f.origin != "campaign" or not f.campaign_id or f.office != office:
            continue
        sent = f.sent_at
        answer = f.campaign_answer
        sent_day = sent.astimezone(tz).date() if sent is not None else None
        answer_day = answer.at.astimezone(tz).date() if answer is not None else None
        if sent_day == day:
            entry_key: tuple[str, Literal["s", "a"], date | None] = (f.campaign_id, "s", None)
        elif answer_day == day:
            entry_key = (f.campaign_id, "a", sent_day)
        else:
            continue
        e = entries.setdefault(
            entry_key,
            {
                "campaign": entry_key[0],
                "by": entry_key[1],
                "sent_day": entry_key[2],
                "sent": 0,
                "answered": 0,
                "axes": {},
                "nps": {},
            },
        )
        e["sent"] += sent is not None
        if answer is not None:
            e["answered"] += 1
            for axis, score in answer.axes.items():
                histogram = e["axes"].setdefault(axis, {})
                histogram[int(score)] = histogram.get(int(score), 0) + 1
            if answer.nps is not None:
                e["nps"][int(answer.nps)] = e["nps"].get(int(answer.nps), 0) + 1
    return [CampaignEntry(**e) for e in entries.values()]


def rollup(
    office: str,
    day: date,
    facts: Iterable[Fact],
    acknowledged: Iterable[str],
    tz: ZoneInfo,
    requests: Mapping[str, RequestFact] | None = None,
) -> Rollup:
    """The rollup of ``office`` on local ``day`` from the facts touching that day (others are
    ignored; duplicates count once), the acknowledged ``request.opened`` ids and ``requests``:
    the request facts (by key) of the surveys rated that day, for their contractor."""
    unique = {f.key: f for f in facts if f.office == office}
    acc = Accumulator(Query(start=day, end=day, period="day", offices=[office], tz={office: tz}))
    acc.acknowledged_causes = set(acknowledged)
    acc.add_notifications(f for f in unique.values() if isinstance(f, NotificationFact))
    starts: list[datetime] = []
    ends: list[datetime] = []
    for f in unique.values():
        if not isinstance(f, RequestFact):
            continue
        acc.add_request(f)
        if f.placeholder:
            continue
        for interval in f.open_intervals:
            if interval.s.astimezone(tz).date() == day:
                starts.append(interval.s)
            if interval.e is not None and interval.e.astimezone(tz).date() == day:
                ends.append(interval.e)
    surveys = [f for f in unique.values() if isinstance(f, SurveyFact)]
    for f in surveys:
        if f.origin != "campaign":
            acc.add_survey(f)
        elif f.rating is not None:  # campaign surveys are kept as entries, below: only the rating here
            acc.add_survey(f, campaign=False)
    for f in unique.values():
        if isinstance(f, AlertFact):
            acc.add_alert(f)
    return Rollup(
        office=office,
        day=day,
        bucket=acc.totals[office],
        campaigns=_campaign_entries(office, day, surveys, tz),
        starts=tuple(sorted(starts)),
        ends=tuple(sorted(ends)),
        net=len(starts) - len(ends),
        n_facts=len(unique),
        contractors=contractor_day(office, day, unique.values(), requests or {}, tz),
    )


def compute_from_rollups(query: Query, rollups: Iterable[Rollup], net_before: Mapping[str, Sequence[Net]]) -> Doc:
    """Every indicator for ``query`` from the rollups of its offices' days in the range and, for
    the backlog, ``net_before[office]``: the net of every earlier day of the office."""
    acc = Accumulator(query)
    wanted = set(query.offices)
    nets: dict[str, dict[date, int]] = {o: {} for o in wanted}
    for office, rows in net_before.items():
        if office in nets:
            for row in rows:
                nets[office][row.day] = row.net
    for r in rollups:
        office, day = r.office, r.day
        if office not in wanted or day < query.start or day > query.end:
            continue
        nets[office][day] = r.net
        acc.buckets[(office, period_label(day, query.period))].merge(r.bucket)
        acc.totals[office].merge(r.bucket)
        for e in r.campaigns:
            if e.by == "a" and e.sent_day is not None and query.start <= e.sent_day <= query.end:
                continue  # counted with the day it was sent
            c = acc.campaigns.setdefault(
                (office, e.campaign), {"sent": 0, "answered": 0, "axes": {a: [] for a in AXES}, "nps": []}
            )
            c["sent"] += e.sent
            c["answered"] += e.answered
            for axis, histogram in e.axes.items():
                c["axes"].setdefault(axis, []).extend(_expand(histogram))
            c["nps"].extend(_expand(e.nps))
    for office in query.offices:
        ordered = sorted(nets[office].items())

        def open_at_end(last: date, ordered: list[tuple[date, int]] = ordered) -> int:
            return sum(n for d, n in ordered if d <= last)

        for label, _, last in acc.spans:
            acc.buckets[(office, label)].backlog = open_at_end(last)
        acc.totals[office].backlog = open_at_end(query.end)
    return acc.result()


def rated_requests(facts: Iterable[Fact], days: Iterable[str], zones: Mapping[str, ZoneInfo]) -> set[str]:
    """The request keys of the surveys among ``facts`` rated on one of these office-days (what
    ``rollup``'s ``requests`` needs for them)."""
    wanted = set(days)
    return {
        f"r|{f.office}|{f.request_id}"
        for f in facts
        if isinstance(f, SurveyFact)
        and f.rating
        and f.request_id
        and day_key(f.office, f.rating.at.astimezone(zones[f.office]).date()) in wanted
    }


def open_now(now: datetime, net_before_today: int, today: Rollup | None) -> int:
    """Requests open at ``now``: the net of the days before today plus today's starts and ends
    up to ``now`` (an interval is open from its start, inclusive, to its end, exclusive)."""
    if today is None:
        return net_before_today
    starts, ends = today.starts, today.ends
    return net_before_today + sum(1 for s in starts if s <= now) - sum(1 for e in ends if e <= now)
