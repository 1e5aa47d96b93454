"""Where analytics keeps its events, facts and rollups: MongoDB (and FerretDB 1.24). The only
module that knows their documents and collections; the in-memory twin is ``store_memory``.

``events``: every kept event once, ``_id`` = the event id (a duplicate insert is a no-op), with
the key of the fact it belongs to. ``facts``: one document per key, computed from all the key's
events and replaced as a whole (delete + insert: FerretDB 1.24's conditional updates are not
atomic), with the number of
events it was computed from, so a projection written by a concurrent instance from fewer events
is detected and computed again.

Daily rollups (``services.analytics.domain.rollups``), all keyed by strings the store's indexes
answer (``_id`` or an indexed string field, equality or ``$in``):

``fact_days``: which facts touch which office-day (``_id`` = ``office|day|fact key``, ``day`` =
``office|day``), written *before* the fact, never removed (a membership a fact no longer has only
costs a read: a rollup takes from each fact what falls on its day). ``dirty``: one marker per
office-day (``_id`` = ``office|day``) with a fresh random ``gen`` each time a batch changes a fact
of that day, written *after* the facts; only the consumer writes it. ``rollups``: the day's rollup
with the ``gen`` of the marker read before its facts were (and its contractor share: one entry
per contractor, the openings of the day); ``nets``: the same day's open-interval
balance (a small document, read for every earlier day by the backlog). A rollup or net whose
``gen`` differs from the marker's is stale and computed again, so a rollup written late by a
concurrent instance from older facts is detected rather than trusted.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.analytics.domain.contractors import Cell, ContractorDay
from services.analytics.domain.indicators import URGENCIES, Bucket
from services.analytics.domain.records import (
    AlertFact,
    Appointment,
    CampaignAnswer,
    Fact,
    Interval,
    Missed,
    Net,
    NotificationFact,
    Rating,
    RequestFact,
    StoredEvent,
    SurveyFact,
    split_day_key,
)
from services.analytics.domain.rollups import CampaignEntry, Rollup
from shared.store import Document, Index, duplicate_positions, find_in, insert_many_once, upsert_bulk

EVENTS = "events"
FACTS = "facts"
FACT_DAYS = "fact_days"
DIRTY = "dirty"
ROLLUPS = "rollups"
NETS = "nets"
INDEXES = (
    Index(EVENTS, [("key", 1)]),
    Index(FACTS, [("office", 1)]),
    Index(FACTS, [("cause_id", 1)]),
    Index(FACTS, [("opened_event", 1)]),
    Index(FACTS, [("complaint", 1)]),
    Index(FACTS, [("request_id", 1)]),
    Index(FACT_DAYS, [("day", 1)]),
    Index(DIRTY, [("office", 1)]),
    Index(NETS, [("office", 1)]),
)


def event_document(event: StoredEvent) -> Document:
    return {
        "_id": event.id,
        "key": event.key,
        "office": event.office,
        "type": event.type,
        "time": event.time,
        "d": dict(event.data),
    }


def event_of(doc: Document) -> StoredEvent:
    return StoredEvent(
        id=str(doc["_id"]),
        key=str(doc["key"]),
        office=str(doc["office"]),
        type=str(doc["type"]),
        time=doc["time"],
        data=doc["d"],
    )


def _request_fields(f: RequestFact) -> Document:
    opened: Document = {}
    if not f.placeholder:  # a placeholder's document has no opening fields
        opened = {
            "opened_at": f.opened_at,
            "opened_event": f.opened_event,
            "category": f.category,
            "urgency": f.urgency,
            "channel": f.channel,
        }
    return {
        "placeholder": f.placeholder,
        **opened,
        "first_response_at": f.first_response_at,
        "first_response_seconds": f.first_response_seconds,
        "repair_done_at": f.repair_done_at,
        "repair_seconds": f.repair_seconds,
        "within_target": f.within_target,
        "open_intervals": [{"s": i.s, "e": i.e} for i in f.open_intervals],
        "first_closed_at": f.first_closed_at,
        "resolution": f.resolution,
        "reopened": f.reopened,
        "assignees": f.assignees,
        "appointments": [{"id": a.id, "at": a.at} for a in f.appointments],
        "missed": [{"at": m.at, "by": m.by} for m in f.missed],
        "breaches": dict(f.breaches),
        "transfer_in_time": f.transfer_in_time,
        "contractor": f.contractor,
        "contractor_name": f.contractor_name,
        "first_visit": f.first_visit,
        "housing": f.housing,
        "complaint": f.complaint,
        "complaint_answered_in_time": f.complaint_answered_in_time,
    }


def _survey_fields(f: SurveyFact) -> Document:
    rating, answer = f.rating, f.campaign_answer
    return {
        "sent_at": f.sent_at,
        "origin": f.origin,
        "campaign_id": f.campaign_id,
        "rating": (
            {"at": rating.at, "score": rating.score, "nps": rating.nps, "channel": rating.channel} if rating else None
        ),
        "campaign_answer": {"at": answer.at, "axes": dict(answer.axes), "nps": answer.nps} if answer else None,
        "request_id": f.request_id,
    }


def _kind_fields(fact: Fact) -> Document:
    if isinstance(fact, RequestFact):
        return _request_fields(fact)
    if isinstance(fact, SurveyFact):
        return _survey_fields(fact)
    if isinstance(fact, AlertFact):
        return {
            "raised_at": fact.raised_at,
            "score": fact.score,
            "due_at": fact.due_at,
            "acknowledged_at": fact.acknowledged_at,
            "within_deadline": fact.within_deadline,
            "overdue": fact.overdue,
        }
    return {
        "first_at": fact.first_at,
        "channel": fact.channel,
        "template": fact.template,
        "recipient": fact.recipient,
        "cause_id": fact.cause_id,
        "outcome": fact.outcome,
        "outcomes": list(fact.outcomes),
        "sms_segments": fact.sms_segments,
    }


def fact_document(fact: Fact) -> Document:
    return {
        "_id": fact.key,
        "office": fact.office,
        "n_events": fact.n_events,
        "kind": fact.kind,
        **_kind_fields(fact),
        "days": list(fact.days),
    }


def _request_of(doc: Document, base: Document) -> RequestFact:
    return RequestFact(
        **base,
        placeholder=bool(doc["placeholder"]),
        opened_at=doc.get("opened_at"),
        opened_event=doc.get("opened_event"),
        category=doc.get("category"),
        urgency=doc.get("urgency"),
        channel=doc.get("channel"),
        first_response_at=doc.get("first_response_at"),
        first_response_seconds=doc.get("first_response_seconds"),
        repair_done_at=doc.get("repair_done_at"),
        repair_seconds=doc.get("repair_seconds"),
        within_target=doc.get("within_target"),
        open_intervals=tuple(Interval(i["s"], i["e"]) for i in doc.get("open_intervals") or ()),
        first_closed_at=doc.get("first_closed_at"),
        resolution=doc.get("resolution"),
        reopened=bool(doc.get("reopened")),
        assignees=int(doc.get("assignees") or 0),
        appointments=tuple(Appointment(a["id"], a["at"]) for a in doc.get("appointments") or ()),
        missed=tuple(Missed(m["at"], m["by"]) for m in doc.get("missed") or ()),
        breaches=dict(doc.get("breaches") or {}),
        transfer_in_time=doc.get("transfer_in_time"),
        contractor=doc.get("contractor"),
        contractor_name=doc.get("contractor_name"),
        first_visit=doc.get("first_visit"),
        housing=doc.get("housing"),
        complaint=bool(doc.get("complaint")),
        complaint_answered_in_time=doc.get("complaint_answered_in_time"),
    )


def _survey_of(doc: Document, base: Document) -> SurveyFact:
    rating, answer = doc.get("rating"), doc.get("campaign_answer")
    return SurveyFact(
        **base,
        sent_at=doc.get("sent_at"),
        origin=str(doc["origin"]),
        campaign_id=doc.get("campaign_id"),
        rating=Rating(rating["at"], rating["score"], rating.get("nps"), rating.get("channel")) if rating else None,
        campaign_answer=CampaignAnswer(answer["at"], answer["axes"], answer.get("nps")) if answer else None,
        request_id=doc.get("request_id"),
    )


def fact_of(doc: Document) -> Fact:
    base: Document = {
        "key": str(doc["_id"]),
        "office": str(doc["office"]),
        "n_events": int(doc["n_events"]),
        "days": tuple(doc.get("days") or ()),
    }
    kind = doc["kind"]
    if kind == "request":
        return _request_of(doc, base)
    if kind == "survey":
        return _survey_of(doc, base)
    if kind == "alert":
        return AlertFact(
            **base,
            raised_at=doc["raised_at"],
            score=doc.get("score"),
            due_at=doc.get("due_at"),
            acknowledged_at=doc.get("acknowledged_at"),
            within_deadline=doc.get("within_deadline"),
            overdue=bool(doc.get("overdue")),
        )
    return NotificationFact(
        **base,
        first_at=doc["first_at"],
        channel=doc.get("channel"),
        template=doc.get("template"),
        recipient=doc.get("recipient"),
        cause_id=doc.get("cause_id"),
        outcome=str(doc["outcome"]),
        outcomes=tuple(doc.get("outcomes") or ()),
        sms_segments=int(doc.get("sms_segments") or 0),
    )


# Value lists (durations, instants) are stored packed in one binary field: the store decodes a
# document value by value, so a day's hundreds of values cost one value instead of hundreds.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _histogram_document(histogram: Mapping[int, int]) -> Document:
    return {str(k): v for k, v in histogram.items()}


def _histogram_of(doc: Mapping[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in doc.items()}


def _expand(histogram: Mapping[str, Any]) -> list[int]:
    return [value for value, n in sorted(_histogram_of(histogram).items()) for _ in range(n)]


def bucket_document(b: Bucket) -> Document:
    """A ``Bucket`` as stored in its rollup (no backlog: it is cumulative, see ``net``)."""
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
        "scores": _histogram_document(Counter(b.scores)),
        "nps": _histogram_document(Counter(b.nps)),
        "surveys_sent": b.surveys_sent,
        "surveys_answered": b.surveys_answered,
        "alerts": b.alerts,
        "loop_due": b.loop_due,
        "loop_within": b.loop_within,
        "notifications": {ch: dict(c) for ch, c in b.notifications.items()},
        "sms_segments": b.sms_segments,
        "transfer": list(b.transfer),
        "tracked": b.tracked,
        "in_person": dict(b.in_person),
    }


def bucket_of(doc: Mapping[str, Any]) -> Bucket:
    """The ``Bucket`` of a stored rollup (value lists ascending where stored as histograms)."""
    b = Bucket()
    for name in ("opened", "digital", "acknowledged", "reassigned", "closed", "reopened"):
        setattr(b, name, int(doc[name]))
    for name in ("appointments", "surveys_sent", "surveys_answered", "alerts", "sms_segments"):
        setattr(b, name, int(doc[name]))
    for name in ("loop_due", "loop_within"):  # absent from rollups written before the closed loop
        setattr(b, name, int(doc.get(name, 0)))
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
    # rollups written before these counts existed have none (recomputed when their day is dirty)
    b.tracked = int(doc.get("tracked", 0))
    b.in_person = Counter({k: int(v) for k, v in (doc.get("in_person") or {}).items()})
    return b


def campaign_document(e: CampaignEntry) -> Document:
    return {
        "campaign": e.campaign,
        "by": e.by,
        "sent_day": e.sent_day.isoformat() if e.sent_day else None,
        "sent": e.sent,
        "answered": e.answered,
        "axes": {axis: _histogram_document(h) for axis, h in e.axes.items()},
        "nps": _histogram_document(e.nps),
    }


def campaign_of(doc: Mapping[str, Any]) -> CampaignEntry:
    return CampaignEntry(
        campaign=str(doc["campaign"]),
        by=doc["by"],
        sent_day=date.fromisoformat(doc["sent_day"]) if doc.get("sent_day") else None,
        sent=int(doc["sent"]),
        answered=int(doc["answered"]),
        axes={axis: _histogram_of(h) for axis, h in doc["axes"].items()},
        nps=_histogram_of(doc["nps"]),
    )


def _pairs(values: Sequence[tuple[str, str, datetime]]) -> Document:
    """(home digest, category, instant) triples as two values: the pairs joined in one string
    (digests are hex, categories enum values: neither holds a space or a newline) and the instants
    packed."""
    return {"k": "\n".join(f"{h} {c}" for h, c, _ in values), "t": pack_times([t for _, _, t in values])}


def _pairs_of(doc: Mapping[str, Any]) -> list[tuple[str, str, datetime]]:
    keys = [tuple(line.split(" ", 1)) for line in doc["k"].split("\n")] if doc["k"] else []
    return [(h, c, t) for (h, c), t in zip(keys, unpack_times(doc["t"]), strict=True)]


def cell_document(contractor: str, cell: Cell) -> Document:
    """One contractor's cell of a day (a list entry: contractor ids and names are not field names)."""
    return {
        "id": contractor,
        # FerretDB stores no nested array: a name and its count as a small document
        "names": [{"name": name, "n": n} for name, n in sorted(cell.names.items())],
        "repairs": cell.repairs,
        "within": {k: list(v) for k, v in cell.within.items()},
        "times": pack_floats(cell.times),
        "first_visit": list(cell.first_visit),
        "missed": cell.missed,
        "repeats": cell.repeats,
        "scores": _histogram_document(Counter(cell.scores)),
        "candidates": _pairs(cell.candidates),
    }


