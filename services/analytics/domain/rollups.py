"""Daily rollups: what every indicator needs of one office's local day, computed from facts.

A rollup (``_id`` = ``office|YYYY-MM-DD``, the day in the office's time zone) holds the day's
share of every indicator before rates and percentiles: counts and sums, the duration values the
exact nearest-rank percentiles need, score/NPS histograms, campaign entries, and the open
intervals started and ended that day (for the backlog). It is always *computed* from the facts
that touch the day (never incremented), so it is as idempotent and order-independent as the
facts; answers from rollups equal answers from facts.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics.domain.facts import Doc
from services.analytics.domain.indicators import (
    AXES,
    URGENCIES,
    Accumulator,
    Bucket,
    Query,
    period_label,
)
from services.analytics.domain.records import Fact, Net, Rollup

#: the outcomes of a tenant notification that acknowledge the request it was sent for
ACK_OUTCOMES = ("sent", "delivered")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Value lists (durations, instants) are stored packed in one binary field: the store decodes a
# document value by value, so a day's hundreds of values cost one value instead of hundreds.
def pack_floats(values: Sequence[float]) -> bytes:
    """Little-endian IEEE doubles: exact."""
    return struct.pack(f"<{len(values)}d", *values)


def unpack_floats(data: bytes) -> list[float]:
    """The values of ``pack_floats``."""
    return list(struct.unpack(f"<{len(data) // 8}d", data))


def pack_times(values: Sequence[datetime]) -> bytes:
    """Microseconds since the epoch, little-endian int64: exact."""
    return struct.pack(f"<{len(values)}q", *((v - EPOCH) // timedelta(microseconds=1) for v in values))


def unpack_times(data: bytes) -> list[datetime]:
    """The instants of ``pack_times`` (UTC)."""
    return [EPOCH + timedelta(microseconds=v) for v in struct.unpack(f"<{len(data) // 8}q", data)]


def acknowledged_causes(notifications: Iterable[Fact]) -> set[str]:
    """The ``request.opened`` ids acknowledged to the tenant by these notification facts."""
    return {
        f.cause_id
        for f in notifications
        if f.cause_id and f.values.get("recipient") == "tenant" and f.values.get("outcome") in ACK_OUTCOMES
    }


def bucket_doc(b: Bucket) -> Doc:
    """A ``Bucket`` as a stored document (no backlog: it is cumulative, see ``net``)."""
    return {
        "opened": b.opened,
        "by_category": dict(b.by_category),
        "by_urgency": dict(b.by_urgency),
        "by_channel": dict(b.by_channel),
        "digital": b.digital,
        "acknowledged": b.acknowledged,
        "reassigned": b.reassigned,
        "first_response": pack_floats(b.first_response),
        "repair": {u: pack_floats(b.repair[u]) for u in URGENCIES},
        "within": {k: list(v) for k, v in b.within.items()},
        "stage_applicable": dict(b.stage_applicable),
        "stage_breached": dict(b.stage_breached),
        "closed": b.closed,
        "reopened": b.reopened,
        "appointments": b.appointments,
        "missed": dict(b.missed),
        # histograms, not lists: scores are small integers and every indicator on them is exact
        "scores": {str(k): v for k, v in Counter(b.scores).items()},
        "nps": {str(k): v for k, v in Counter(b.nps).items()},
        "surveys_sent": b.surveys_sent,
        "surveys_answered": b.surveys_answered,
        "alerts": b.alerts,
        "notifications": {ch: dict(c) for ch, c in b.notifications.items()},
        "sms_segments": b.sms_segments,
        "transfer": list(b.transfer),
    }


def _expand(histogram: Mapping[str, int]) -> list[int]:
    return [int(value) for value, n in sorted(histogram.items(), key=lambda kv: int(kv[0])) for _ in range(n)]


def bucket_of(doc: Mapping[str, Any]) -> Bucket:
    """The ``Bucket`` of a stored rollup document."""
    b = Bucket()
    for name in ("opened", "digital", "acknowledged", "reassigned", "closed", "reopened"):
        setattr(b, name, int(doc[name]))
    for name in ("appointments", "surveys_sent", "surveys_answered", "alerts", "sms_segments"):
        setattr(b, name, int(doc[name]))
    for name in ("by_category", "by_urgency", "by_channel", "stage_applicable", "stage_breached", "missed"):
        setattr(b, name, Counter({k: int(v) for k, v in doc[name].items()}))
    b.first_response = unpack_floats(doc["first_response"])
    b.repair = {u: unpack_floats(doc["repair"].get(u, b"")) for u in URGENCIES}
    b.within = {k: [int(x) for x in v] for k, v in doc["within"].items()}
    b.scores = _expand(doc["scores"])
    b.nps = _expand(doc["nps"])
    for channel, counts in doc["notifications"].items():
        b.notifications[channel] = Counter({k: int(v) for k, v in counts.items()})
    b.transfer = [int(x) for x in doc["transfer"]]
    return b


def _campaign_entries(office: str, day: date, surveys: Iterable[Fact], tz: ZoneInfo) -> list[Doc]:
    """Campaign surveys of the day. A survey is counted in a range when it was sent or answered in
    it: an ``s`` entry on its sending day, an ``a`` entry (with the sending day) on its answer day
    when that is another day, so a query counts every survey once."""
    entries: dict[tuple[str, str, str | None], Doc] = {}
    for f in surveys:
        v = f.values
        if v.get("origin") != "campaign" or not v.get("campaign_id") or f.office != office:
            continue
        sent = v.get("sent_at")
        answer = v.get("campaign_answer")
        sent_day = sent.astimezone(tz).date() if sent is not None else None
        answer_day = answer["at"].astimezone(tz).date() if answer is not None else None
        if sent_day == day:
            entry_key: tuple[str, str, str | None] = (v["campaign_id"], "s", None)
        elif answer_day == day:
            entry_key = (v["campaign_id"], "a", sent_day.isoformat() if sent_day else None)
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
            for axis, score in (answer.get("axes") or {}).items():
                histogram = e["axes"].setdefault(axis, {})
                histogram[str(int(score))] = histogram.get(str(int(score)), 0) + 1
            if answer.get("nps") is not None:
                e["nps"][str(int(answer["nps"]))] = e["nps"].get(str(int(answer["nps"])), 0) + 1
    return list(entries.values())


def rollup(office: str, day: date, facts: Iterable[Fact], acknowledged: Iterable[str], tz: ZoneInfo) -> Rollup:
    """The rollup of ``office`` on local ``day`` from the facts touching that day (others are
    ignored; duplicates count once) and the acknowledged ``request.opened`` ids."""
    unique = {f.key: f for f in facts if f.office == office}
    acc = Accumulator(Query(start=day, end=day, period="day", offices=[office], tz={office: tz}))
    acc.acknowledged_causes = set(acknowledged)
    by_kind: dict[str, list[Fact]] = {"request": [], "survey": [], "alert": [], "notification": []}
    for f in unique.values():
        by_kind.setdefault(f.kind, []).append(f)
    acc.add_notifications(by_kind["notification"])
    starts: list[datetime] = []
    ends: list[datetime] = []
    for f in by_kind["request"]:
        acc.add_request(f)
        if f.values.get("placeholder"):
            continue
        for interval in f.values.get("open_intervals") or ():
            if interval["s"].astimezone(tz).date() == day:
                starts.append(interval["s"])
            if interval["e"] is not None and interval["e"].astimezone(tz).date() == day:
                ends.append(interval["e"])
    surveys = by_kind["survey"]
    for f in surveys:
        if f.values.get("origin") != "campaign":  # campaign surveys are kept as entries, below
            acc.add_survey(f)
        elif f.values.get("rating") is not None:
            acc.add_survey(replace(f, values={**f.values, "origin": "rating-only"}))
    for f in by_kind["alert"]:
        acc.add_alert(f)
    return Rollup(
        office=office,
        day=day,
        bucket=bucket_doc(acc.totals[office]),
        campaigns=_campaign_entries(office, day, surveys, tz),
        starts=pack_times(sorted(starts)),
        ends=pack_times(sorted(ends)),
        net=len(starts) - len(ends),
        n_facts=len(unique),
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
        b = bucket_of(r.bucket)
        acc.buckets[(office, period_label(day, query.period))].merge(b)
        acc.totals[office].merge(b)
        for e in r.campaigns:
            sent_day = date.fromisoformat(e["sent_day"]) if e.get("sent_day") else None
            if e["by"] == "a" and sent_day is not None and query.start <= sent_day <= query.end:
                continue  # counted with the day it was sent
            c = acc.campaigns.setdefault(
                (office, e["campaign"]), {"sent": 0, "answered": 0, "axes": {a: [] for a in AXES}, "nps": []}
            )
            c["sent"] += int(e["sent"])
            c["answered"] += int(e["answered"])
            for axis, histogram in e["axes"].items():
                c["axes"].setdefault(axis, []).extend(_expand(histogram))
            c["nps"].extend(_expand(e["nps"]))
    for office in query.offices:
        ordered = sorted(nets[office].items())

        def open_at_end(last: date, ordered: list[tuple[date, int]] = ordered) -> int:
            return sum(n for d, n in ordered if d <= last)

        for label, _, last in acc.spans:
            acc.buckets[(office, label)].backlog = open_at_end(last)
        acc.totals[office].backlog = open_at_end(query.end)
    return acc.result()


def open_now(now: datetime, net_before_today: int, today: Rollup | None) -> int:
    """Requests open at ``now``: the net of the days before today plus today's starts and ends
    up to ``now`` (an interval is open from its start, inclusive, to its end, exclusive)."""
    if today is None:
        return net_before_today
    starts, ends = unpack_times(today.starts), unpack_times(today.ends)
    return net_before_today + sum(1 for s in starts if s <= now) - sum(1 for e in ends if e <= now)
