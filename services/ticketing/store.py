"""MongoDB repositories of the ticketing service (run on MongoDB and FerretDB 1.24).

``request_events``: every known event of a request, once (unique per request and event id).
``requests``: one projection per (office, request_id) — state and clocks derived from all its
events — for lists, filters and the sweeper's ``next_check_at``. ``erased_tenants``: the tenants
erased (``tenant.erased``), by ``shared.privacy.erasure_key`` — a hash, never the reference — so
that a request opened after its tenant's erasure is stripped too. ``alerts``: one document per
(office, request_id, stage, kind), the unique key that makes each ``sla.*`` event exist once; it keeps the event to
publish, whether it was published and whether it was found after the office's horizon
(``historical``: published, acted on towards nobody).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.tracker import TrackerLink
from services.ticketing.domain.views import (
    AlertRecord,
    ClockSummary,
    RequestFilter,
    RequestSummary,
    request_key,
)
from services.ticketing.ports import DueBatch
from shared.privacy import erasure_key
from shared.store import Document, Index, duplicate_positions, insert_many_once, upsert_bulk

REQUESTS = "requests"
EVENTS = "request_events"
ALERTS = "alerts"
ALERT_CLAIMS = "alert_claims"
SWEEPS = "sweeps"
ERASED = "erased_tenants"
#: the fields of a stored fact that name or reach the tenant, removed by an erasure
TENANT_FIELDS = ("tenant_ref", "housing_ref")
SWEEP_STATE = "sla-sweeper"
TRACKERS = "trackers"
ERASED_TENANTS = "erased_tenants"
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
    Index(EVENTS, [("data.tenant_ref", 1)]),
    Index(REQUESTS, [("next_check_at", 1)]),
    Index(REQUESTS, [("due_slot", 1)]),
    Index(REQUESTS, [("office", 1), ("state", 1)]),
    Index(ALERTS, [("office", 1), ("request_id", 1), ("stage", 1), ("kind", 1)], unique=True),
    Index(ALERTS, [("published", 1)]),
    Index(ALERT_CLAIMS, [("alert", 1)]),
    Index(TRACKERS, [("office", 1), ("tenant_ref", 1)]),
)


def slot_start(moment: datetime) -> datetime:
    """The start of the due slot holding ``moment`` (UTC)."""
    utc = moment.astimezone(UTC)
    return EPOCH + ((utc - EPOCH) // SLOT) * SLOT


def slot_name(moment: datetime | None) -> str | None:
    """The due slot of ``moment`` as stored on a projection (None: nothing to check)."""
    return None if moment is None else slot_start(moment).strftime(SLOT_FORMAT)


def fact_doc(key: str, fact: Fact) -> Document:
    """A stored event of the request ``key``; the time as text keeps microseconds (a BSON date
    keeps milliseconds), so the order of a stored fact and a fresh one never differ."""
    return {
        "_id": f"{key}|{fact.id}",
        "request": key,
        "id": fact.id,
        "type": fact.type,
        "time": fact.time.isoformat(),
        "data": dict(fact.data),
    }


def fact_of(doc: Mapping[str, Any]) -> Fact:
    return Fact(
        id=str(doc["id"]),
        type=str(doc["type"]),
        time=datetime.fromisoformat(str(doc["time"])).astimezone(UTC),
        data=dict(doc.get("data") or {}),
    )


def summary_doc(summary: RequestSummary) -> Document:
    """A request's projection document, with its due slot derived from ``next_check_at``."""
    return {
        "office": summary.office,
        "request_id": summary.request_id,
        "n_events": summary.n_events,
        "state": summary.state,
        "placeholder": summary.placeholder,
        "category": summary.category,
        "urgency": summary.urgency,
        "channel": summary.channel,
        "opened_at": summary.opened_at,
        "last_event_at": summary.last_event_at,
        "flagged": summary.flagged,
        "breached": summary.breached,
        "at_risk": summary.at_risk,
        "clocks": [
            {
                "stage": c.stage,
                "policy": c.policy,
                "status": c.status,
                "due_at": c.due_at,
                "paused": c.paused,
                "historical": c.historical,
            }
            for c in summary.clocks
        ],
        "next_check_at": summary.next_check_at,
        "updated_at": summary.updated_at,
        "_id": summary.key,
        "due_slot": slot_name(summary.next_check_at),
    }


