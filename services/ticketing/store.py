"""MongoDB repositories of the ticketing service (run on MongoDB and FerretDB 1.24).

``request_events``: every known event of a request, once (unique per request and event id).
``requests``: one projection per (office, request_id) — state and clocks derived from all its
events — for lists, filters and the sweeper's ``next_check_at``. ``alerts``: one document per (office, request_id,
stage, kind), the unique key that makes each ``sla.*`` event exist once; it keeps the event to
publish and whether it was published.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.ticketing.domain import Fact
from shared.store import Document, Index, duplicate_positions, insert_many_once

REQUESTS = "requests"
EVENTS = "request_events"
ALERTS = "alerts"
ALERT_CLAIMS = "alert_claims"
SWEEPS = "sweeps"
SWEEP_STATE = "sla-sweeper"
#: FerretDB 1.24 stalls on one update command of 100 or more statements that match existing
#: documents (still so with the local index patch): a bulk of updates must stay below that
UPDATE_CHUNK = 50
#: width of a due slot: the sweeper finds what is due by equality on the slot (a string, which
#: the store answers from an index) rather than by a date range (which reads every projection)
SLOT = timedelta(minutes=1)
SLOT_FORMAT = "%Y%m%d%H%M"
#: slots re-read behind the last swept one, for clock skew between instances
SLOT_OVERLAP = 2
#: beyond this many slots since the last sweep (a long stop), one date-range read is cheaper
MAX_SLOTS = 1440
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES = (
    Index(REQUESTS, [("office", 1), ("request_id", 1)], unique=True),
    Index(EVENTS, [("request", 1)]),
    Index(REQUESTS, [("next_check_at", 1)]),
    Index(REQUESTS, [("due_slot", 1)]),
    Index(REQUESTS, [("office", 1), ("state", 1)]),
    Index(ALERTS, [("office", 1), ("request_id", 1), ("stage", 1), ("kind", 1)], unique=True),
    Index(ALERTS, [("published", 1)]),
    Index(ALERT_CLAIMS, [("alert", 1)]),
)


def request_key(office: str, request_id: str) -> str:
    return f"{office}|{request_id}"


def alert_key(office: str, request_id: str, stage: str, kind: str) -> str:
    return f"{office}|{request_id}|{stage}|{kind}"


@dataclass(frozen=True)
class AlertRecord:
    office: str
    request_id: str
    stage: str
    policy: str
    kind: str
    #: the CloudEvent to publish, as JSON text (stored so every retry publishes the same event)
    event: str

    @property
    def key(self) -> str:
        return alert_key(self.office, self.request_id, self.stage, self.kind)


@dataclass(frozen=True)
class RequestFilter:
    office: str | None = None
    state: str | None = None
    breached: bool | None = None
    category: str | None = None


def slot_start(moment: datetime) -> datetime:
    """The start of the due slot holding ``moment`` (UTC)."""
    utc = moment.astimezone(UTC)
    return EPOCH + ((utc - EPOCH) // SLOT) * SLOT


def slot_name(moment: datetime | None) -> str | None:
    """The due slot of ``moment`` as stored on a projection (None: nothing to check)."""
    return None if moment is None else slot_start(moment).strftime(SLOT_FORMAT)


@dataclass(frozen=True)
class DueBatch:
    """Projections due now, and the slot the sweeper may record as swept once they are handled."""

    docs: list[Document]
    #: the current slot, to record once ``docs`` are handled; None while more is due than one
    #: batch takes (the next tick reads the same slots again)
    swept_slot: str | None


class InvalidCursor(ValueError):
    pass


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key a cursor stands for; ``InvalidCursor`` for anything this API did not hand out."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", cursor):
            raise ValueError(cursor)
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor: not one this API returned") from None
    if "|" not in key:
        raise InvalidCursor("cursor: not one this API returned")
    return key


class MongoRequestRepository:
    """Request events (insert-only, unique per request and event id) and request projections.

    FerretDB 1.24 does not re-check a filter atomically with the update it guards, so no write
    here relies on a conditional update: events are only ever inserted (a unique key makes a
    duplicate a no-op), and a projection is a whole document computed from every stored event,
    replaced, then checked against the event count (see ``stale``).
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REQUESTS]
        self.events = db[EVENTS]
        self.sweeps = db[SWEEPS]

    async def add_events(self, facts: Mapping[str, Sequence[Fact]]) -> set[tuple[str, str]]:
        """Store new facts by request key; return the (key, event id) pairs already stored."""
        docs = [
            {"_id": f"{key}|{fact.id}", "request": key, **fact.to_doc()}
            for key, key_facts in facts.items()
            for fact in key_facts
        ]
        known = await insert_many_once(self.events, docs)
        return {(str(docs[i]["request"]), str(docs[i]["id"])) for i in known}

    async def facts_of(self, keys: Iterable[str]) -> dict[str, list[Fact]]:
        """Every stored fact of the requests ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Fact]] = {k: [] for k in wanted}
        if wanted:
            async for doc in self.events.find({"request": {"$in": wanted}}):
                found[str(doc["request"])].append(Fact.from_doc(doc))
        return found

    async def write(self, projections: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Replace (or create) the projection documents, each in place (no moment where a request
        is missing from lists), with its due slot derived from ``next_check_at``.

        Upserts by ``_id`` (indexed), in bulks below ``UPDATE_CHUNK``. Two instances upserting a
        new request at once: one insert fails on the unique ``_id``; the document that stands is
        checked by ``stale``, which decides whether to compute again.
        """
        docs = [
            {**fields, "_id": key, "due_slot": slot_name(fields.get("next_check_at"))} for key, fields in projections
        ]
        for start in range(0, len(docs), UPDATE_CHUNK):
            chunk = docs[start : start + UPDATE_CHUNK]
            try:
                await self.collection.bulk_write(
                    [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in chunk], ordered=False
                )
            except BulkWriteError as exc:
                duplicate_positions(exc)  # two upserts of one new projection raced: it is written

    async def stale(self, keys: Iterable[str]) -> list[str]:
        """Keys whose stored projection was computed from fewer events than are stored now (a
        concurrent writer's projection landed last): they must be computed again."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        counts: dict[str, int] = {}
        pipeline: list[Document] = [
            {"$match": {"request": {"$in": wanted}}},
            {"$group": {"_id": "$request", "n": {"$sum": 1}}},
        ]
        async for row in await self.events.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["n"])
        written: dict[str, int] = {}
        async for doc in self.collection.find({"_id": {"$in": wanted}}, {"n_events": 1}):
            written[str(doc["_id"])] = int(doc.get("n_events", -1))
        return [k for k in wanted if written.get(k) != counts.get(k, 0)]

    async def get(self, office: str, request_id: str) -> list[Fact] | None:
        """The stored facts of a request, or None when none is known."""
        facts = (await self.facts_of([request_key(office, request_id)]))[request_key(office, request_id)]
        return facts or None

    async def due(self, now: datetime, limit: int) -> DueBatch:
        """Projections whose next SLA threshold is at or before ``now``, earliest first.

        Reads the due slots from the last swept one (less ``SLOT_OVERLAP``) to the current one by
        ``$in`` on ``due_slot``; a late tick or a restart only widens the list. With no sweep
        recorded, or more than ``MAX_SLOTS`` behind, one date-range read catches everything due.
        """
        current = slot_start(now)
        state = await self.sweeps.find_one({"_id": SWEEP_STATE})
        query: dict[str, Any] = {"next_check_at": {"$lte": now}}
        if state is not None:
            last = datetime.strptime(str(state["slot"]), SLOT_FORMAT).replace(tzinfo=UTC)
            first = min(last, current) - SLOT_OVERLAP * SLOT
            n_slots = (current - first) // SLOT + 1
            if n_slots <= MAX_SLOTS:
                # the store answers the $in from the index; next_check_at only trims the current slot
                query["due_slot"] = {"$in": [(first + i * SLOT).strftime(SLOT_FORMAT) for i in range(n_slots)]}
        cursor = self.collection.find(query).sort("next_check_at", ASCENDING).limit(limit + 1)
        docs = [doc async for doc in cursor]
        complete = len(docs) <= limit
        return DueBatch(docs[:limit], current.strftime(SLOT_FORMAT) if complete else None)

    async def swept(self, batch: DueBatch) -> None:
        """Record that everything due up to the batch's slot was handled."""
        if batch.swept_slot is not None:
            # an older value written by a slower instance only makes the next read wider
            await self.sweeps.replace_one({"_id": SWEEP_STATE}, {"slot": batch.swept_slot}, upsert=True)

    async def page(self, where: RequestFilter, limit: int, after: str | None) -> tuple[list[Document], str | None]:
        """One page of request summaries ordered by key; the cursor of the next page if any."""
        query: dict[str, Any] = {}
        if where.office is not None:
            query["office"] = where.office
        if where.state is not None:
            query["state"] = where.state
        if where.breached is not None:
            query["breached"] = where.breached
        if where.category is not None:
            query["category"] = where.category
        if after is not None:
            query["_id"] = {"$gt": after}
        docs = [doc async for doc in self.collection.find(query).sort("_id", ASCENDING).limit(limit + 1)]
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (encode_cursor(str(docs[-1]["_id"])) if more and docs else None)

    async def count_open(self) -> dict[tuple[str, str], int]:
        """Requests not closed, by (office, state)."""
        pipeline: list[Document] = [
            {"$match": {"state": {"$ne": "closed"}}},
            {"$group": {"_id": {"office": "$office", "state": "$state"}, "n": {"$sum": 1}}},
        ]
        counts: dict[tuple[str, str], int] = {}
        async for row in await self.collection.aggregate(pipeline):
            counts[(str(row["_id"]["office"]), str(row["_id"]["state"]))] = int(row["n"])
        return counts


