"""MongoDB repositories of the notifications service: contacts and consents (the only place
phone numbers and e-mail addresses are stored), request details for messages, and the
notifications log, which is also the queue of scheduled and deferred sends."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.batching import Coalescer
from shared.events import Channel, PreferredChannel
from shared.store import DUPLICATE_KEY, Document, Index, insert_many_once

from .domain.policy import Contact

CONTACTS = "contacts"
REQUESTS = "requests"
APPOINTMENTS = "appointments"
NOTIFICATIONS = "notifications"
CLAIMS = "claims"
AWAITING = "awaiting_contact"

#: statuses of a notification
PENDING = "pending"  # waiting for its send time (deferred, scheduled, retried later)
SENDING = "sending"  # claimed by one instance until ``lease_until``
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
SUPPRESSED = "suppressed"
TERMINAL = (SENT, DELIVERED, FAILED, SUPPRESSED)
#: in the audit list only: decided before anything was known of the tenant (``awaiting_contact``)
AWAITING_CONTACT = "awaiting_contact"

INDEXES = [
    Index(NOTIFICATIONS, [("cause_id", 1), ("template", 1), ("channel", 1)], unique=True, name="one_message"),
    Index(NOTIFICATIONS, [("status", 1), ("send_at", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("subject", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("tenant_ref", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("request_id", 1), ("appointment_id", 1)]),
    Index(CONTACTS, [("phone", 1)]),
    Index(AWAITING, [("tenant_key", 1)]),
]


def _key(*parts: str) -> str:
    return "/".join(parts)


def _reader(collection: AsyncCollection[Document]) -> Coalescer[str, Document | None]:
    """Reads by ``_id`` made at the same time go as one ``$in`` query."""

    async def run(keys: list[str]) -> list[Document | None]:
        found = {d["_id"]: d async for d in collection.find({"_id": {"$in": list(set(keys))}})}
        return [found.get(key) for key in keys]

    return Coalescer(run)


def _grouped_reader(collection: AsyncCollection[Document], field: str) -> Coalescer[str, list[Document]]:
    """Reads of the documents whose ``field`` is a value, made at the same time, go as one ``$in``."""

    async def run(values: list[str]) -> list[list[Document]]:
        found: dict[str, list[Document]] = {}
        async for doc in collection.find({field: {"$in": list(set(values))}}):
            found.setdefault(doc[field], []).append(doc)
        return [found.get(value, []) for value in values]

    return Coalescer(run)


def _inserter(collection: AsyncCollection[Document]) -> Coalescer[Document, bool]:
    """Inserts made at the same time go as one unordered ``insert_many``; each caller learns
    whether its document went in (False: the ``_id`` or a unique key was already taken)."""

    async def run(docs: list[Document]) -> list[bool]:
        known = await insert_many_once(collection, docs)
        return [i not in known for i in range(len(docs))]

    return Coalescer(run)


#: an update of a batch: filter, change, upsert
Update = tuple[Document, Document, bool]


def _updater(collection: AsyncCollection[Document]) -> Coalescer[Update, bool | None]:
    """Updates made at the same time go as one unordered ``bulk_write``. A bulk only tells how
    many documents changed in all: each caller gets True when every update of the batch changed
    its document, False when none did, None when some did (the caller checks if it needs to know)."""

    async def run(updates: list[Update]) -> list[bool | BaseException | None]:
        requests = [UpdateOne(query, change, upsert=upsert) for query, change, upsert in updates]
        results: list[bool | BaseException | None] = [None] * len(updates)
        try:
            result = await collection.bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                index = error["index"]
                if error.get("code") == DUPLICATE_KEY and updates[index][2]:
                    # two upserts of one new document raced (another instance): once more, it exists now
                    query, change, _ = updates[index]
                    await collection.update_one(query, change)
                else:
                    results[index] = RuntimeError(f"update failed: {error.get('errmsg')}")
            return results
        changed = result.modified_count + result.upserted_count
        if changed in (0, len(updates)):
            return [changed > 0] * len(updates)
        return results

    return Coalescer(run)


class NotificationStore:
    """Every read and write of the service; conditional updates make each effect idempotent."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.contacts = db[CONTACTS]
        self.requests = db[REQUESTS]
        self.appointments = db[APPOINTMENTS]
        self.notifications = db[NOTIFICATIONS]
        self.claims = db[CLAIMS]
        self.awaiting = db[AWAITING]
        # the hot path of a consumed batch: its messages' reads and writes go in bulk
        self._contact = _reader(self.contacts)
        self._awaiting = _grouped_reader(self.awaiting, "tenant_key")
        self._request = _reader(self.requests)
        self._notification = _reader(self.notifications)
        self._insert = _inserter(self.notifications)
        self._insert_claim = _inserter(self.claims)
        self._insert_request = _inserter(self.requests)
        self._update_request = _updater(self.requests)
        self._update_notification = _updater(self.notifications)

    # --- contacts and consents ------------------------------------------------------------------

    async def _upsert_if_newer(self, key: str, time_field: str, at: datetime, values: Document) -> bool:
        """Apply ``values`` unless a later fact was already applied (late events change nothing)."""
        query = {"_id": key, "$or": [{time_field: {"$lte": at}}, {time_field: {"$exists": False}}]}
        try:
            result = await self.contacts.update_one(query, {"$set": {**values, time_field: at}}, upsert=True)
        except DuplicateKeyError:  # the document exists with a later time: the fact is older
            return False
        return result.matched_count > 0 or result.upserted_id is not None

    async def update_contact(
        self,
        office: str,
        tenant_ref: str,
        at: datetime,
        *,
        phone: str | None,
        email: str | None,
        preferred: PreferredChannel,
    ) -> bool:
        values = {
            "office": office,
            "tenant_ref": tenant_ref,
            "phone": phone,
            "email": email,
            "preferred": preferred.value,
        }
        return await self._upsert_if_newer(_key(office, tenant_ref), "contact_time", at, values)

    async def update_consent(self, office: str, tenant_ref: str, channel: Channel, granted: bool, at: datetime) -> bool:
        values = {"office": office, "tenant_ref": tenant_ref, f"{channel.value}_consent": granted}
        return await self._upsert_if_newer(_key(office, tenant_ref), f"{channel.value}_consent_time", at, values)

    async def get_contact(self, office: str, tenant_ref: str) -> Contact | None:
        doc = await self._contact(_key(office, tenant_ref))
        if doc is None or (not doc.get("phone") and not doc.get("email") and "preferred" not in doc):
            return None
        return Contact(
            phone=doc.get("phone"),
            email=doc.get("email"),
            preferred=PreferredChannel(doc.get("preferred", "sms")),
            sms_consent=doc.get("sms_consent", True),
            email_consent=doc.get("email_consent", True),
        )

    async def has_contact_record(self, office: str, tenant_ref: str) -> bool:
        """Whether any fact about the tenant's contact arrived (an erased tenant has one too)."""
        return await self._contact(_key(office, tenant_ref)) is not None

    async def contacts_by_phone(self, phone: str) -> list[Document]:
        return [d async for d in self.contacts.find({"phone": phone}, {"office": 1, "tenant_ref": 1})]

    async def erase_contact(self, office: str, tenant_ref: str, at: datetime) -> None:
        """Forget the tenant's addresses and preferences; keep a tombstone so that an older
        contact event arriving late does not bring them back."""
        tombstone = {
            "office": office,
            "tenant_ref": tenant_ref,
            "erased_at": at,
            "contact_time": at,
            "sms_consent_time": at,
            "email_consent_time": at,
        }
        await self.contacts.replace_one({"_id": _key(office, tenant_ref)}, tombstone, upsert=True)

    async def mask_log(self, office: str, tenant_ref: str) -> None:
        """Erasure: the log keeps what happened, not to whom nor what it said."""
        await self.notifications.update_many(
            {"office": office, "tenant_ref": tenant_ref},
            {"$set": {"recipient_masked": "effacé", "tenant_ref": None, "text": None, "html": None, "context": {}}},
        )

    # --- messages waiting for their tenant's first contact ----------------------------------

    async def await_contact(
        self, key: str, office: str, tenant_ref: str, message: Document, until: datetime, now: datetime
    ) -> None:
        """Keep a tenant message decided before any contact of its tenant arrived (events of
        different topics are not ordered) until ``until``; once only (``key``)."""
        doc = {
            "_id": key,
            "tenant_key": _key(office, tenant_ref),
            "message": message,
            "until": until,
            "created_at": now,
        }
        with contextlib.suppress(DuplicateKeyError):
            await self.awaiting.insert_one(doc)

    async def audit_awaiting(self, office: str | None, subject: str | None, limit: int) -> list[Document]:
        """Messages waiting for their tenant's first contact (few at any time), shaped as entries
        of the log: status ``awaiting_contact``, no channel yet, ``send_at`` the end of the wait."""
        query: Document = {}
        if office:
            query["message.office"] = office
        if subject:
            query["$or"] = [{f"message.{k}": subject} for k in ("subject", "request_id", "tenant_ref")]
        return [
            {
                **d["message"],
                "_id": d["_id"],
                "channel": None,
                "status": AWAITING_CONTACT,
                "send_at": d["until"],
                "created_at": d["created_at"],
            }
            async for d in self.awaiting.find(query).limit(limit)
        ]

    async def awaiting_for(self, office: str, tenant_ref: str) -> list[Document]:
        return await self._awaiting(_key(office, tenant_ref))

    async def awaiting_due(self, now: datetime, limit: int) -> list[Document]:
        return [d async for d in self.awaiting.find({"until": {"$lte": now}}).limit(limit)]

    async def forget_awaiting(self, key: str) -> None:
        await self.awaiting.delete_one({"_id": key})

    # --- request details ------------------------------------------------------------------------

    async def save_request(self, office: str, request_id: str, values: Document) -> None:
        values = {"office": office, "request_id": request_id, **values}
        # usually the first fact of the request: an insert (cheap in bulk), else an update
        if not await self._insert_request({"_id": _key(office, request_id), **values}):
            await self._update_request(({"_id": _key(office, request_id)}, {"$set": values}, True))

    async def get_request(self, office: str, request_id: str) -> Document | None:
        return await self._request(_key(office, request_id))

    async def save_appointment(self, office: str, request_id: str, appointment_id: str, values: Document) -> None:
        await self.appointments.update_one(
            {"_id": _key(office, request_id, appointment_id)}, {"$set": values}, upsert=True
        )

    async def get_appointment(self, office: str, request_id: str, appointment_id: str) -> Document | None:
        return await self.appointments.find_one({"_id": _key(office, request_id, appointment_id)})

    # --- the notifications log ------------------------------------------------------------------

    async def insert(self, doc: Document) -> bool:
        """Record a decided message; False when it was already decided (redelivery, instance)."""
        return await self._insert(doc)

    async def get(self, notification_id: str) -> Document | None:
        return await self._notification(notification_id)

    async def claim(self, notification_id: str, now: datetime, lease: timedelta) -> Document | None:
        """Take a due message for sending: only one instance wins until its lease expires.

        The claim is the insertion of ``<id>/<attempt>`` into ``claims``: a unique key is the one
        thing FerretDB 1.24 guarantees under concurrency (its conditional updates are not atomic:
        two instances may both "match" the same document).
        """
        for _ in range(3):
            doc = await self.get(notification_id)
            if doc is None or doc["status"] not in (PENDING, SENDING):
                return None
            if doc["send_at"] > now or doc["lease_until"] > now:
                return None
            attempt = int(doc.get("attempts", 0)) + 1
            if not await self._insert_claim({"_id": f"{notification_id}/{attempt}", "lease_until": now + lease}):
                other = await self.claims.find_one({"_id": f"{notification_id}/{attempt}"})
                if other is None or other["lease_until"] > now:
                    return None  # another instance holds it
                # that attempt's holder died before recording it: move on to the next attempt
                await self.notifications.update_one(
                    {"_id": notification_id, "attempts": attempt - 1}, {"$set": {"attempts": attempt}}
                )
                continue
            values = {"status": SENDING, "lease_until": now + lease, "attempts": attempt}
            await self._update_notification(({"_id": notification_id}, {"$set": values}, False))
            return {**doc, **values}
        return None

    async def finish(self, notification_id: str, attempt: int, status: str, now: datetime, **values: Any) -> bool:
        """The holder of claim ``attempt`` of a message saw it reach ``status`` (``values`` say
        whether its outcome is on Kafka). False when that claim had been taken over meanwhile."""
        query = {"_id": notification_id, "status": SENDING, "attempts": attempt}
        change = {"$set": {"status": status, "outcome_at": now, **values}}
        changed = await self._update_notification((query, change, False))
        if changed is None:  # the batch does not tell: this attempt's outcome is recorded, or not
            doc = await self.get(notification_id)
            changed = doc is not None and doc["status"] == status and doc.get("attempts") == attempt
        return changed

    async def release(self, notification_id: str, retry_at: datetime, reason: str) -> None:
        """The provider was unavailable: try again at ``retry_at``."""
        await self.notifications.update_one(
            {"_id": notification_id, "status": SENDING},
            {"$set": {"status": PENDING, "send_at": retry_at, "lease_until": retry_at, "last_error": reason}},
        )

    async def receipt(self, notification_id: str, status: str, now: datetime, reason: str | None) -> Document | None:
        """A delivery receipt: only a sent message becomes delivered or failed."""
        return await self.notifications.find_one_and_update(
            {"_id": notification_id, "status": SENT},
            {"$set": {"status": status, "outcome_at": now, "published": False, "reason": reason}},
            return_document=ReturnDocument.AFTER,
        )

    async def mark_published(self, notification_id: str, status: str) -> None:
        query = {"_id": notification_id, "status": status}
        await self._update_notification((query, {"$set": {"published": True}}, False))

    async def cancel_pending(self, query: Document, reason: str, now: datetime) -> list[Document]:
        """Suppress messages still waiting (e.g. the reminder of a re-scheduled appointment)."""
        cancelled = []
        async for doc in self.notifications.find({**query, "status": PENDING}):
            updated = await self.notifications.find_one_and_update(
                {"_id": doc["_id"], "status": PENDING},
                {"$set": {"status": SUPPRESSED, "reason": reason, "outcome_at": now, "published": False}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                cancelled.append(updated)
        return cancelled

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = self.notifications.find(
            {"status": {"$in": [PENDING, SENDING]}, "send_at": {"$lte": now}, "lease_until": {"$lte": now}},
            {"_id": 1},
        ).limit(limit)
        return [d["_id"] async for d in cursor]

    async def unpublished(self, limit: int) -> list[Document]:
        cursor = self.notifications.find({"published": False, "status": {"$in": list(TERMINAL)}}).limit(limit)
        return [d async for d in cursor]

    async def purge_claims(self, before: datetime) -> int:
        """Forget claims whose lease ended before ``before``. A claim only matters while its lease
        runs: once it has ended, ``claim`` treats an expired claim and a missing one alike."""
        result = await self.claims.delete_many({"lease_until": {"$lt": before}})
        return result.deleted_count

    async def deferred_backlog(self, now: datetime) -> int:
        return await self.notifications.count_documents({"status": PENDING, "send_at": {"$gt": now}})

    async def audit(self, office: str | None, subject: str | None, limit: int) -> Sequence[Document]:
        query: Document = {}
        if office:
            query["office"] = office
        if subject:
            query["$or"] = [{"subject": subject}, {"request_id": subject}, {"tenant_ref": subject}]
        projection = {"text": 0, "html": 0, "context": 0}
        cursor = self.notifications.find(query, projection).sort("created_at", 1).limit(limit)
        return [d async for d in cursor]