def summary_of(doc: Mapping[str, Any]) -> RequestSummary:
    return RequestSummary(
        office=str(doc["office"]),
        request_id=str(doc["request_id"]),
        n_events=int(doc.get("n_events", -1)),
        state=str(doc["state"]),
        placeholder=bool(doc["placeholder"]),
        category=doc.get("category"),
        urgency=doc.get("urgency"),
        channel=doc.get("channel"),
        opened_at=doc.get("opened_at"),
        last_event_at=doc.get("last_event_at"),
        flagged=int(doc["flagged"]),
        breached=bool(doc["breached"]),
        at_risk=bool(doc["at_risk"]),
        clocks=tuple(
            ClockSummary(
                str(c["stage"]),
                str(c["policy"]),
                str(c["status"]),
                c.get("due_at"),
                bool(c["paused"]),
                bool(c.get("historical", False)),
            )
            for c in doc.get("clocks") or ()
        ),
        next_check_at=doc.get("next_check_at"),
        updated_at=doc.get("updated_at"),
    )


def alert_doc(alert: AlertRecord, now: datetime) -> Document:
    return {
        "_id": alert.key,
        "office": alert.office,
        "request_id": alert.request_id,
        "stage": alert.stage,
        "policy": alert.policy,
        "kind": alert.kind,
        "event": alert.event,
        "historical": alert.historical,
        "published": False,
        "lease_until": EPOCH,
        "lease_owner": None,
        "created_at": now,
    }