def cell_of(doc: Mapping[str, Any]) -> tuple[str, Cell]:
    return str(doc["id"]), Cell(
        names=Counter({str(e["name"]): int(e["n"]) for e in doc["names"]}),
        repairs=int(doc["repairs"]),
        within={k: [int(x) for x in v] for k, v in doc["within"].items()},
        times=unpack_floats(doc["times"]),
        first_visit=[int(x) for x in doc["first_visit"]],
        missed=int(doc["missed"]),
        repeats=int(doc["repeats"]),
        scores=_expand(doc["scores"]),
        candidates=_pairs_of(doc["candidates"]),
    )


def contractor_day_document(share: ContractorDay) -> Document:
    return {"cells": [cell_document(c, cell) for c, cell in share.cells.items()], "openings": _pairs(share.openings)}


def contractor_day_of(doc: Mapping[str, Any]) -> ContractorDay:
    return ContractorDay(dict(cell_of(c) for c in doc["cells"]), tuple(_pairs_of(doc["openings"])))


def rollup_document(rollup: Rollup) -> Document:
    return {
        "_id": rollup.key,
        "office": rollup.office,
        "day": rollup.day.isoformat(),
        "bucket": bucket_document(rollup.bucket),
        "campaigns": [campaign_document(e) for e in rollup.campaigns],
        "starts": pack_times(rollup.starts),
        "ends": pack_times(rollup.ends),
        "net": rollup.net,
        "n_facts": rollup.n_facts,
        "gen": rollup.gen,
        "contractors": contractor_day_document(rollup.contractors),
    }


