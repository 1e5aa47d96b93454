"""MongoDB repositories of the feedback service (MongoDB and FerretDB 1.24).

Hot lookups are by ``_id`` (FerretDB 1.24 on SQLite scans for any other field): requests and
tenants are keyed ``office|ref``, surveys by their derived id, links by token hash.

Every "exactly once" decision is an insert under a unique key (FerretDB's conditional updates are
not atomic): ``surveys._id`` (one survey per request), ``cap_claims`` (one survey per tenant and
7-day bucket), ``reminder_claims`` (one reminder per survey), ``answers._id`` (first answer wins),
``alerts._id`` (one alert per answer), ``outbox._id`` (one event per id), campaign surveys by
their derived id (one invitation per tenant and campaign).

Survey tokens are stored as their SHA-256 only, in ``tokens`` (``_id`` = hash → survey id); the
plaintext exists only inside the ``survey.requested`` event until it is published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.feedback.domain import TenantState
from shared.store import Document, Index, insert_many_once

SURVEYS = "surveys"
REQUESTS = "requests"
TENANTS = "tenants"
ANSWERS = "answers"
ALERTS = "alerts"
OUTBOX = "outbox"
CAP_CLAIMS = "cap_claims"
REMINDER_CLAIMS = "reminder_claims"
UNPARSED = "unparsed_replies"
#: token hash → survey id: FerretDB 1.24 on SQLite answers ``_id`` lookups from its primary key but
#: scans for other fields, so the page's hot lookup is by ``_id``
TOKENS = "tokens"
ERASED = "erased"
CAMPAIGNS = "campaigns"

INDEXES = (
    Index(SURVEYS, [("office", 1), ("tenant_ref", 1)]),
    Index(SURVEYS, [("pending_reminder", 1), ("reminder_due_at", 1)]),
    Index(SURVEYS, [("campaign_id", 1), ("invited", 1)]),
    Index(REQUESTS, [("office", 1), ("opened_at", 1)]),
    Index(ANSWERS, [("campaign_id", 1)]),
    Index(REQUESTS, [("office", 1), ("tenant_ref", 1)]),
    Index(CAP_CLAIMS, [("office", 1), ("tenant_ref", 1), ("week", 1)], unique=True),
    Index(ANSWERS, [("office", 1), ("tenant_ref", 1)]),
    Index(ALERTS, [("office", 1), ("open", 1)]),
    Index(OUTBOX, [("published", 1)]),
    Index(UNPARSED, [("office", 1), ("tenant_ref", 1)]),
)


async def insert_once(db: AsyncDatabase[Document], collection: str, doc: Document) -> bool:
    """Insert ``doc``; False when its unique key already exists (the claim belongs to someone else)."""
    try:
        await db[collection].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


class FeedbackStore:
    """The collections of the feedback service."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    # --- requests and tenants ------------------------------------------------------------------

    async def note_request(self, office: str, request_id: str, fields: dict[str, Any]) -> Document:
        """Merge what an event says about a request; returns the request as now known."""
        doc = await self.db[REQUESTS].find_one_and_update(
            {"_id": f"{office}|{request_id}"},
            {"$set": fields, "$setOnInsert": {"office": office, "request_id": request_id}},
            upsert=True,
            return_document=True,
        )
        assert doc is not None
        return doc

    async def tenant(self, office: str, tenant_ref: str) -> TenantState:
        doc = await self.db[TENANTS].find_one({"_id": f"{office}|{tenant_ref}"})
        if doc is None:
            return TenantState()
        return TenantState(
            sms_consent=doc.get("sms_consent", True),
            email_consent=doc.get("email_consent", True),
            preferred_none=doc.get("preferred_none", False),
            erased=doc.get("erased", False),
            has_phone=doc.get("has_phone", False),
            has_email=doc.get("has_email", False),
        )

    async def tenants_of(self, office: str) -> list[Document]:
        """Every tenant of an office known from tenant events (a campaign's selection)."""
        return [doc async for doc in self.db[TENANTS].find({"office": office})]

    async def tenants_with_requests(self, office: str, start: datetime, end: datetime) -> set[str]:
        """Tenants of an office with a request opened in [start, end)."""
        query = {"office": office, "opened_at": {"$gte": start, "$lt": end}}
        return {
            doc["tenant_ref"] async for doc in self.db[REQUESTS].find(query, {"tenant_ref": 1}) if "tenant_ref" in doc
        }

    async def set_tenant(self, office: str, tenant_ref: str, fields: dict[str, Any]) -> None:
        await self.db[TENANTS].update_one(
            {"_id": f"{office}|{tenant_ref}"},
            {"$set": fields, "$setOnInsert": {"office": office, "tenant_ref": tenant_ref}},
            upsert=True,
        )

    # --- surveys -------------------------------------------------------------------------------

    async def survey(self, survey_id: str) -> Document | None:
        return await self.db[SURVEYS].find_one({"_id": survey_id})

    async def add_links(self, links: list[Document]) -> None:
        """Insert token links (``_id`` = token hash); existing ones are kept."""
        await insert_many_once(self.db[TOKENS], links)

    async def drop_tokens(self, digests: list[str]) -> None:
        await self.db[TOKENS].delete_many({"_id": {"$in": digests}})

    async def set_surveys(self, survey_ids: list[str], fields: dict[str, Any]) -> None:
        await self.db[SURVEYS].update_many({"_id": {"$in": survey_ids}}, {"$set": fields})

    async def claim_reminders(self, survey_ids: list[str], now: datetime) -> set[str]:
        """Claim the reminders of these surveys; returns those this caller won."""
        docs = [{"_id": s, "at": now} for s in survey_ids]
        lost = await insert_many_once(self.db[REMINDER_CLAIMS], docs)
        return {s for k, s in enumerate(survey_ids) if k not in lost}

    async def survey_by_token_hash(self, digest: str) -> Document | None:
        link = await self.db[TOKENS].find_one({"_id": digest})
        if link is None:
            return None
        return await self.survey(link["survey_id"])

    async def last_survey_at(self, office: str, tenant_ref: str, other_than: str) -> datetime | None:
        """When the tenant's latest survey after a request was created (campaigns do not count)."""
        cursor = self.db[SURVEYS].find({"office": office, "tenant_ref": tenant_ref}).sort("created_at", -1)
        async for doc in cursor:
            if doc["_id"] != other_than and not doc.get("campaign_id"):
                created: datetime = doc["created_at"]
                return created
        return None

    async def latest_open_survey(self, office: str, tenant_ref: str, now: datetime) -> Document | None:
        """The tenant's most recent unanswered, unexpired survey after a request (an SMS answers it)."""
        cursor = self.db[SURVEYS].find({"office": office, "tenant_ref": tenant_ref}).sort("created_at", -1)
        async for doc in cursor:
            if not doc.get("campaign_id") and not doc.get("answered") and doc["expires_at"] > now:
                return doc
        return None

    async def reminders_due(self, now: datetime, limit: int = 200) -> list[Document]:
        cursor = self.db[SURVEYS].find({"pending_reminder": True, "reminder_due_at": {"$lte": now}}).limit(limit)
        return [doc async for doc in cursor]

    async def set_survey(self, survey_id: str, fields: dict[str, Any]) -> None:
        await self.db[SURVEYS].update_one({"_id": survey_id}, {"$set": fields})

    # --- outbox --------------------------------------------------------------------------------

    async def outbox_add(self, event_id: str, event_json: str, now: datetime) -> bool:
        """Record an event to publish; False if it was recorded before (then see ``outbox_published``)."""
        return await insert_once(
            self.db, OUTBOX, {"_id": event_id, "event": event_json, "published": False, "created_at": now}
        )

    async def outbox_published(self, event_id: str) -> bool:
        doc = await self.db[OUTBOX].find_one({"_id": event_id}, {"published": 1})
        return bool(doc and doc.get("published"))

    async def outbox_many(self, event_ids: list[str]) -> dict[str, Document]:
        cursor = self.db[OUTBOX].find({"_id": {"$in": event_ids}})
        return {doc["_id"]: doc async for doc in cursor}

    async def outbox_add_many(self, rows: list[dict[str, str]], now: datetime) -> set[int]:
        """Record several events to publish; returns the positions of those recorded before."""
        docs = [{"_id": r["event_id"], "event": r["event"], "published": False, "created_at": now} for r in rows]
        return await insert_many_once(self.db[OUTBOX], docs)

    async def outbox_done(self, event_ids: list[str]) -> None:
        # the body (personal data) is dropped once published; the id stays to deduplicate redeliveries
        await self.db[OUTBOX].update_many({"_id": {"$in": event_ids}}, {"$set": {"published": True, "event": None}})

    async def outbox_pending(self, before: datetime, limit: int = 90) -> list[Document]:
        cursor = self.db[OUTBOX].find({"published": False, "created_at": {"$lte": before}}).limit(limit)
        return [doc async for doc in cursor]

    # --- alerts --------------------------------------------------------------------------------

    async def alerts(self, office: str | None, open_only: bool, limit: int = 500) -> list[Document]:
        query: dict[str, Any] = {}
        if office is not None:
            query["office"] = office
        if open_only:
            query["open"] = True
        cursor = self.db[ALERTS].find(query).sort("created_at", 1).limit(limit)
        return [doc async for doc in cursor]

    async def alert(self, alert_id: str) -> Document | None:
        return await self.db[ALERTS].find_one({"_id": alert_id})

    async def open_alert_counts(self) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [{"$match": {"open": True}}, {"$group": {"_id": "$office", "n": {"$sum": 1}}}]
        cursor = await self.db[ALERTS].aggregate(pipeline)
        return {doc["_id"]: int(doc["n"]) async for doc in cursor}

    # --- campaigns -----------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> Document | None:
        return await self.db[CAMPAIGNS].find_one({"_id": campaign_id})

    async def campaigns(self, status: str | None = None) -> list[Document]:
        query: dict[str, Any] = {} if status is None else {"status": status}
        return [doc async for doc in self.db[CAMPAIGNS].find(query).sort("created_at", 1)]

    async def set_campaign(self, campaign_id: str, fields: dict[str, Any]) -> None:
        await self.db[CAMPAIGNS].update_one({"_id": campaign_id}, {"$set": fields})

    async def add_campaign_surveys(self, docs: list[Document]) -> int:
        """Insert a campaign's surveys (not yet invited); existing ones are kept. Returns how many are new."""
        added = 0
        for start in range(0, len(docs), 500):
            chunk = docs[start : start + 500]
            # some may exist already: a second open, another instance
            added += len(chunk) - len(await insert_many_once(self.db[SURVEYS], chunk))
        return added

    async def uninvited(self, campaign_id: str, limit: int) -> list[Document]:
        query = {"campaign_id": campaign_id, "invited": False}
        return [doc async for doc in self.db[SURVEYS].find(query).limit(limit)]

    async def campaign_counts(self, campaign_id: str) -> dict[str, dict[str, int]]:
        """Per office: surveys targeted and invited."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"campaign_id": campaign_id}},
            {"$group": {"_id": {"office": "$office", "invited": "$invited"}, "n": {"$sum": 1}}},
        ]
        counts: dict[str, dict[str, int]] = {}
        async for doc in await self.db[SURVEYS].aggregate(pipeline):
            office, invited = doc["_id"]["office"], doc["_id"]["invited"]
            entry = counts.setdefault(office, {"targeted": 0, "invited": 0})
            entry["targeted"] += int(doc["n"])
            if invited:
                entry["invited"] += int(doc["n"])
        return counts

    async def campaign_answers(self, campaign_id: str) -> list[Document]:
        query = {"campaign_id": campaign_id}
        return [doc async for doc in self.db[ANSWERS].find(query, {"office": 1, "axes": 1, "nps": 1})]

    # --- erasure -------------------------------------------------------------------------------

    async def erase_tenant(self, office: str, tenant_ref: str, anonymous: str) -> None:
        """Delete what identifies the tenant; scores stay for statistics under an anonymous ref."""
        who = {"office": office, "tenant_ref": tenant_ref}
        await self.db[TOKENS].delete_many(who)
        await self.db[SURVEYS].update_many(who, {"$set": {"tenant_ref": anonymous, "pending_reminder": False}})
        await self.db[ANSWERS].update_many(who, {"$set": {"tenant_ref": anonymous, "comment": None}})
        await self.db[ALERTS].update_many(who, {"$set": {"tenant_ref": anonymous, "comment": None}})
        await self.db[UNPARSED].delete_many(who)
        await self.db[REQUESTS].update_many(who, {"$set": {"tenant_ref": anonymous}})