def alert_of(doc: Mapping[str, Any]) -> AlertRecord:
    return AlertRecord(
        office=str(doc["office"]),
        request_id=str(doc["request_id"]),
        stage=str(doc["stage"]),
        policy=str(doc["policy"]),
        kind=str(doc["kind"]),
        event=str(doc["event"]),
        historical=bool(doc.get("historical", False)),
    )


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
        self.erased = db[ERASED]

    async def add_events(self, facts: Mapping[str, Sequence[Fact]]) -> set[tuple[str, str]]:
        """Store new facts by request key; return the (key, event id) pairs already stored."""
        docs = [fact_doc(key, fact) for key, key_facts in facts.items() for fact in key_facts]
        known = await insert_many_once(self.events, docs)
        return {(str(docs[i]["request"]), str(docs[i]["id"])) for i in known}

    async def facts_of(self, keys: Iterable[str]) -> dict[str, list[Fact]]:
        """Every stored fact of the requests ``keys``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Fact]] = {k: [] for k in wanted}
        if wanted:
            async for doc in self.events.find({"request": {"$in": wanted}}):
                found[str(doc["request"])].append(fact_of(doc))
        return found

    async def write(self, summaries: Sequence[RequestSummary]) -> None:
        """Replace (or create) the projection documents, each in place (no moment where a request
        is missing from lists), with its due slot derived from ``next_check_at``.

        Upserts by ``_id`` (indexed), in bulks below ``UPDATE_CHUNK``. Two instances upserting a
        new request at once: one insert fails on the unique ``_id``; the document that stands is
        checked by ``stale``, which decides whether to compute again.
        """
        docs = [summary_doc(summary) for summary in summaries]
        for start in range(0, len(docs), UPDATE_CHUNK):
            chunk = docs[start : start + UPDATE_CHUNK]
            try:
                await upsert_bulk(self.collection, [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in chunk])
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

    async def erase_tenant(self, office: str, tenant_ref: str, at: datetime) -> int:
        """Erasure: remember the tenant as erased (by hash), remove its references from the stored
        facts of the office's requests; return how many requests were touched."""
        key = erasure_key(office, tenant_ref)
        await self.erased.replace_one({"_id": key}, {"erased_at": at}, upsert=True)
        prefix = request_key(office, "")
        cursor = self.events.find({"data.tenant_ref": tenant_ref}, {"_id": 1, "request": 1})
        docs = [d async for d in cursor if str(d["request"]).startswith(prefix)]
        if docs:
            await self.events.update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}},
                {"$unset": {f"data.{name}": "" for name in TENANT_FIELDS}, "$set": {"data.tenant_erased": True}},
            )
        return len({d["request"] for d in docs})

    async def erased_among(self, tenants: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these (office, tenant_ref), those erased."""
        by_key = {erasure_key(office, ref): (office, ref) for office, ref in tenants}
        if not by_key:
            return set()
        cursor = self.erased.find({"_id": {"$in": list(by_key)}}, {"_id": 1})
        return {by_key[str(d["_id"])] async for d in cursor}

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
        keys = [str(doc["_id"]) async for doc in cursor]
        complete = len(keys) <= limit
        return DueBatch(keys[:limit], current.strftime(SLOT_FORMAT) if complete else None)

    async def swept(self, batch: DueBatch) -> None:
        """Record that everything due up to the batch's slot was handled."""
        if batch.swept_slot is not None:
            # an older value written by a slower instance only makes the next read wider
            await self.sweeps.replace_one({"_id": SWEEP_STATE}, {"slot": batch.swept_slot}, upsert=True)

    async def page(self, where: RequestFilter, limit: int, after: str | None) -> tuple[list[RequestSummary], bool]:
        """One page of request summaries ordered by key, after the key ``after``; whether more follow."""
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
        return [summary_of(doc) for doc in docs[:limit]], more

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
        docs = [alert_doc(a, now) for a in unique]
        skipped = await insert_many_once(self.collection, docs)
        return [a for i, a in enumerate(unique) if i not in skipped]

    async def recorded(self, keys: Iterable[str]) -> dict[str, bool]:
        """Of the alert keys ``keys``, those recorded → whether historical (by ``_id``)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        return {
            str(doc["_id"]): bool(doc.get("historical", False))
            async for doc in self.collection.find({"_id": {"$in": wanted}}, {"_id": 1, "historical": 1})
        }

    async def of_request(self, office: str, request_id: str) -> list[AlertRecord]:
        """Every alert recorded for a request, ordered by key (the unique index answers it)."""
        cursor = self.collection.find({"office": office, "request_id": request_id}).sort("_id", ASCENDING)
        return [alert_of(doc) async for doc in cursor]

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[AlertRecord]]:
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
        return owner, [alert_of(doc) for doc in won]

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


class MongoTrackerRepository:
    """Tracker links by token digest (``_id``), and the tenants erased per office (``_id`` their
    ``erasure_key``: a hash, never the reference), whose links are deleted and never recorded again."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[TRACKERS]
        self.erased = db[ERASED_TENANTS]

    async def record(self, links: Sequence[TrackerLink]) -> int:
        unique = list({link.digest: link for link in links}.values())
        tenants = [erasure_key(link.office, link.tenant_ref) for link in unique if link.tenant_ref]
        gone: set[str] = set()
        if tenants:
            gone = {str(d["_id"]) async for d in self.erased.find({"_id": {"$in": tenants}}, {"_id": 1})}
        keep = [link for link in unique if not link.tenant_ref or erasure_key(link.office, link.tenant_ref) not in gone]
        docs: list[Document] = [
            {"_id": link.digest, "office": link.office, "request_id": link.request_id, "tenant_ref": link.tenant_ref}
            for link in keep
        ]
        skipped = await insert_many_once(self.collection, docs) if docs else set()
        return len(docs) - len(skipped)

    async def find(self, digest: str) -> TrackerLink | None:
        doc = await self.collection.find_one({"_id": digest})
        if doc is None:
            return None
        tenant = doc.get("tenant_ref")
        if tenant and await self.erased.find_one({"_id": erasure_key(str(doc["office"]), str(tenant))}) is not None:
            return None  # recorded while the erasure was being applied
        return TrackerLink(str(doc["_id"]), str(doc["office"]), str(doc["request_id"]), tenant)

    async def erase(self, office: str, tenant_ref: str) -> int:
        key = erasure_key(office, tenant_ref)
        await self.erased.update_one({"_id": key}, {"$set": {"office": office}}, upsert=True)
        result = await self.collection.delete_many({"office": office, "tenant_ref": tenant_ref})
        return int(result.deleted_count)