def rollup_of(doc: Document) -> Rollup:
    # a rollup written before contractor shares were kept is stale (no generation): computed again
    share = doc.get("contractors")
    return Rollup(
        office=str(doc["office"]),
        day=date.fromisoformat(doc["day"]),
        bucket=bucket_of(doc["bucket"]),
        campaigns=[campaign_of(e) for e in doc.get("campaigns") or ()],
        starts=tuple(unpack_times(doc["starts"])),
        ends=tuple(unpack_times(doc["ends"])),
        net=int(doc["net"]),
        n_facts=int(doc["n_facts"]),
        gen=doc.get("gen") if share is not None else None,
        contractors=contractor_day_of(share) if share is not None else ContractorDay(),
    )


def net_document(net: Net) -> Document:
    return {"_id": net.key, "office": net.office, "day": net.day.isoformat(), "net": net.net, "gen": net.gen}


def net_of(doc: Document) -> Net:
    return Net(office=str(doc["office"]), day=date.fromisoformat(doc["day"]), net=int(doc["net"]), gen=doc.get("gen"))


def member_document(day: str, key: str) -> Document:
    return {"_id": f"{day}|{key}", "day": day, "fact": key}


def marker_document(day: str, gen: str) -> Document:
    return {"_id": day, "office": split_day_key(day)[0], "gen": gen}


