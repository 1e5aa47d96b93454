"""Where analytics keeps its events and facts: MongoDB (and FerretDB 1.24) or memory (tests).

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

import copy
from collections.abc import Iterable, Sequence
from typing import Protocol

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.analytics.domain.facts import Doc
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


class FactStore(Protocol):
    """The port the handlers use; ``MongoFactStore`` and ``MemoryFactStore`` implement it."""

    async def add_events(self, docs: Sequence[Doc]) -> set[str]:
        """Store events not stored yet; return the ids of those already stored."""
        ...

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[Doc]]:
        """Every stored event of each key."""
        ...

    async def write_facts(self, facts: Sequence[Doc]) -> None:
        """Replace (or create) these facts."""
        ...

    async def stale(self, keys: Iterable[str]) -> list[str]:
        """Keys whose stored fact counts fewer events than are stored."""
        ...

    async def facts(self, offices: Sequence[str]) -> list[Doc]:
        """Every fact of these offices."""
        ...

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The ``days`` stored with each existing fact of these keys."""
        ...

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        """Record that fact ``key`` touches office-day ``day`` for each (day, key)."""
        ...

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        """The fact keys recorded for each office-day."""
        ...

    async def facts_by_key(self, keys: Iterable[str]) -> list[Doc]:
        """The facts of these keys."""
        ...

    async def opened_by(self, event_ids: Iterable[str]) -> list[Doc]:
        """Request facts whose ``opened_event`` is one of these ids."""
        ...

    async def acknowledging(self, event_ids: Iterable[str]) -> list[Doc]:
        """Notification facts whose ``cause_id`` is one of these ids."""
        ...

    async def alerts(self, offices: Sequence[str]) -> list[Doc]:
        """Every detractor-alert fact of these offices."""
        ...

    async def mark_dirty(self, markers: Sequence[Doc]) -> None:
        """Replace (or create) these markers (``_id``, ``office``, ``gen``)."""
        ...

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        """``gen`` of every marker of these offices, by office-day."""
        ...

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        """``gen`` of the markers of these office-days."""
        ...

    async def write_rollups(self, rollups: Sequence[Doc]) -> None:
        """Replace (or create) these rollups, then their nets."""
        ...

    async def rollups(self, days: Iterable[str]) -> list[Doc]:
        """The stored rollups of these office-days."""
        ...

    async def nets(self, offices: Sequence[str]) -> list[Doc]:
        """Every stored net (``_id``, ``office``, ``day``, ``net``, ``gen``) of these offices."""
        ...