class MongoAlertRepository:
    """SLA alerts: recorded once (unique key), then published, with a lease so that one instance
    at a time publishes a given alert and a crashed publisher's work is picked up again."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ALERTS]
        self.claims = db[ALERT_CLAIMS]

    async def record(self, alerts: Sequence[AlertRecord], now: datetime) -> list[AlertRecord]:
        """Insert the alerts not recorded yet; return those this call recorded."""
        unique = list({a.key: a for a in alerts}.values())
        if not unique:
            return []
        docs = [
            {
                "_id": a.key,
                "office": a.office,
                "request_id": a.request_id,
                "stage": a.stage,
                "policy": a.policy,
                "kind": a.kind,
                "event": a.event,
                "published": False,
                "lease_until": EPOCH,
                "lease_owner": None,
                "created_at": now,
            }
            for a in unique
        ]
        skipped = await insert_many_once(self.collection, docs)
        return [a for i, a in enumerate(unique) if i not in skipped]

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[Document]]:
        """Take unpublished alerts nobody holds; return the claim owner and the alerts it won.

        A claim is an insert under a unique key (alert, lease slot): of several instances, one
        wins, even on stores whose multi-document updates do not re-check their filter. A crashed
        publisher's claim lapses with its slot, so the alert is retried one lease later.
        """
        owner = uuid.uuid4().hex
        candidates = [doc async for doc in self.collection.find({"published": False, "lease_until": {"$lte": now}})]
        if not candidates:
            return owner, []
        slot = int(now.timestamp() // max(lease.total_seconds(), 0.001))
        claims = [{"_id": f"{d['_id']}|{slot}", "alert": d["_id"], "owner": owner, "at": now} for d in candidates]
        lost = await insert_many_once(self.claims, claims)
        won_ids = [d["_id"] for i, d in enumerate(candidates) if i not in lost]
        # published meanwhile by the holder of an earlier slot: nothing left to do for those
        won = [doc async for doc in self.collection.find({"_id": {"$in": won_ids}, "published": False})]
        if won:
            # a hint for the others: skip these until the lease ends
            await self.collection.update_many(
                {"_id": {"$in": [d["_id"] for d in won]}},
                {"$set": {"lease_owner": owner, "lease_until": now + lease}},
            )
        return owner, won

    async def mark_published(self, owner: str, keys: Sequence[str]) -> None:
        if keys:
            # the claims stay: deleting them would let a slower instance that read the alert
            # as unpublished claim it again in the same slot
            await self.collection.update_many({"_id": {"$in": list(keys)}}, {"$set": {"published": True}})

    async def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give claims back after a failed publish, so the next sweep retries at once."""
        if keys:
            await self.claims.delete_many({"alert": {"$in": list(keys)}, "owner": owner})
            await self.collection.update_many(
                {"_id": {"$in": list(keys)}, "published": False}, {"$set": {"lease_until": EPOCH}}
            )
