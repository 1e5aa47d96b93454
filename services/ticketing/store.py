"""MongoDB repositories of the ticketing service (run on MongoDB and FerretDB 1.24).

``requests``: one document per (office, request_id) with every known event (deduplicated by id)
and the state and clocks derived from them. Writes are conditional on a ``version`` so two
instances never overwrite each other's events. ``alerts``: one document per (office, request_id,
stage, kind), the unique key that makes each ``sla.*`` event exist once; it keeps the event to
publish and whether it was published.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.ticketing.domain import Fact
from shared.store import Document, Index

REQUESTS = "requests"
ALERTS = "alerts"
DUPLICATE_KEY = 11000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES = (
    Index(REQUESTS, [("office", 1), ("request_id", 1)], unique=True),
    Index(REQUESTS, [("next_check_at", 1)]),
    Index(REQUESTS, [("office", 1), ("state", 1)]),
    Index(ALERTS, [("office", 1), ("request_id", 1), ("stage", 1), ("kind", 1)], unique=True),
    Index(ALERTS, [("published", 1)]),
)


def request_key(office: str, request_id: str) -> str:
    return f"{office}|{request_id}"


def alert_key(office: str, request_id: str, stage: str, kind: str) -> str:
    return f"{office}|{request_id}|{stage}|{kind}"


@dataclass
class StoredRequest:
    """A request document as read: its known facts and the version the next write must match."""

    key: str
    office: str
    request_id: str
    version: int
    facts: list[Fact]
    doc: Document = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: Document) -> StoredRequest:
        return cls(
            key=str(doc["_id"]),
            office=str(doc["office"]),
            request_id=str(doc["request_id"]),
            version=int(doc.get("version", 0)),
            facts=[Fact.from_doc(f) for f in doc.get("events", ())],
            doc=doc,
        )


@dataclass(frozen=True)
class RequestWrite:
    """New content of a request document; ``expected_version`` None means it must not exist yet."""

    key: str
    office: str
    request_id: str
    expected_version: int | None
    facts: Sequence[Fact]
    fields: Mapping[str, Any]


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


class InvalidCursor(ValueError):
    pass


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor: not one this API returned") from None


class MongoRequestRepository:
    """Request documents: batched reads and conditional, batched writes."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[REQUESTS]

    async def load(self, keys: Iterable[str]) -> dict[str, StoredRequest]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        found: dict[str, StoredRequest] = {}
        async for doc in self.collection.find({"_id": {"$in": wanted}}):
            stored = StoredRequest.from_doc(doc)
            found[stored.key] = stored
        return found

    async def get(self, office: str, request_id: str) -> StoredRequest | None:
        doc = await self.collection.find_one({"_id": request_key(office, request_id)})
        return StoredRequest.from_doc(doc) if doc is not None else None

    async def save(self, writes: Sequence[RequestWrite]) -> list[str]:
        """Apply the writes in one bulk; return the keys that lost a race (write them again)."""
        if not writes:
            return []
        token = uuid.uuid4().hex
        operations: list[InsertOne[Document] | UpdateOne] = []
        for write in writes:
            content = {
                **write.fields,
                "office": write.office,
                "request_id": write.request_id,
                "events": [f.to_doc() for f in write.facts],
                "write_token": token,
            }
            if write.expected_version is None:
                operations.append(InsertOne({"_id": write.key, "version": 1, **content}))
            else:
                operations.append(
                    UpdateOne(
                        {"_id": write.key, "version": write.expected_version},
                        {"$set": {**content, "version": write.expected_version + 1}},
                    )
                )
        conflicts: set[str] = set()
        updates = [w for w in writes if w.expected_version is not None]
        matched = 0
        try:
            result = await self.collection.bulk_write(operations, ordered=False)
            matched = result.matched_count
        except BulkWriteError as exc:
            details = exc.details
            for error in details.get("writeErrors", ()):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                conflicts.add(writes[error["index"]].key)
            matched = int(details.get("nMatched", 0))
        if matched < len(updates):
            # which conditional updates missed: those whose document does not carry our token
            keys = [w.key for w in updates]
            async for doc in self.collection.find({"_id": {"$in": keys}}, {"write_token": 1}):
                if doc.get("write_token") != token:
                    conflicts.add(str(doc["_id"]))
        return sorted(conflicts)

    async def due(self, now: datetime, limit: int) -> list[StoredRequest]:
        """Requests whose next SLA threshold is at or before ``now``, earliest first."""
        cursor = self.collection.find({"next_check_at": {"$lte": now}}).sort("next_check_at", ASCENDING).limit(limit)
        return [StoredRequest.from_doc(doc) async for doc in cursor]

    async def set_checks(self, updates: Sequence[tuple[str, int, Mapping[str, Any]]]) -> None:
        """Store the sweeper's recomputed clocks, unless the document changed since it was read
        (then the writer of that change recomputed them already)."""
        if updates:
            await self.collection.bulk_write(
                [
                    UpdateOne({"_id": key, "version": version}, {"$set": dict(fields)})
                    for key, version, fields in updates
                ],
                ordered=False,
            )

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
        docs = [
            doc
            async for doc in self.collection.find(query, {"events": 0, "write_token": 0})
            .sort("_id", ASCENDING)
            .limit(limit + 1)
        ]
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
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            skipped = set()
            for error in exc.details.get("writeErrors", ()):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                skipped.add(error["index"])
            return [a for i, a in enumerate(unique) if i not in skipped]
        return unique

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[Document]]:
        """Take a lease on unpublished alerts nobody holds; return the lease owner and them."""
        owner = uuid.uuid4().hex
        await self.collection.update_many(
            {"published": False, "lease_until": {"$lte": now}},
            {"$set": {"lease_owner": owner, "lease_until": now + lease}},
        )
        docs = [doc async for doc in self.collection.find({"lease_owner": owner, "published": False})]
        return owner, docs

    async def mark_published(self, owner: str, keys: Sequence[str]) -> None:
        if keys:
            await self.collection.update_many(
                {"_id": {"$in": list(keys)}, "lease_owner": owner}, {"$set": {"published": True}}
            )

    async def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give a lease back after a failed publish, so the next sweep retries at once."""
        if keys:
            await self.collection.update_many(
                {"_id": {"$in": list(keys)}, "lease_owner": owner, "published": False},
                {"$set": {"lease_until": EPOCH}},
            )