class MongoFactStore:
    """``FactStore`` on MongoDB / FerretDB 1.24 (only inserts, deletes and equality reads)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.events = db[EVENTS]
        self.facts_collection = db[FACTS]
        self.fact_days = db[FACT_DAYS]
        self.dirty_collection = db[DIRTY]
        self.rollups_collection = db[ROLLUPS]
        self.nets_collection = db[NETS]

    async def add_events(self, docs: Sequence[Doc]) -> set[str]:
        known = await insert_many_once(self.events, docs)
        return {str(docs[i]["_id"]) for i in known}

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[Doc]]:
        found: dict[str, list[Doc]] = {k: [] for k in keys}
        for doc in await _find_in(self.events, "key", found):
            found.setdefault(str(doc["key"]), []).append(doc)
        return found

    async def write_facts(self, facts: Sequence[Doc]) -> None:
        if not facts:
            return
        await self.facts_collection.delete_many({"_id": {"$in": [f["_id"] for f in facts]}})
        # another instance may insert first: ``stale`` decides whether to compute again
        await insert_many_once(self.facts_collection, [dict(f) for f in facts])

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

    async def facts(self, offices: Sequence[str]) -> list[Doc]:
        # one read for every office asked (the office index answers the $in)
        return await _find_in(self.facts_collection, "office", offices)

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        docs = await _find_in(self.facts_collection, "_id", keys, {"days": 1})
        return {str(d["_id"]): list(d.get("days") or ()) for d in docs}

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        docs = [{"_id": f"{day}|{key}", "day": day, "fact": key} for day, key in dict.fromkeys(members)]
        await insert_many_once(self.fact_days, docs)

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {d: [] for d in days}
        for doc in await _find_in(self.fact_days, "day", found):
            found.setdefault(str(doc["day"]), []).append(str(doc["fact"]))
        return found

    async def facts_by_key(self, keys: Iterable[str]) -> list[Doc]:
        return await _find_in(self.facts_collection, "_id", keys)

    async def opened_by(self, event_ids: Iterable[str]) -> list[Doc]:
        return await _find_in(self.facts_collection, "opened_event", event_ids)

    async def acknowledging(self, event_ids: Iterable[str]) -> list[Doc]:
        return await _find_in(self.facts_collection, "cause_id", event_ids)

    async def alerts(self, offices: Sequence[str]) -> list[Doc]:
        wanted = list(dict.fromkeys(offices))
        if not wanted:
            return []
        query: Document = {"kind": "alert", "office": {"$in": wanted}}
        return [doc async for doc in self.facts_collection.find(query)]

    async def mark_dirty(self, markers: Sequence[Doc]) -> None:
        if not markers:
            return
        ops = [ReplaceOne({"_id": m["_id"]}, dict(m), upsert=True) for m in markers]
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

    async def write_rollups(self, rollups: Sequence[Doc]) -> None:
        if not rollups:
            return
        await self.rollups_collection.bulk_write(
            [ReplaceOne({"_id": r["_id"]}, dict(r), upsert=True) for r in rollups], ordered=False
        )
        await self.nets_collection.bulk_write(
            [ReplaceOne({"_id": r["_id"]}, _net(r), upsert=True) for r in rollups], ordered=False
        )

    async def rollups(self, days: Iterable[str]) -> list[Doc]:
        return await _find_in(self.rollups_collection, "_id", days)

    async def nets(self, offices: Sequence[str]) -> list[Doc]:
        return await _find_in(self.nets_collection, "office", offices)


def _net(rollup: Doc) -> Doc:
    return {k: rollup[k] for k in ("_id", "office", "day", "net", "gen")}


async def _find_in(
    collection: AsyncCollection[Document], field: str, values: Iterable[str], projection: Document | None = None
) -> list[Doc]:
    """Every document whose ``field`` is one of ``values`` (none asked: no read)."""
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return []
    return [doc async for doc in collection.find({field: {"$in": wanted}}, projection)]


class MemoryFactStore:
    """``FactStore`` in memory, for unit tests."""

    def __init__(self) -> None:
        self.events: dict[str, Doc] = {}
        self.fact_docs: dict[str, Doc] = {}
        self.fact_days: set[tuple[str, str]] = set()
        self.markers: dict[str, Doc] = {}
        self.rollup_docs: dict[str, Doc] = {}

    async def add_events(self, docs: Sequence[Doc]) -> set[str]:
        duplicates: set[str] = set()
        for doc in docs:
            if doc["_id"] in self.events:
                duplicates.add(doc["_id"])
            else:
                self.events[doc["_id"]] = copy.deepcopy(doc)
        return duplicates

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[Doc]]:
        wanted = set(keys)
        found: dict[str, list[Doc]] = {k: [] for k in wanted}
        for doc in self.events.values():
            if doc["key"] in wanted:
                found[doc["key"]].append(copy.deepcopy(doc))
        return found

    async def write_facts(self, facts: Sequence[Doc]) -> None:
        for fact in facts:
            self.fact_docs[fact["_id"]] = copy.deepcopy(dict(fact))

    async def stale(self, keys: Iterable[str]) -> list[str]:
        counts: dict[str, int] = {}
        for doc in self.events.values():
            counts[doc["key"]] = counts.get(doc["key"], 0) + 1
        return [k for k in dict.fromkeys(keys) if self.fact_docs.get(k, {}).get("n_events") != counts.get(k, 0)]

    async def facts(self, offices: Sequence[str]) -> list[Doc]:
        wanted = set(offices)
        return [copy.deepcopy(f) for f in self.fact_docs.values() if f["office"] in wanted]

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        return {k: list(self.fact_docs[k].get("days") or ()) for k in keys if k in self.fact_docs}

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        self.fact_days.update(members)

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {d: [] for d in days}
        for day, key in self.fact_days:
            if day in found:
                found[day].append(key)
        return found

    async def facts_by_key(self, keys: Iterable[str]) -> list[Doc]:
        return [copy.deepcopy(self.fact_docs[k]) for k in dict.fromkeys(keys) if k in self.fact_docs]

    async def opened_by(self, event_ids: Iterable[str]) -> list[Doc]:
        wanted = set(event_ids)
        return [copy.deepcopy(f) for f in self.fact_docs.values() if f.get("opened_event") in wanted]

    async def acknowledging(self, event_ids: Iterable[str]) -> list[Doc]:
        wanted = set(event_ids)
        return [copy.deepcopy(f) for f in self.fact_docs.values() if f.get("cause_id") in wanted]

    async def alerts(self, offices: Sequence[str]) -> list[Doc]:
        return [f for f in await self.facts(offices) if f.get("kind") == "alert"]

    async def mark_dirty(self, markers: Sequence[Doc]) -> None:
        for m in markers:
            self.markers[m["_id"]] = dict(m)

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        wanted = set(offices)
        return {k: m["gen"] for k, m in self.markers.items() if m["office"] in wanted}

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        return {d: self.markers[d]["gen"] for d in days if d in self.markers}

    async def write_rollups(self, rollups: Sequence[Doc]) -> None:
        for r in rollups:
            self.rollup_docs[r["_id"]] = copy.deepcopy(dict(r))

    async def rollups(self, days: Iterable[str]) -> list[Doc]:
        return [copy.deepcopy(self.rollup_docs[d]) for d in dict.fromkeys(days) if d in self.rollup_docs]

    async def nets(self, offices: Sequence[str]) -> list[Doc]:
        wanted = set(offices)
        return [_net(r) for r in self.rollup_docs.values() if r["office"] in wanted]
