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
with the ``gen`` of the marker read before its facts were; ``nets``: the same day's open-interval
balance (a small document, read for every earlier day by the backlog). A rollup or net whose
``gen`` differs from the marker's is stale and computed again, so a rollup written late by a
concurrent instance from older facts is detected rather than trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.analytics.domain.records import Fact, Net, Rollup, StoredEvent, split_day_key
from shared.store import Document, Index, duplicate_positions, insert_many_once

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
    Index(FACT_DAYS, [("day", 1)]),
    Index(DIRTY, [("office", 1)]),
    Index(NETS, [("office", 1)]),
)
#: the fields of a fact document that are not folded values
FACT_HEADER = ("_id", "office", "n_events", "kind", "days")


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


def fact_document(fact: Fact) -> Document:
    return {
        "_id": fact.key,
        "office": fact.office,
        "n_events": fact.n_events,
        "kind": fact.kind,
        **fact.values,
        "days": list(fact.days),
    }


def fact_of(doc: Document) -> Fact:
    return Fact(
        key=str(doc["_id"]),
        office=str(doc["office"]),
        kind=doc["kind"],
        n_events=int(doc["n_events"]),
        values={k: v for k, v in doc.items() if k not in FACT_HEADER},
        days=tuple(doc.get("days") or ()),
    )


def rollup_document(rollup: Rollup) -> Document:
    return {
        "_id": rollup.key,
        "office": rollup.office,
        "day": rollup.day.isoformat(),
        "bucket": dict(rollup.bucket),
        "campaigns": [dict(e) for e in rollup.campaigns],
        "starts": rollup.starts,
        "ends": rollup.ends,
        "net": rollup.net,
        "n_facts": rollup.n_facts,
        "gen": rollup.gen,
    }


def rollup_of(doc: Document) -> Rollup:
    return Rollup(
        office=str(doc["office"]),
        day=date.fromisoformat(doc["day"]),
        bucket=doc["bucket"],
        campaigns=list(doc.get("campaigns") or ()),
        starts=bytes(doc["starts"]),
        ends=bytes(doc["ends"]),
        net=int(doc["net"]),
        n_facts=int(doc["n_facts"]),
        gen=doc.get("gen"),
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
        for doc in await _find_in(self.events, "key", found):
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
            for d in await _find_in(self.facts_collection, "_id", wanted, {"n_events": 1})
        }
        return [k for k in wanted if written.get(k) != counts.get(k, 0)]

    async def facts(self, offices: Sequence[str]) -> list[Fact]:
        # one read for every office asked (the office index answers the $in)
        return [fact_of(d) for d in await _find_in(self.facts_collection, "office", offices)]

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        docs = await _find_in(self.facts_collection, "_id", keys, {"days": 1})
        return {str(d["_id"]): list(d.get("days") or ()) for d in docs}

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        docs = [member_document(day, key) for day, key in dict.fromkeys(members)]
        await insert_many_once(self.fact_days, docs)

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {d: [] for d in days}
        for doc in await _find_in(self.fact_days, "day", found):
            found.setdefault(str(doc["day"]), []).append(str(doc["fact"]))
        return found

    async def facts_by_key(self, keys: Iterable[str]) -> list[Fact]:
        return [fact_of(d) for d in await _find_in(self.facts_collection, "_id", keys)]

    async def opened_by(self, event_ids: Iterable[str]) -> list[Fact]:
        return [fact_of(d) for d in await _find_in(self.facts_collection, "opened_event", event_ids)]

    async def acknowledging(self, event_ids: Iterable[str]) -> list[Fact]:
        return [fact_of(d) for d in await _find_in(self.facts_collection, "cause_id", event_ids)]

    async def alerts(self, offices: Sequence[str]) -> list[Fact]:
        wanted = list(dict.fromkeys(offices))
        if not wanted:
            return []
        query: Document = {"kind": "alert", "office": {"$in": wanted}}
        return [fact_of(doc) async for doc in self.facts_collection.find(query)]

    async def mark_dirty(self, days: Sequence[str], gen: str) -> None:
        if not days:
            return
        ops = [ReplaceOne({"_id": day}, marker_document(day, gen), upsert=True) for day in days]
        try:
            await self.dirty_collection.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            # two upserts of the same new marker at once: the loser replaces the winner's
            failed = duplicate_positions(exc)
            await self.dirty_collection.bulk_write([ops[i] for i in sorted(failed)], ordered=False)

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        return {str(d["_id"]): str(d["gen"]) for d in await _find_in(self.dirty_collection, "office", offices)}

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        return {str(d["_id"]): str(d["gen"]) for d in await _find_in(self.dirty_collection, "_id", days)}

    async def write_rollups(self, rollups: Sequence[Rollup]) -> None:
        if not rollups:
            return
        await self.rollups_collection.bulk_write(
            [ReplaceOne({"_id": r.key}, rollup_document(r), upsert=True) for r in rollups], ordered=False
        )
        await self.nets_collection.bulk_write(
            [ReplaceOne({"_id": r.key}, net_document(r.as_net()), upsert=True) for r in rollups], ordered=False
        )

    async def rollups(self, days: Iterable[str]) -> list[Rollup]:
        return [rollup_of(d) for d in await _find_in(self.rollups_collection, "_id", days)]

    async def nets(self, offices: Sequence[str]) -> list[Net]:
        return [net_of(d) for d in await _find_in(self.nets_collection, "office", offices)]


async def _find_in(
    collection: AsyncCollection[Document], field: str, values: Iterable[str], projection: Document | None = None
) -> list[Document]:
    """Every document whose ``field`` is one of ``values`` (none asked: no read)."""
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return []
    return [doc async for doc in collection.find({field: {"$in": wanted}}, projection)]
