"""Where analytics keeps its events and facts: MongoDB (and FerretDB 1.24) or memory (tests).

``events``: every kept event once, ``_id`` = the event id (a duplicate insert is a no-op), with
the key of the fact it belongs to. ``facts``: one document per key, computed from all the key's
events and replaced as a whole (delete + insert: FerretDB 1.24 on SQLite scans a collection for
every single-document update and its conditional updates are not atomic), with the number of
events it was computed from, so a projection written by a concurrent instance from fewer events
is detected and computed again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.analytics.domain.facts import Doc
from shared.store import Document, Index

EVENTS = "events"
FACTS = "facts"
DUPLICATE_KEY = 11000

INDEXES = (
    Index(EVENTS, [("key", 1)]),
    Index(FACTS, [("office", 1)]),
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


class MongoFactStore:
    """``FactStore`` on MongoDB / FerretDB 1.24 (only inserts, deletes and equality reads)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.events = db[EVENTS]
        self.facts_collection = db[FACTS]

    async def add_events(self, docs: Sequence[Doc]) -> set[str]:
        duplicates: set[str] = set()
        if not docs:
            return duplicates
        try:
            await self.events.insert_many(list(docs), ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", ()):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                duplicates.add(str(docs[error["index"]]["_id"]))
        return duplicates

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[Doc]]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Doc]] = {k: [] for k in wanted}
        if wanted:
            async for doc in self.events.find({"key": {"$in": wanted}}):
                found.setdefault(str(doc["key"]), []).append(doc)
        return found

    async def write_facts(self, facts: Sequence[Doc]) -> None:
        if not facts:
            return
        await self.facts_collection.delete_many({"_id": {"$in": [f["_id"] for f in facts]}})
        try:
            await self.facts_collection.insert_many([dict(f) for f in facts], ordered=False)
        except BulkWriteError as exc:
            # another instance inserted first: ``stale`` decides whether to compute again
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", ())):
                raise

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
        written: dict[str, int] = {}
        async for doc in self.facts_collection.find({"_id": {"$in": wanted}}, {"n_events": 1}):
            written[str(doc["_id"])] = int(doc.get("n_events", -1))
        return [k for k in wanted if written.get(k) != counts.get(k, 0)]

    async def facts(self, offices: Sequence[str]) -> list[Doc]:
        wanted = list(dict.fromkeys(offices))
        if not wanted:
            return []
        # one read for every office asked: FerretDB 1.24 on SQLite scans the collection for any
        # filter other than an ``_id`` equality, so one query per office would scan it once per office
        query: Document = {"office": wanted[0]} if len(wanted) == 1 else {"office": {"$in": wanted}}
        return [doc async for doc in self.facts_collection.find(query)]


class MemoryFactStore:
    """``FactStore`` in memory, for unit tests."""

    def __init__(self) -> None:
        self.events: dict[str, Doc] = {}
        self.fact_docs: dict[str, Doc] = {}

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
