"""MongoDB adapter of the notifications service's store ports (``ports.py``): contacts and
consents (the only place phone numbers and e-mail addresses are stored), request details for
messages, and the notifications log, which is also the queue of scheduled and deferred sends.

The only module that knows the collections and the shape of their documents: every method takes
and returns the records of ``domain/records.py``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.batching import Coalescer
from shared.events import Channel, FollowupChannel, FollowupOutcome, PreferredChannel, Recipient
from shared.privacy import erasure_key
from shared.store import DUPLICATE_KEY, Document, Index, insert_many_once

from .domain.digests import DIGEST
from .domain.followups import Followup, FollowupStatus
from .domain.messages import AppointmentInfo, RequestInfo
from .domain.policy import Contact, Policy
from .domain.records import (
    EPOCH,
    TERMINAL,
    AuditEntry,
    ContactRef,
    Draft,
    Message,
    PendingFilter,
    Status,
    Waiting,
    audit_entry,
    waiting_entry,
)

CONTACTS = "contacts"
REQUESTS = "requests"
APPOINTMENTS = "appointments"
NOTIFICATIONS = "notifications"
CLAIMS = "claims"
AWAITING = "awaiting_contact"
WEBHOOK_IDS = "webhook_ids"
FOLLOWUPS = "followups"
APOLOGIES = "apologies"

#: statuses of a notification (``domain/records.py``)
PENDING, SENDING, SENT, GROUPED = Status.PENDING, Status.SENDING, Status.SENT, Status.GROUPED
DELIVERED, FAILED, SUPPRESSED = Status.DELIVERED, Status.FAILED, Status.SUPPRESSED

INDEXES = [
    Index(NOTIFICATIONS, [("cause_id", 1), ("template", 1), ("channel", 1)], unique=True, name="one_message"),
    Index(NOTIFICATIONS, [("status", 1), ("send_at", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("subject", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("tenant_ref", 1)]),
    Index(NOTIFICATIONS, [("office", 1), ("request_id", 1), ("appointment_id", 1)]),
    Index(CONTACTS, [("phone", 1)]),
    Index(AWAITING, [("tenant_key", 1)]),
    Index(WEBHOOK_IDS, [("expires_at", 1)]),
    Index(FOLLOWUPS, [("office", 1), ("status", 1), ("created_at", 1)]),
    Index(FOLLOWUPS, [("office", 1), ("tenant_ref", 1)]),
    Index(FOLLOWUPS, [("published", 1)]),
]


def _key(*parts: str) -> str:
    return "/".join(parts)


def _erased_key(office: str, tenant_ref: str) -> str:
    """The contacts document that remembers an erased tenant (a hash, not the reference)."""
    return "erased/" + erasure_key(office, tenant_ref)


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


# --- documents <-> records ----------------------------------------------------------------------

_DRAFT_FIELDS = (
    "office",
    "cause_id",
    "cause_type",
    "cause_time",
    "subject",
    "tenant_ref",
    "request_id",
    "appointment_id",
    "template",
    "recipient",
    "policy",
    "context",
    "urgent",
)
#: message fields written only once they have a value
_OPTIONAL_FIELDS = (
    "text",
    "subject_line",
    "html",
    "segments",
    "encoding",
    "defer_reason",
    "reason",
    "outcome_at",
    "published",
    "provider_id",
    "recipient_masked",
    "last_error",
    "digest",
)


def draft_document(draft: Draft) -> Document:
    return {
        "office": draft.office,
        "cause_id": draft.cause_id,
        "cause_type": draft.cause_type,
        "cause_time": draft.cause_time,
        "subject": draft.subject,
        "tenant_ref": draft.tenant_ref,
        "request_id": draft.request_id,
        "appointment_id": draft.appointment_id,
        "template": draft.template,
        "recipient": draft.recipient.value,
        "policy": draft.policy.value,
        "context": draft.context,
        "urgent": draft.urgent,
    }


def to_draft(doc: Document) -> Draft:
    return Draft(
        office=doc["office"],
        cause_id=doc["cause_id"],
        cause_type=doc.get("cause_type") or "",
        cause_time=doc.get("cause_time") or doc.get("created_at") or EPOCH,
        subject=doc.get("subject") or "",
        tenant_ref=doc.get("tenant_ref"),
        request_id=doc.get("request_id"),
        appointment_id=doc.get("appointment_id"),
        template=doc["template"],
        recipient=Recipient(doc["recipient"]),
        policy=Policy(doc["policy"]),
        context=doc.get("context") or {},
        urgent=bool(doc.get("urgent")),
    )


def message_document(message: Message) -> Document:
    doc: Document = {
        **draft_document(message.draft),
        "_id": message.id,
        "channel": message.channel.value,
        "fallbacks": [c.value for c in message.fallbacks],
        "status": message.status.value,
        "send_at": message.send_at,
        "lease_until": message.lease_until,
        "attempts": message.attempts,
        "created_at": message.created_at,
    }
    for name in _OPTIONAL_FIELDS:
        value = getattr(message, name)
        if value is not None:
            doc[name] = value
    if message.members:
        doc["members"] = list(message.members)
    return doc


def to_message(doc: Document) -> Message:
    return Message(
        id=doc["_id"],
        draft=to_draft(doc),
        channel=Channel(doc["channel"]),
        status=Status(doc["status"]),
        send_at=doc["send_at"],
        created_at=doc["created_at"],
        fallbacks=tuple(Channel(c) for c in doc.get("fallbacks") or ()),
        lease_until=doc.get("lease_until") or EPOCH,
        attempts=int(doc.get("attempts", 0)),
        members=tuple(doc.get("members") or ()),
        **{name: doc.get(name) for name in _OPTIONAL_FIELDS},
    )


def _waiting_document(waiting: Waiting) -> Document:
    draft = waiting.draft
    return {
        "_id": waiting.key,
        "tenant_key": _key(draft.office, draft.tenant_ref or ""),
        "message": {**draft_document(draft), "scheduled_at": waiting.scheduled_at},
        "until": waiting.until,
        "created_at": waiting.created_at,
    }


def _to_waiting(doc: Document) -> Waiting:
    message = doc["message"]
    return Waiting(doc["_id"], to_draft(message), message.get("scheduled_at"), doc["until"], doc["created_at"])


def _pending_query(which: PendingFilter) -> Document:
    query: Document = {"office": which.office}
    for name in ("request_id", "appointment_id", "tenant_ref", "template"):
        value = getattr(which, name)
        if value is not None:
            query[name] = value
    if which.except_cause is not None:
        query["cause_id"] = {"$ne": which.except_cause}
    return query


def _subject_query(subject: str, prefix: str = "") -> list[Document]:
    return [{f"{prefix}{k}": subject} for k in ("subject", "request_id", "tenant_ref")]


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
        """Apply ``values`` unless a later fact was already applied (late events change nothing),
        or the tenant was erased after it."""
        tombstone = await self._contact(_erased_key(str(values["office"]), str(values["tenant_ref"])))
        if tombstone is not None and tombstone.get(time_field, EPOCH) >= at:
            return False
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
        if await self._contact(_key(office, tenant_ref)) is not None:
            return True
        return await self._contact(_erased_key(office, tenant_ref)) is not None

    async def contacts_by_phone(self, phone: str) -> list[ContactRef]:
        cursor = self.contacts.find({"phone": phone}, {"office": 1, "tenant_ref": 1})
        return [ContactRef(d["office"], d["tenant_ref"]) async for d in cursor]

    async def erase_contact(self, office: str, tenant_ref: str, at: datetime) -> None:
        """Forget the tenant's addresses and preferences; keep a tombstone so that an older
        contact event arriving late does not bring them back — under a hash of the reference
        (``shared.privacy.erasure_key``), never the reference itself."""
        tombstone = {"erased_at": at, "contact_time": at, "sms_consent_time": at, "email_consent_time": at}
        await self.contacts.replace_one({"_id": _erased_key(office, tenant_ref)}, tombstone, upsert=True)
        await self.contacts.delete_one({"_id": _key(office, tenant_ref)})

    async def purge_personal(self, bodies_before: datetime, contacts_before: datetime) -> int:
        """Texts of old messages dropped; contacts with no fact since ``contacts_before`` deleted."""
        bodies = await self.notifications.update_many(
            {"created_at": {"$lt": bodies_before}, "$or": [{"text": {"$ne": None}}, {"html": {"$ne": None}}]},
            {"$set": {"text": None, "html": None, "context": {}}},
        )
        stale = [
            {"$or": [{name: {"$lt": contacts_before}}, {name: {"$exists": False}}, {name: None}]}
            for name in ("contact_time", "sms_consent_time", "email_consent_time")
        ]
        contacts = await self.contacts.delete_many({"$and": stale})
        return bodies.modified_count + contacts.deleted_count

    async def mask_log(self, office: str, tenant_ref: str, at: datetime) -> None:
        """Erasure: the log keeps what happened, not to whom nor what it said — also the office
        alerts that quoted the tenant's words or references (about one of their requests, or a
        survey sent to them: a campaign's detractor alert has no request, its subject is the
        survey's) and the digests that listed them; the requests forget their tenant."""
        who = {"office": office, "tenant_ref": tenant_ref}
        request_ids = [str(d["request_id"]) async for d in self.requests.find(who, {"request_id": 1})]
        # the subjects of the tenant's own messages: their requests and the surveys sent to them
        subjects = {str(d["subject"]) async for d in self.notifications.find(who, {"subject": 1}) if d.get("subject")}
        about = [{"request_id": {"$in": request_ids}}] if request_ids else []
        about += [{"subject": {"$in": sorted(subjects)}}] if subjects else []
        blank: Document = {"$set": {"text": None, "html": None, "context": {}}}
        if about:
            alerts: Document = {"office": office, "recipient": Recipient.OFFICE.value, "$or": about}
            digests = {
                str(d["digest"]) async for d in self.notifications.find(alerts, {"digest": 1}) if d.get("digest")
            }
            unsent = {**alerts, "status": {"$in": [PENDING.value, GROUPED.value]}}
            erased = {"status": Status.SUPPRESSED.value, "reason": "erased", "outcome_at": at, "published": False}
            await self.notifications.update_many(unsent, {"$set": erased})
            await self.notifications.update_many(alerts, blank)
            if digests:  # a digest sent (or being sent) quoted the alert among others'
                listing = {"office": office, "cause_type": DIGEST, "cause_id": {"$in": sorted(digests)}}
                await self.notifications.update_many(listing, blank)
        if request_ids:
            await self.requests.update_many(who, {"$unset": {"tenant_ref": ""}})
        await self.notifications.update_many(
            {"office": office, "tenant_ref": tenant_ref},
            {"$set": {"recipient_masked": "effacé", "tenant_ref": None, "text": None, "html": None, "context": {}}},
        )

    # --- messages waiting for their tenant's first contact ----------------------------------

    async def await_contact(self, waiting: Waiting) -> None:
        """Keep a tenant message decided before any contact of its tenant arrived (events of
        different topics are not ordered) until ``waiting.until``; once only (``waiting.key``)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.awaiting.insert_one(_waiting_document(waiting))

    async def audit_awaiting(self, office: str | None, subject: str | None, limit: int) -> list[AuditEntry]:
        """Messages waiting for their tenant's first contact (few at any time), as log entries."""
        query: Document = {}
        if office:
            query["message.office"] = office
        if subject:
            query["$or"] = _subject_query(subject, "message.")
        return [waiting_entry(_to_waiting(d)) async for d in self.awaiting.find(query).limit(limit)]

    async def awaiting_for(self, office: str, tenant_ref: str) -> list[Waiting]:
        return [_to_waiting(d) for d in await self._awaiting(_key(office, tenant_ref))]

    async def awaiting_due(self, now: datetime, limit: int) -> list[Waiting]:
        return [_to_waiting(d) async for d in self.awaiting.find({"until": {"$lte": now}}).limit(limit)]

    async def forget_awaiting(self, key: str) -> None:
        await self.awaiting.delete_one({"_id": key})

    # --- request details ------------------------------------------------------------------------

    async def save_request(self, office: str, request_id: str, details: RequestInfo) -> None:
        """Record the details given (the fields left None are kept as they are)."""
        values: Document = {"office": office, "request_id": request_id}
        for name in ("tenant_ref", "category", "urgency", "contractor"):
            value = getattr(details, name)
            if value is not None:
                values[name] = value
        # usually the first fact of the request: an insert (cheap in bulk), else an update
        if not await self._insert_request({"_id": _key(office, request_id), **values}):
            await self._update_request(({"_id": _key(office, request_id)}, {"$set": values}, True))

    async def get_request(self, office: str, request_id: str) -> RequestInfo | None:
        doc = await self._request(_key(office, request_id))
        if doc is None:
            return None
        return RequestInfo(doc.get("tenant_ref"), doc.get("category"), doc.get("urgency"), doc.get("contractor"))

    async def save_appointment(
        self, office: str, request_id: str, appointment_id: str, details: AppointmentInfo, at: datetime, cause: str
    ) -> bool:
        """Keep the slot of the latest scheduling by event time (``at``, then the cause id on a
        tie); False when a later one is already kept (an older re-scheduling arriving late)."""
        values = {
            "slot_start": details.slot_start,
            "slot_end": details.slot_end,
            "contractor": details.contractor,
            "scheduled_time": at,
            "scheduled_by": cause,
        }
        query = {
            "_id": _key(office, request_id, appointment_id),
            "$or": [
                {"scheduled_time": {"$lt": at}},
                {"scheduled_time": at, "scheduled_by": {"$lte": cause}},
                {"scheduled_time": {"$exists": False}},
            ],
        }
        try:
            result = await self.appointments.update_one(query, {"$set": values}, upsert=True)
        except DuplicateKeyError:  # kept with a later scheduling: this one is older
            return False
        return result.matched_count > 0 or result.upserted_id is not None

    async def get_appointment(self, office: str, request_id: str, appointment_id: str) -> AppointmentInfo | None:
        doc = await self.appointments.find_one({"_id": _key(office, request_id, appointment_id)})
        if doc is None:
            return None
        return AppointmentInfo(doc["slot_start"], doc["slot_end"], doc.get("contractor"))

    # --- the notifications log ------------------------------------------------------------------

    async def insert(self, message: Message) -> bool:
        """Record a decided message; False when it was already decided (redelivery, instance)."""
        return await self._insert(message_document(message))

    async def get(self, notification_id: str) -> Message | None:
        doc = await self._notification(notification_id)
        return to_message(doc) if doc is not None else None

    async def claim(self, notification_id: str, now: datetime, lease: timedelta) -> Message | None:
        """Take a due message for sending: only one instance wins until its lease expires.

        The claim is the insertion of ``<id>/<attempt>`` into ``claims``: a unique key is the one
        thing FerretDB 1.24 guarantees under concurrency (its conditional updates are not atomic:
        two instances may both "match" the same document).
        """
        for _ in range(3):
            message = await self.get(notification_id)
            if message is None or message.status not in (PENDING, SENDING):
                return None
            if message.send_at > now or message.lease_until > now:
                return None
            attempt = message.attempts + 1
            if not await self._insert_claim({"_id": f"{notification_id}/{attempt}", "lease_until": now + lease}):
                other = await self.claims.find_one({"_id": f"{notification_id}/{attempt}"})
                if other is None or other["lease_until"] > now:
                    return None  # another instance holds it
                # that attempt's holder died before recording it: move on to the next attempt
                await self.notifications.update_one(
                    {"_id": notification_id, "attempts": attempt - 1}, {"$set": {"attempts": attempt}}
                )
                continue
            values = {"status": SENDING.value, "lease_until": now + lease, "attempts": attempt}
            await self._update_notification(({"_id": notification_id}, {"$set": values}, False))
            return replace(message, status=SENDING, lease_until=now + lease, attempts=attempt)
        return None

    async def finish(
        self,
        notification_id: str,
        attempt: int,
        status: Status,
        now: datetime,
        *,
        published: bool | None = None,
        reason: str | None = None,
        provider_id: str | None = None,
        recipient_masked: str | None = None,
    ) -> bool:
        """The holder of claim ``attempt`` of a message saw it reach ``status`` (``published``:
        whether its outcome is on the bus). False when that claim had been taken over meanwhile."""
        values: Document = {"status": status.value, "outcome_at": now}
        given = {
            "published": published,
            "reason": reason,
            "provider_id": provider_id,
            "recipient_masked": recipient_masked,
        }
        values.update((k, v) for k, v in given.items() if v is not None)
        query = {"_id": notification_id, "status": SENDING.value, "attempts": attempt}
        changed = await self._update_notification((query, {"$set": values}, False))
        if changed is None:  # the batch does not tell: this attempt's outcome is recorded, or not
            message = await self.get(notification_id)
            changed = message is not None and message.status == status and message.attempts == attempt
        return changed

    async def renew_leases(self, claims: Sequence[tuple[str, int]], until: datetime) -> None:
        """The holder of each claim is still sending it: its lease now ends at ``until``."""
        if not claims:
            return
        requests = [
            UpdateOne({"_id": nid, "status": SENDING.value, "attempts": attempt}, {"$set": {"lease_until": until}})
            for nid, attempt in claims
        ]
        await self.notifications.bulk_write(requests, ordered=False)

    async def release(self, notification_id: str, retry_at: datetime, reason: str) -> None:
        """The provider was unavailable: try again at ``retry_at``."""
        await self.notifications.update_one(
            {"_id": notification_id, "status": SENDING.value},
            {"$set": {"status": PENDING.value, "send_at": retry_at, "lease_until": retry_at, "last_error": reason}},
        )

    async def receipt(self, notification_id: str, status: Status, now: datetime, reason: str | None) -> Message | None:
        """A delivery receipt: only a sent message becomes delivered or failed."""
        doc = await self.notifications.find_one_and_update(
            {"_id": notification_id, "status": SENT.value},
            {"$set": {"status": status.value, "outcome_at": now, "published": False, "reason": reason}},
            return_document=ReturnDocument.AFTER,
        )
        return to_message(doc) if doc is not None else None

    async def mark_published(self, notification_id: str, status: Status) -> None:
        query = {"_id": notification_id, "status": status.value}
        await self._update_notification((query, {"$set": {"published": True}}, False))

    async def cancel_pending(self, which: PendingFilter, reason: str, now: datetime) -> list[Message]:
        """Suppress messages still waiting (e.g. the reminder of a re-scheduled appointment)."""
        cancelled = []
        async for doc in self.notifications.find({**_pending_query(which), "status": PENDING.value}):
            updated = await self.notifications.find_one_and_update(
                {"_id": doc["_id"], "status": PENDING.value},
                {"$set": {"status": SUPPRESSED.value, "reason": reason, "outcome_at": now, "published": False}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                cancelled.append(to_message(updated))
        return cancelled

    # --- office alerts waiting for their digest -----------------------------------------------

    async def due_digests(self, now: datetime, limit: int) -> list[str]:
        """The keys of the digests whose window has ended with alerts still waiting for them."""
        pipeline: list[Document] = [
            {"$match": {"status": GROUPED.value, "send_at": {"$lte": now}}},
            {"$group": {"_id": "$digest"}},
            {"$sort": {"_id": 1}},
            {"$limit": limit},
        ]
        return [d["_id"] async for d in await self.notifications.aggregate(pipeline) if d["_id"]]

    async def grouped(self, digest: str) -> list[Message]:
        """The alerts still waiting for digest ``digest``. No index of its own (one more index
        would cost every message's insert and update): the status index finds the few waiting."""
        cursor = self.notifications.find({"status": GROUPED.value, "digest": digest})
        return [to_message(d) async for d in cursor]

    async def finish_grouped(
        self,
        ids: Sequence[str],
        status: Status,
        now: datetime,
        *,
        reason: str | None = None,
        recipient_masked: str | None = None,
    ) -> list[Message]:
        """The alerts ``ids`` still waiting for their digest take its outcome; the changed ones
        (their outcome to publish: ``published`` False)."""
        values: Document = {"status": status.value, "outcome_at": now, "published": False}
        values.update((k, v) for k, v in {"reason": reason, "recipient_masked": recipient_masked}.items() if v)
        changed = []
        for nid in ids:
            doc = await self.notifications.find_one_and_update(
                {"_id": nid, "status": GROUPED.value}, {"$set": values}, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                changed.append(to_message(doc))
        return changed

    async def regroup(self, ids: Sequence[str], digest: str, send_at: datetime) -> None:
        """Alerts that missed their digest (recorded while it was being built) wait for another."""
        await self.notifications.update_many(
            {"_id": {"$in": list(ids)}, "status": GROUPED.value}, {"$set": {"digest": digest, "send_at": send_at}}
        )

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = self.notifications.find(
            {
                "status": {"$in": [PENDING.value, SENDING.value]},
                "send_at": {"$lte": now},
                "lease_until": {"$lte": now},
            },
            {"_id": 1},
        ).limit(limit)
        return [d["_id"] async for d in cursor]

    async def unpublished(self, limit: int) -> list[Message]:
        terminal = [s.value for s in TERMINAL]
        cursor = self.notifications.find({"published": False, "status": {"$in": terminal}}).limit(limit)
        return [to_message(d) async for d in cursor]

    async def purge_claims(self, before: datetime) -> int:
        """Forget claims whose lease ended before ``before``. A claim only matters while its lease
        runs: once it has ended, ``claim`` treats an expired claim and a missing one alike."""
        result = await self.claims.delete_many({"lease_until": {"$lt": before}})
        return result.deleted_count

    async def deferred_backlog(self, now: datetime) -> int:
        return await self.notifications.count_documents({"status": PENDING.value, "send_at": {"$gt": now}})

    async def audit(
        self,
        office: str | None,
        subject: str | None,
        limit: int,
        *,
        status: str | None = None,
        reason: str | None = None,
    ) -> list[AuditEntry]:
        query: Document = {}
        if office:
            query["office"] = office
        if subject:
            query["$or"] = _subject_query(subject)
        if status:
            query["status"] = status
        if reason:
            query["reason"] = reason
        projection = {"text": 0, "html": 0, "context": 0}
        cursor = self.notifications.find(query, projection).sort("created_at", 1).limit(limit)
        return [audit_entry(to_message(d)) async for d in cursor]


class WebhookIds:
    """Accepted webhook ids (``_id``) with their expiry; an insert under the unique ``_id`` decides
    between two deliveries of one id racing."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[WEBHOOK_IDS]

    async def accept_webhook_id(self, msg_id: str, expires_at: datetime) -> bool:
        try:
            await self.collection.insert_one({"_id": msg_id, "expires_at": expires_at})
        except DuplicateKeyError:
            return False
        return True

    async def forget_webhook_id(self, msg_id: str) -> None:
        await self.collection.delete_one({"_id": msg_id})

    async def purge_webhook_ids(self, now: datetime) -> int:
        result = await self.collection.delete_many({"expires_at": {"$lte": now}})
        return result.deleted_count


def _followup_doc(task: Followup) -> Document:
    return {
        "_id": task.id,
        "office": task.office,
        "cause_id": task.cause_id,
        "cause_type": task.cause_type,
        "request_id": task.request_id,
        "tenant_ref": task.tenant_ref,
        "template": task.template,
        "reason": task.reason,
        "text": task.text,
        "created_at": task.created_at,
        "status": task.status.value,
        "channel": task.channel.value if task.channel else None,
        "outcome": task.outcome.value if task.outcome else None,
        "done_at": task.done_at,
        "published": task.published,
    }


def _followup_of(doc: Document) -> Followup:
    return Followup(
        id=str(doc["_id"]),
        office=str(doc["office"]),
        cause_id=str(doc["cause_id"]),
        cause_type=str(doc["cause_type"]),
        request_id=doc.get("request_id"),
        tenant_ref=doc.get("tenant_ref"),
        template=str(doc["template"]),
        reason=str(doc["reason"]),
        text=str(doc["text"]),
        created_at=_utc(doc["created_at"]),
        status=FollowupStatus(doc["status"]),
        channel=FollowupChannel(doc["channel"]) if doc.get("channel") else None,
        outcome=FollowupOutcome(doc["outcome"]) if doc.get("outcome") else None,
        done_at=_utc(doc["done_at"]) if doc.get("done_at") else None,
        published=bool(doc.get("published", True)),
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class MongoFollowupStore:
    """Follow-up tasks (``followups``, ``_id`` = the task id) and apology owners (``apologies``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[FOLLOWUPS]
        self.apologies: AsyncCollection[Document] = db[APOLOGIES]

    async def add_followup(self, task: Followup) -> bool:
        try:
            await self.collection.insert_one(_followup_doc(task))
        except DuplicateKeyError:
            return False
        return True

    async def get_followup(self, followup_id: str) -> Followup | None:
        doc = await self.collection.find_one({"_id": followup_id})
        return _followup_of(doc) if doc else None

    async def followups(self, office: str | None, status: str | None, limit: int) -> list[Followup]:
        query: Document = {}
        if office is not None:
            query["office"] = office
        if status is not None:
            query["status"] = status
        cursor = self.collection.find(query).sort([("created_at", 1), ("_id", 1)]).limit(limit)
        return [_followup_of(doc) async for doc in cursor]

    async def finish_followup(self, task: Followup) -> bool:
        done = _followup_doc(task)
        fields = {k: done[k] for k in ("status", "channel", "outcome", "done_at", "published")}
        result = await self.collection.update_one(
            {"_id": task.id, "status": FollowupStatus.OPEN.value}, {"$set": fields}
        )
        return result.modified_count == 1

    async def unpublished_followups(self, limit: int) -> list[Followup]:
        cursor = self.collection.find({"published": False}).sort("done_at", 1).limit(limit)
        return [_followup_of(doc) async for doc in cursor]

    async def mark_followups_published(self, ids: Sequence[str]) -> None:
        if ids:
            await self.collection.update_many({"_id": {"$in": list(ids)}}, {"$set": {"published": True}})

    async def erase_followups(self, office: str, tenant_ref: str) -> int:
        result = await self.collection.delete_many({"office": office, "tenant_ref": tenant_ref})
        return int(result.deleted_count)

    async def purge_followups(self, before: datetime) -> int:
        personal = {"$or": [{"text": {"$ne": ""}}, {"tenant_ref": {"$ne": None}}]}
        result = await self.collection.update_many(
            {"created_at": {"$lt": before}, **personal}, {"$set": {"text": "", "tenant_ref": None}}
        )
        return int(result.modified_count)

    async def apology_cause(self, key: str, cause_id: str) -> str:
        with contextlib.suppress(DuplicateKeyError):
            await self.apologies.insert_one({"_id": key, "cause_id": cause_id})
            return cause_id
        doc = await self.apologies.find_one({"_id": key})
        return str(doc["cause_id"]) if doc else cause_id