class MongoAnalyticsStore:
    """``AnalyticsStore`` on MongoDB / FerretDB 1.24 (only inserts, deletes and equality reads)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.events = db[EVENTS]
        self.facts_collection = db[FACTS]
        self.fact_days = db[FACT_DAYS]
        self.dirty_collection = db[DIRTY]
        self.rollups_collection = db[ROLLUPS]
        self.nets_collection = db[NETS]

    async def add_events(self, events: Sequence[StoredEvent]) -> set[str]:
        docs = [event_document(e) for e in events]
        known = await insert_many_once(self.events, docs)
        return {str(docs[i]["_id"]) for i in known}

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {k: [] for k in keys}
        for doc in await find_in(self.events, "key", found):
            found.setdefault(str(doc["key"]), []).append(event_of(doc))
        return found

    async def write_facts(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        await self.facts_collection.delete_many({"_id": {"$in": [f.key for f in facts]}})
        # another instance may insert first: ``stale`` decides whether to compute again
        await insert_many_once(self.facts_collection, [fact_document(f) for f in facts])

    async def stale(self, keys: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        counts: dict[str, int] = {}
        pipeline: list[Document] = [
            {"$match": {"key": {"$in": wanted}}},
            {"$group": {"_id": "$key", "n": {"$sum": 1}}},
        ]
        async for row in await self.events.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["n"])
        written = {
            str(d["_id"]): int(d.get("n_events", -1))
            for d in await find_in(self.facts_collection, "_id", wanted, {"n_events": 1})
        }
        return [k for k in wanted if written.get(k) != counts.get(k, 0)]

    async def facts(self, offices: Sequence[str]) -> list[Fact]:
        # one read for every office asked (the office index answers the $in)
        return [fact_of(d) for d in await find_in(self.facts_collection, "office", offices)]

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        docs = await find_in(self.facts_collection, "_id", keys, {"days": 1})
        return {str(d["_id"]): list(d.get("days") or ()) for d in docs}

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        docs = [member_document(day, key) for day, key in dict.fromkeys(members)]
        await insert_many_once(self.fact_days, docs)

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {d: [] for d in days}
        for doc in await find_in(self.fact_days, "day", found):
            found.setdefault(str(doc["day"]), []).append(str(doc["fact"]))
        return found

    async def facts_by_key(self, keys: Iterable[str]) -> list[Fact]:
        return [fact_of(d) for d in await find_in(self.facts_collection, "_id", keys)]

    async def opened_by(self, event_ids: Iterable[str]) -> list[RequestFact]:
        found = [fact_of(d) for d in await find_in(self.facts_collection, "opened_event", event_ids)]
        return [f for f in found if isinstance(f, RequestFact)]

    async def acknowledging(self, event_ids: Iterable[str]) -> list[NotificationFact]:
        found = [fact_of(d) for d in await find_in(self.facts_collection, "cause_id", event_ids)]
        return [f for f in found if isinstance(f, NotificationFact)]

    async def surveys_about(self, requests: Iterable[tuple[str, str]]) -> list[SurveyFact]:
        wanted = set(requests)
        found = [fact_of(d) for d in await find_in(self.facts_collection, "request_id", {r for _, r in wanted})]
        return [
            f
            for f in found
            if isinstance(f, SurveyFact) and f.request_id is not None and (f.office, f.request_id) in wanted
        ]

    async def complaints(self, offices: Sequence[str], start: datetime, end: datetime) -> list[RequestFact]:
        wanted = list(dict.fromkeys(offices))
        if not wanted:
            return []
        query: Document = {"complaint": True, "office": {"$in": wanted}}
        found = [fact_of(doc) async for doc in self.facts_collection.find(query)]
        # the instants are compared here (the index answers the equality; a range on FerretDB is not)
        return [
            f for f in found if isinstance(f, RequestFact) and f.opened_at is not None and start <= f.opened_at < end
        ]

    async def alerts(self, offices: Sequence[str]) -> list[AlertFact]:
        wanted = list(dict.fromkeys(offices))
        if not wanted:
            return []
        query: Document = {"kind": "alert", "office": {"$in": wanted}}
        found = [fact_of(doc) async for doc in self.facts_collection.find(query)]
        return [f for f in found if isinstance(f, AlertFact)]

    async def mark_dirty(self, days: Sequence[str], gen: str) -> None:
        if not days:
            return
        ops = [ReplaceOne({"_id": day}, marker_document(day, gen), upsert=True) for day in days]
        try:
            await upsert_bulk(self.dirty_collection, ops)
        except BulkWriteError as exc:
            # two upserts of the same new marker at once: the loser replaces the winner's
            failed = duplicate_positions(exc)
            await upsert_bulk(self.dirty_collection, [ops[i] for i in sorted(failed)])

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        return {str(d["_id"]): str(d["gen"]) for d in await find_in(self.dirty_collection, "office", offices)}

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        return {str(d["_id"]): str(d["gen"]) for d in await find_in(self.dirty_collection, "_id", days)}

    async def write_rollups(self, rollups: Sequence[Rollup]) -> None:
        if not rollups:
            return
        await upsert_bulk(
            self.rollups_collection, [ReplaceOne({"_id": r.key}, rollup_document(r), upsert=True) for r in rollups]
        )
        await upsert_bulk(
            self.nets_collection, [ReplaceOne({"_id": r.key}, net_document(r.as_net()), upsert=True) for r in rollups]
        )

    async def rollups(self, days: Iterable[str]) -> list[Rollup]:
        return [rollup_of(d) for d in await find_in(self.rollups_collection, "_id", days)]

    async def nets(self, offices: Sequence[str]) -> list[Net]:
        return [net_of(d) for d in await find_in(self.nets_collection, "office", offices)]
