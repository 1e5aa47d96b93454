"""MongoDB repositories of the feedback service (MongoDB and FerretDB 1.24): the only module that
knows its documents and collection names. Methods take and return domain records.

Hot lookups are by ``_id`` (FerretDB 1.24 on SQLite scans for any other field): requests and
tenants are keyed ``office|ref``, surveys by their derived id, links by token hash.

Every "exactly once" decision is an insert under a unique key (FerretDB's conditional updates are
not atomic): ``surveys._id`` (one survey per request), ``cap_claims`` (one survey per tenant and
7-day bucket), ``reminder_claims`` (one reminder per survey), ``answers._id`` (first answer wins),
``alerts._id`` (one alert per answer, a campaign's too), ``outbox._id`` (one event per id, ``shared.outbox``),
campaign surveys by their derived id (one invitation per tenant and campaign).

Survey tokens are stored as their SHA-256 only, in ``tokens`` (``_id`` = hash → survey id); the
plaintext exists only inside the ``survey.requested`` event in the outbox until it is published.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.feedback.domain import (
    ANONYMOUS,
    Alert,
    Answer,
    Campaign,
    CampaignAnswer,
    CampaignScores,
    CampaignStatus,
    Link,
    OfficeCounts,
    Questions,
    Request,
    RequestNote,
    Selection,
    Survey,
    SurveyContext,
    TenantContact,
    TenantState,
    UnparsedReply,
    survey_id_for,
)
from services.feedback.domain.voice import VoiceEntry, VoiceKind, VoiceQuery, VoiceStatus, day_of
from shared.events import Axis
from shared.outbox import OUTBOX, MongoOutboxStore
from shared.privacy import erasure_key
from shared.store import Document, Index, insert_many_once

SURVEYS = "surveys"
REQUESTS = "requests"
TENANTS = "tenants"
ANSWERS = "answers"
ALERTS = "alerts"
CAP_CLAIMS = "cap_claims"
REMINDER_CLAIMS = "reminder_claims"
UNPARSED = "unparsed_replies"
#: token hash → survey id: FerretDB 1.24 on SQLite answers ``_id`` lookups from its primary key but
#: scans for other fields, so the page's hot lookup is by ``_id``
TOKENS = "tokens"
CAMPAIGNS = "campaigns"
#: tenants' words; looked up by ``day`` (``office|YYYY-MM-DD``, UTC), a string the store's index answers
VOICE = "voice"
#: one acknowledgement and one overdue report per alert: ``_id`` = ``ack|alert_id`` / ``overdue|alert_id``
ALERT_CLAIMS = "alert_claims"

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
    *MongoOutboxStore.indexes(OUTBOX),
    Index(UNPARSED, [("office", 1), ("tenant_ref", 1)]),
    Index(VOICE, [("day", 1)]),
    Index(VOICE, [("office", 1), ("tenant_ref", 1)]),
    Index(VOICE, [("at", 1)]),
)


async def insert_once(db: AsyncDatabase[Document], collection: str, doc: Document) -> bool:
    """Insert ``doc``; False when its unique key already exists (the claim belongs to someone else)."""
    try:
        await db[collection].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def _insert_new(db: AsyncDatabase[Document], collection: str, docs: list[Document]) -> set[str]:
    """Insert ``docs`` (distinct ``_id``s) in one unordered write; the ids this call inserted (the
    others existed: ``insert_once`` of each)."""
    lost = await insert_many_once(db[collection], docs)
    return {doc["_id"] for k, doc in enumerate(docs) if k not in lost}


# --- documents <-> records ------------------------------------------------------------------------


def _erased_id(office: str, tenant_ref: str) -> str:
    """The ``tenants`` document that remembers an erased tenant (a hash, not the reference)."""
    return f"erased|{erasure_key(office, tenant_ref)}"


def _tenant(doc: Document) -> TenantState:
    return TenantState(
        sms_consent=doc.get("sms_consent", True),
        email_consent=doc.get("email_consent", True),
        preferred_none=doc.get("preferred_none", False),
        erased=doc.get("erased", False),
        has_phone=doc.get("has_phone", False),
        has_email=doc.get("has_email", False),
    )


_SURVEY_FIELDS = (
    "office",
    "request_id",
    "campaign_id",
    "tenant_ref",
    "created_at",
    "invited_at",
    "invited",
    "expires_at",
    "reminder_due_at",
    "pending_reminder",
    "answered",
)


def _survey_doc(survey: Survey) -> Document:
    return {"_id": survey.id} | {f: getattr(survey, f) for f in _SURVEY_FIELDS}


def _survey(doc: Document) -> Survey:
    return Survey(
        id=doc["_id"],
        office=doc["office"],
        tenant_ref=doc["tenant_ref"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        request_id=doc.get("request_id"),
        campaign_id=doc.get("campaign_id"),
        invited_at=doc.get("invited_at"),
        invited=bool(doc.get("invited")),
        reminder_due_at=doc.get("reminder_due_at"),
        pending_reminder=bool(doc.get("pending_reminder")),
        answered=bool(doc.get("answered")),
    )


def _campaign_doc(campaign: Campaign) -> Document:
    return {
        "_id": campaign.id,
        "title": campaign.title,
        "offices": list(campaign.offices),
        "selection": campaign.selection.value,
        "period_start": campaign.period_start,
        "period_end": campaign.period_end,
        "closes_at": campaign.closes_at,
        "questions": {
            "axes": [a.value for a in campaign.questions.axes],
            "nps": campaign.questions.nps,
            "comment": campaign.questions.comment,
        },
        "status": campaign.status.value,
        "created_at": campaign.created_at,
        "created_by": campaign.created_by,
        "opened_at": campaign.opened_at,
        "closed_at": campaign.closed_at,
        "targeted": campaign.targeted,
    }


def _campaign(doc: Document) -> Campaign:
    q = doc["questions"]
    return Campaign(
        id=doc["_id"],
        title=doc["title"],
        offices=tuple(doc["offices"]),
        selection=Selection(doc["selection"]),
        period_start=doc.get("period_start"),
        period_end=doc.get("period_end"),
        closes_at=doc["closes_at"],
        questions=Questions(axes=tuple(Axis(a) for a in q["axes"]), nps=q["nps"], comment=q["comment"]),
        status=CampaignStatus(doc["status"]),
        created_at=doc["created_at"],
        created_by=doc.get("created_by", "admin"),
        opened_at=doc.get("opened_at"),
        closed_at=doc.get("closed_at"),
        targeted=doc.get("targeted"),
    )


_ALERT_FIELDS = (
    "office",
    "tenant_ref",
    "survey_id",
    "request_id",
    "score",
    "comment",
    "follow_up_due_at",
    "created_at",
    "open",
    "acknowledged_at",
    "campaign_id",
    "historical",
    "action",
    "overdue",
)


def _alert_doc(alert: Alert) -> Document:
    return {"_id": alert.id} | {f: getattr(alert, f) for f in _ALERT_FIELDS}


def _answer_doc(answer_id: str, answer: Answer, at: datetime) -> Document:
    return {
        "_id": answer_id,
        "office": answer.office,
        "tenant_ref": answer.tenant_ref,
        "survey_id": answer.survey_id,
        "request_id": answer.request_id,
        "score": answer.score,
        "nps": answer.nps,
        "comment": answer.comment,
        "channel": answer.channel,
        "at": at,
    }


def _answer(doc: Document) -> Answer:
    return Answer(
        office=doc["office"],
        tenant_ref=doc["tenant_ref"],
        score=doc["score"],
        channel=doc["channel"],
        survey_id=doc.get("survey_id"),
        request_id=doc.get("request_id"),
        nps=doc.get("nps"),
        comment=doc.get("comment"),
    )


def _campaign_answer_doc(answer_id: str, answer: CampaignAnswer, at: datetime) -> Document:
    return {
        "_id": answer_id,
        "office": answer.office,
        "tenant_ref": answer.tenant_ref,
        "campaign_id": answer.campaign_id,
        "survey_id": answer.survey_id,
        "request_id": None,
        "axes": answer.axes,
        "nps": answer.nps,
        "comment": answer.comment,
        "channel": answer.channel,
        "at": at,
    }


def _campaign_answer(doc: Document) -> CampaignAnswer:
    return CampaignAnswer(
        office=doc["office"],
        tenant_ref=doc["tenant_ref"],
        campaign_id=doc["campaign_id"],
        survey_id=doc["survey_id"],
        axes=dict(doc["axes"]),
        channel=doc["channel"],
        nps=doc.get("nps"),
        comment=doc.get("comment"),
    )


def _alert(doc: Document) -> Alert:
    return Alert(
        id=doc["_id"],
        office=doc["office"],
        tenant_ref=doc["tenant_ref"],
        score=doc["score"],
        follow_up_due_at=doc["follow_up_due_at"],
        created_at=doc["created_at"],
        survey_id=doc.get("survey_id"),
        request_id=doc.get("request_id"),
        comment=doc.get("comment"),
        open=bool(doc.get("open")),
        acknowledged_at=doc.get("acknowledged_at"),
        campaign_id=doc.get("campaign_id"),
        historical=bool(doc.get("historical")),
        action=doc.get("action"),
        overdue=bool(doc.get("overdue")),
    )


_VOICE_FIELDS = (
    "office",
    "tenant_ref",
    "channel",
    "text",
    "at",
    "score",
    "request_id",
    "survey_id",
    "campaign_id",
    "category",
    "handled_at",
    "action",
)


def _voice_doc(entry: VoiceEntry) -> Document:
    doc: Document = {"_id": entry.id, "day": f"{entry.office}|{day_of(entry.at)}"}
    doc |= {f: getattr(entry, f) for f in _VOICE_FIELDS}
    return doc | {"kind": entry.kind.value, "status": entry.status.value}


def _voice(doc: Document) -> VoiceEntry:
    return VoiceEntry(
        id=doc["_id"],
        kind=VoiceKind(doc["kind"]),
        status=VoiceStatus(doc["status"]),
        **{f: doc.get(f) for f in _VOICE_FIELDS},  # type: ignore[arg-type]
    )


def _note_update(office: str, request_id: str, note: RequestNote) -> dict[str, Any]:
    """The update that merges what one event says into a request's document."""
    fields: dict[str, Any] = {}
    if note.tenant_ref is not None:
        fields["tenant_ref"] = note.tenant_ref
    if note.opened_at is not None:
        fields["opened_at"] = note.opened_at
    if note.repaired:
        fields["repaired"] = True
    if note.trigger:
        fields["trigger"] = True
    if note.category is not None:
        fields["category"] = note.category
    if note.closed:
        fields["closed"] = True
    update: dict[str, Any] = {"$setOnInsert": {"office": office, "request_id": request_id}}
    if fields:
        update["$set"] = fields
    if note.ended_at is not None:  # the earliest end is kept, whatever the arrival order
        update["$min"] = {"ended_at": note.ended_at}
    return update


def _request(office: str, request_id: str, doc: Document) -> Request:
    tenant_ref = doc.get("tenant_ref")
    return Request(
        office,
        request_id,
        tenant_ref if isinstance(tenant_ref, str) else None,
        bool(doc.get("trigger")),
        doc.get("ended_at"),
    )


class FeedbackMongoStore:
    """The collections of the feedback service (implements ``ports.FeedbackStore``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    # --- requests and tenants ------------------------------------------------------------------

    async def _note_request(self, office: str, request_id: str, note: RequestNote) -> tuple[Request, Request]:
        """Merge what the event says into the request: the request before and after."""
        doc = await self.db[REQUESTS].find_one_and_update(
            {"_id": f"{office}|{request_id}"},
            _note_update(office, request_id, note),
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        before = Request(office, request_id) if doc is None else _request(office, request_id, doc)
        return before, before.noted(note)

    async def note_requests(self, notes: Sequence[tuple[str, str, RequestNote]]) -> list[tuple[Request, Request]]:
        """``_note_request`` of each in turn: one read of the requests before, one ordered bulk write
        of every note; the requests after each note are merged in memory by ``Request.noted``."""
        if not notes:
            return []
        ids = sorted({f"{office}|{rid}" for office, rid, _ in notes})
        cursor = self.db[REQUESTS].find({"_id": {"$in": ids}}, {"tenant_ref": 1, "trigger": 1, "ended_at": 1})
        stored = {doc["_id"]: doc async for doc in cursor}
        known: dict[str, Request] = {}
        changes: list[tuple[Request, Request]] = []
        for office, rid, note in notes:
            key = f"{office}|{rid}"
            if key not in known:
                doc = stored.get(key)
                known[key] = Request(office, rid) if doc is None else _request(office, rid, doc)
            before = known[key]
            known[key] = before.noted(note)
            changes.append((before, known[key]))
        ops = [
            UpdateOne({"_id": f"{office}|{rid}"}, _note_update(office, rid, note), upsert=True)
            for office, rid, note in notes
        ]
        await self.db[REQUESTS].bulk_write(ops, ordered=True)
        return changes

    async def tenant(self, office: str, tenant_ref: str) -> TenantState:
        plain, erased = f"{office}|{tenant_ref}", _erased_id(office, tenant_ref)
        docs = {d["_id"]: d async for d in self.db[TENANTS].find({"_id": {"$in": [plain, erased]}})}
        if erased in docs:
            return TenantState(erased=True)
        doc = docs.get(plain)
        return TenantState() if doc is None else _tenant(doc)

    async def tenant_states(self, tenants: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TenantState]:
        wanted = sorted(set(tenants))
        if not wanted:
            return {}
        ids = [f"{o}|{t}" for o, t in wanted] + [_erased_id(o, t) for o, t in wanted]
        docs = {d["_id"]: d async for d in self.db[TENANTS].find({"_id": {"$in": ids}})}
        states: dict[tuple[str, str], TenantState] = {}
        for office, ref in wanted:
            doc = docs.get(f"{office}|{ref}")
            if _erased_id(office, ref) in docs:
                states[office, ref] = TenantState(erased=True)
            else:
                states[office, ref] = TenantState() if doc is None else _tenant(doc)
        return states

    async def tenants_of(self, office: str) -> dict[str, TenantState]:
        return {str(doc["tenant_ref"]): _tenant(doc) async for doc in self.db[TENANTS].find({"office": office})}

    async def tenants_with_requests(self, office: str, start: datetime, end: datetime) -> set[str]:
        query = {"office": office, "opened_at": {"$gte": start, "$lt": end}}
        return {
            doc["tenant_ref"] async for doc in self.db[REQUESTS].find(query, {"tenant_ref": 1}) if "tenant_ref" in doc
        }

    async def _set_tenant(self, office: str, tenant_ref: str, fields: dict[str, Any]) -> None:
        if await self.db[TENANTS].find_one({"_id": _erased_id(office, tenant_ref)}, {"_id": 1}) is not None:
            return  # erased: nothing more is kept about the tenant
        await self.db[TENANTS].update_one(
            {"_id": f"{office}|{tenant_ref}"},
            {"$set": fields, "$setOnInsert": {"office": office, "tenant_ref": tenant_ref}},
            upsert=True,
        )

    async def set_consent(self, office: str, tenant_ref: str, channel: str, granted: bool) -> None:
        await self._set_tenant(office, tenant_ref, {f"{channel}_consent": granted})

    async def set_contact(self, office: str, tenant_ref: str, contact: TenantContact) -> None:
        fields = {
            "preferred_none": contact.preferred_none,
            "has_phone": contact.has_phone,
            "has_email": contact.has_email,
        }
        await self._set_tenant(office, tenant_ref, fields)

    async def erase_tenant(self, office: str, tenant_ref: str) -> None:
        # the tenant is remembered as erased by a hash of its reference, never the reference
        await self.db[TENANTS].replace_one({"_id": _erased_id(office, tenant_ref)}, {"erased": True}, upsert=True)
        await self.db[TENANTS].delete_one({"_id": f"{office}|{tenant_ref}"})
        who = {"office": office, "tenant_ref": tenant_ref}
        await self.db[CAP_CLAIMS].delete_many(who)
        await self.db[TOKENS].delete_many(who)
        await self.db[SURVEYS].update_many(who, {"$set": {"tenant_ref": ANONYMOUS, "pending_reminder": False}})
        await self.db[ANSWERS].update_many(who, {"$set": {"tenant_ref": ANONYMOUS, "comment": None}})
        await self.db[ALERTS].update_many(who, {"$set": {"tenant_ref": ANONYMOUS, "comment": None}})
        await self.db[UNPARSED].delete_many(who)
        await self.db[VOICE].delete_many(who)
        await self.db[REQUESTS].update_many(who, {"$set": {"tenant_ref": ANONYMOUS}})

    async def close_request(self, office: str, request_id: str) -> None:
        await self.db[REQUESTS].update_one(
            {"_id": f"{office}|{request_id}"},
            {"$set": {"closed": True}, "$setOnInsert": {"office": office, "request_id": request_id}},
            upsert=True,
        )

    async def requests_in_progress(self, office: str, tenant_ref: str) -> dict[str, str | None]:
        cursor = self.db[REQUESTS].find({"office": office, "tenant_ref": tenant_ref})
        return {doc["request_id"]: doc.get("category") async for doc in cursor if not doc.get("closed")}

    async def request_category(self, office: str, request_id: str) -> str | None:
        doc = await self.db[REQUESTS].find_one({"_id": f"{office}|{request_id}"}, {"category": 1})
        category = None if doc is None else doc.get("category")
        return category if isinstance(category, str) else None

    # --- surveys -------------------------------------------------------------------------------

    async def survey_context(self, office: str, request_id: str, note: RequestNote) -> SurveyContext:
        before, request = await self._note_request(office, request_id, note)
        if not request.wants_survey or request.tenant_ref is None:
            return SurveyContext(request)
        completed = not before.wants_survey
        survey_id = survey_id_for(office, request_id)
        existing = await self.survey(survey_id)
        if existing is not None:
            return SurveyContext(request, existing, completed=completed)
        last = await self._last_survey_at(office, request.tenant_ref, survey_id)
        return SurveyContext(request, None, await self.tenant(office, request.tenant_ref), last, completed)

    async def _last_survey_at(self, office: str, tenant_ref: str, other_than: str) -> datetime | None:
        """When the tenant's latest survey after a request was created (campaigns do not count)."""
        cursor = self.db[SURVEYS].find({"office": office, "tenant_ref": tenant_ref}).sort("created_at", -1)
        async for doc in cursor:
            if doc["_id"] != other_than and not doc.get("campaign_id"):
                created: datetime = doc["created_at"]
                return created
        return None

    async def last_surveys_at(
        self, tenants: Sequence[tuple[str, str]], other_than: Collection[str] = ()
    ) -> dict[tuple[str, str], datetime]:
        wanted = set(tenants)
        if not wanted:
            return {}
        query = {
            "office": {"$in": sorted({o for o, _ in wanted})},
            "tenant_ref": {"$in": sorted({t for _, t in wanted})},
        }
        cursor = self.db[SURVEYS].find(query, {"office": 1, "tenant_ref": 1, "campaign_id": 1, "created_at": 1})
        last: dict[tuple[str, str], datetime] = {}
        async for doc in cursor:
            key = (doc["office"], doc["tenant_ref"])
            if key not in wanted or doc.get("campaign_id") or doc["_id"] in other_than:
                continue
            created: datetime = doc["created_at"]
            if key not in last or created > last[key]:
                last[key] = created
        return last

    async def create_surveys(self, planned: Sequence[tuple[Survey, int]]) -> dict[str, tuple[Survey, bool] | None]:
        """``create_survey`` of each (distinct surveys, distinct tenant weeks): one insert of the
        claims, one read of the claims already held (a redelivery, a racing instance), one insert
        of the surveys whose claim is theirs, one read of those that existed."""
        if not planned:
            return {}
        claims = [
            {"office": s.office, "tenant_ref": s.tenant_ref, "week": week, "survey_id": s.id} for s, week in planned
        ]
        lost = await insert_many_once(self.db[CAP_CLAIMS], claims)
        held: dict[tuple[str, str, int], str | None] = {}
        if lost:
            whos = [{f: claims[k][f] for f in ("office", "tenant_ref", "week")} for k in sorted(lost)]
            async for doc in self.db[CAP_CLAIMS].find({"$or": whos}):
                held[doc["office"], doc["tenant_ref"], doc["week"]] = doc.get("survey_id")
        result: dict[str, tuple[Survey, bool] | None] = {}
        ours: list[Survey] = []
        for k, (survey, week) in enumerate(planned):
            if k in lost and held.get((survey.office, survey.tenant_ref, week)) != survey.id:
                result[survey.id] = None
            else:
                ours.append(survey)
        inserted = await _insert_new(self.db, SURVEYS, [_survey_doc(s) for s in ours])
        existed = await self.surveys_of([s.id for s in ours if s.id not in inserted])
        for survey in ours:
            new = survey.id in inserted
            result[survey.id] = (survey, True) if new else (existed.get(survey.id, survey), False)
        return result

    async def create_survey(self, survey: Survey, week: int) -> tuple[Survey, bool] | None:
        who = {"office": survey.office, "tenant_ref": survey.tenant_ref, "week": week}
        if not await insert_once(self.db, CAP_CLAIMS, who | {"survey_id": survey.id}):
            held = await self.db[CAP_CLAIMS].find_one(who)
            if held is None or held.get("survey_id") != survey.id:
                return None
        if await insert_once(self.db, SURVEYS, _survey_doc(survey)):
            return survey, True
        return (await self.survey(survey.id) or survey), False

    async def survey(self, survey_id: str) -> Survey | None:
        doc = await self.db[SURVEYS].find_one({"_id": survey_id})
        return None if doc is None else _survey(doc)

    async def survey_by_token_hash(self, digest: str) -> Survey | None:
        link = await self.db[TOKENS].find_one({"_id": digest})
        if link is None:
            return None
        return await self.survey(link["survey_id"])

    async def latest_open_survey(self, office: str, tenant_ref: str, now: datetime) -> Survey | None:
        cursor = self.db[SURVEYS].find({"office": office, "tenant_ref": tenant_ref}).sort("created_at", -1)
        async for doc in cursor:
            if not doc.get("campaign_id") and not doc.get("answered") and doc["expires_at"] > now:
                return _survey(doc)
        return None

    async def add_links(self, links: list[Link]) -> None:
        docs = [
            {"_id": k.digest, "survey_id": k.survey_id, "office": k.office, "tenant_ref": k.tenant_ref} for k in links
        ]
        await insert_many_once(self.db[TOKENS], docs)

    async def drop_links(self, digests: list[str]) -> None:
        await self.db[TOKENS].delete_many({"_id": {"$in": digests}})

    async def reminders_due(self, now: datetime, limit: int = 200) -> list[Survey]:
        cursor = self.db[SURVEYS].find({"pending_reminder": True, "reminder_due_at": {"$lte": now}}).limit(limit)
        return [_survey(doc) async for doc in cursor]

    async def _set_surveys(self, survey_ids: list[str], fields: dict[str, Any]) -> None:
        await self.db[SURVEYS].update_many({"_id": {"$in": survey_ids}}, {"$set": fields})

    async def stop_reminders(self, survey_ids: list[str]) -> None:
        await self._set_surveys(survey_ids, {"pending_reminder": False})

    async def claim_reminders(self, survey_ids: list[str], now: datetime) -> set[str]:
        docs = [{"_id": s, "at": now} for s in survey_ids]
        lost = await insert_many_once(self.db[REMINDER_CLAIMS], docs)
        return {s for k, s in enumerate(survey_ids) if k not in lost}

    async def mark_invited(self, survey_ids: list[str], at: datetime, reminder_due_at: datetime) -> None:
        fields = {"invited_at": at, "reminder_due_at": reminder_due_at, "pending_reminder": True, "invited": True}
        await self._set_surveys(survey_ids, fields)

    async def mark_answered(self, survey_id: str) -> None:
        await self.db[SURVEYS].update_one({"_id": survey_id}, {"$set": {"answered": True, "pending_reminder": False}})

    async def mark_all_answered(self, survey_ids: Sequence[str]) -> None:
        if survey_ids:
            await self._set_surveys(list(survey_ids), {"answered": True, "pending_reminder": False})

    async def surveys_of(self, survey_ids: Sequence[str]) -> dict[str, Survey]:
        if not survey_ids:
            return {}
        return {doc["_id"]: _survey(doc) async for doc in self.db[SURVEYS].find({"_id": {"$in": list(survey_ids)}})}

    # --- answers -------------------------------------------------------------------------------

    async def add_answer(self, answer_id: str, answer: Answer, at: datetime) -> bool:
        return await insert_once(self.db, ANSWERS, _answer_doc(answer_id, answer, at))

    async def add_answers(self, answers: Sequence[tuple[str, Answer, datetime]]) -> set[str]:
        docs = [_answer_doc(answer_id, answer, at) for answer_id, answer, at in answers]
        return await _insert_new(self.db, ANSWERS, docs)

    async def stored_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[Answer, datetime]]:
        if not answer_ids:
            return {}
        cursor = self.db[ANSWERS].find({"_id": {"$in": list(answer_ids)}, "axes": {"$exists": False}})
        return {doc["_id"]: (_answer(doc), doc["at"]) async for doc in cursor}

    async def add_campaign_answer(self, answer_id: str, answer: CampaignAnswer, at: datetime) -> bool:
        return await insert_once(self.db, ANSWERS, _campaign_answer_doc(answer_id, answer, at))

    async def add_campaign_answers(self, answers: Sequence[tuple[str, CampaignAnswer, datetime]]) -> set[str]:
        docs = [_campaign_answer_doc(answer_id, answer, at) for answer_id, answer, at in answers]
        return await _insert_new(self.db, ANSWERS, docs)

    async def stored_campaign_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[CampaignAnswer, datetime]]:
        if not answer_ids:
            return {}
        cursor = self.db[ANSWERS].find({"_id": {"$in": list(answer_ids)}, "axes": {"$exists": True}})
        return {doc["_id"]: (_campaign_answer(doc), doc["at"]) async for doc in cursor}

    async def purge_words(self, before: datetime) -> int:
        """Comments of answers and alerts recorded before ``before`` dropped, unparsed replies
        received before it deleted (the scores and the alerts themselves stay)."""
        old = {"comment": {"$ne": None}}
        answers = await self.db[ANSWERS].update_many({"at": {"$lt": before}, **old}, {"$set": {"comment": None}})
        alerts = await self.db[ALERTS].update_many({"created_at": {"$lt": before}, **old}, {"$set": {"comment": None}})
        replies = await self.db[UNPARSED].delete_many({"at": {"$lt": before}})
        return answers.modified_count + alerts.modified_count + replies.deleted_count

    async def add_unparsed(self, reply: UnparsedReply) -> None:
        doc = {
            "_id": reply.id,
            "office": reply.office,
            "tenant_ref": reply.tenant_ref,
            "text": reply.text,
            "reason": reply.reason,
            "at": reply.at,
        }
        await insert_once(self.db, UNPARSED, doc)

    async def campaign_scores(self, campaign_id: str) -> list[CampaignScores]:
        query = {"campaign_id": campaign_id}
        cursor = self.db[ANSWERS].find(query, {"office": 1, "axes": 1, "nps": 1})
        return [CampaignScores.of(doc) async for doc in cursor]

    # --- alerts --------------------------------------------------------------------------------

    async def add_alert(self, alert: Alert) -> bool:
        return await insert_once(self.db, ALERTS, _alert_doc(alert))

    async def add_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        return await _insert_new(self.db, ALERTS, [_alert_doc(a) for a in alerts])

    async def alert(self, alert_id: str) -> Alert | None:
        doc = await self.db[ALERTS].find_one({"_id": alert_id})
        return None if doc is None else _alert(doc)

    async def alerts(self, office: str | None, open_only: bool, limit: int = 500) -> list[Alert]:
        query: dict[str, Any] = {}
        if office is not None:
            query["office"] = office
        if open_only:
            query["open"] = True
        cursor = self.db[ALERTS].find(query).sort("created_at", 1).limit(limit)
        return [_alert(doc) async for doc in cursor]

    async def acknowledge(self, alert_id: str, at: datetime, action: str | None = None) -> bool:
        if not await insert_once(self.db, ALERT_CLAIMS, {"_id": f"ack|{alert_id}", "at": at}):
            return False
        fields = {"open": False, "acknowledged_at": at, "action": action}
        await self.db[ALERTS].update_one({"_id": alert_id}, {"$set": fields})
        return True

    async def overdue_alerts(self, now: datetime, limit: int = 200) -> list[Alert]:
        query = {"open": True, "overdue": {"$ne": True}, "historical": {"$ne": True}, "follow_up_due_at": {"$lte": now}}
        cursor = self.db[ALERTS].find(query).sort("follow_up_due_at", 1).limit(limit)
        return [_alert(doc) async for doc in cursor]

    async def mark_overdue(self, alert_id: str, at: datetime) -> bool:
        if not await insert_once(self.db, ALERT_CLAIMS, {"_id": f"overdue|{alert_id}", "at": at}):
            return False
        await self.db[ALERTS].update_one({"_id": alert_id}, {"$set": {"overdue": True}})
        return True

    async def open_alert_counts(self) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"open": True, "historical": {"$ne": True}}},
            {"$group": {"_id": "$office", "n": {"$sum": 1}}},
        ]
        cursor = await self.db[ALERTS].aggregate(pipeline)
        return {doc["_id"]: int(doc["n"]) async for doc in cursor}

    # --- tenants' words -------------------------------------------------------------------------

    async def add_voice(self, entry: VoiceEntry) -> bool:
        return await insert_once(self.db, VOICE, _voice_doc(entry))

    async def add_voices(self, entries: Sequence[VoiceEntry]) -> set[str]:
        return await _insert_new(self.db, VOICE, [_voice_doc(e) for e in entries])

    async def voice(self, entry_id: str) -> VoiceEntry | None:
        doc = await self.db[VOICE].find_one({"_id": entry_id})
        return None if doc is None else _voice(doc)

    async def voices(self, query: VoiceQuery, offices: Sequence[str]) -> list[VoiceEntry]:
        """Newest day first, one equality lookup of the indexed ``day`` per office and day (with the
        status and category, also pushed down to SQLite), until the limit is reached: a list of the
        newest entries reads a few days, not the whole period (FerretDB decodes every row SQLite
        returns, then filters and sorts them; measured: equalities beat one ``$in`` of the days)."""
        scope = [query.office] if query.office is not None else sorted(offices)
        base: dict[str, Any] = {"at": {"$gte": query.since, "$lt": query.until}}
        if query.status is not None:
            base["status"] = query.status.value
        if query.category is not None:
            base["category"] = query.category
        if query.score_min is not None or query.score_max is not None:
            base["score"] = {k: v for k, v in (("$gte", query.score_min), ("$lte", query.score_max)) if v is not None}
        found: list[VoiceEntry] = []
        for day in reversed(query.days()):
            wanted = query.limit - len(found)
            if wanted <= 0:
                break
            today: list[VoiceEntry] = []
            for office in scope:
                cursor = self.db[VOICE].find(base | {"day": f"{office}|{day}"}).sort([("at", -1), ("_id", -1)])
                today += [_voice(doc) async for doc in cursor.limit(wanted)]
            # days are disjoint and taken newest first: a day's entries are all older than the last's
            found += sorted(today, key=lambda e: (e.at, e.id), reverse=True)[:wanted]
        return found

    async def mark_handled(self, entry_id: str, at: datetime, action: str) -> None:
        fields = {"status": VoiceStatus.HANDLED.value, "handled_at": at, "action": action}
        await self.db[VOICE].update_one({"_id": entry_id}, {"$set": fields})

    async def purge_voice(self, before: datetime) -> int:
        result = await self.db[VOICE].delete_many({"at": {"$lt": before}})
        return int(result.deleted_count)

    # --- campaigns -----------------------------------------------------------------------------

    async def add_campaign(self, campaign: Campaign) -> None:
        await self.db[CAMPAIGNS].insert_one(_campaign_doc(campaign))

    async def campaign(self, campaign_id: str) -> Campaign | None:
        doc = await self.db[CAMPAIGNS].find_one({"_id": campaign_id})
        return None if doc is None else _campaign(doc)

    async def campaigns(self, status: CampaignStatus | None = None) -> list[Campaign]:
        query: dict[str, Any] = {} if status is None else {"status": status.value}
        return [_campaign(doc) async for doc in self.db[CAMPAIGNS].find(query).sort("created_at", 1)]

    async def set_campaign_state(
        self,
        campaign_id: str,
        status: CampaignStatus,
        *,
        targeted: int | None = None,
        opened_at: datetime | None = None,
        closed_at: datetime | None = None,
    ) -> None:
        fields: dict[str, Any] = {"status": status.value}
        for name, value in (("targeted", targeted), ("opened_at", opened_at), ("closed_at", closed_at)):
            if value is not None:
                fields[name] = value
        await self.db[CAMPAIGNS].update_one({"_id": campaign_id}, {"$set": fields})

    async def add_surveys(self, surveys: list[Survey]) -> int:
        docs = [_survey_doc(s) for s in surveys]
        added = 0
        for start in range(0, len(docs), 500):
            chunk = docs[start : start + 500]
            # some may exist already: a second open, another instance
            added += len(chunk) - len(await insert_many_once(self.db[SURVEYS], chunk))
        return added

    async def uninvited(self, campaign_id: str, limit: int) -> list[Survey]:
        query = {"campaign_id": campaign_id, "invited": False}
        return [_survey(doc) async for doc in self.db[SURVEYS].find(query).limit(limit)]

    async def campaign_counts(self, campaign_id: str) -> dict[str, OfficeCounts]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"campaign_id": campaign_id}},
            {"$group": {"_id": {"office": "$office", "invited": "$invited"}, "n": {"$sum": 1}}},
        ]
        counts: dict[str, OfficeCounts] = {}
        async for doc in await self.db[SURVEYS].aggregate(pipeline):
            office, invited, n = doc["_id"]["office"], doc["_id"]["invited"], int(doc["n"])
            entry = counts.get(office, OfficeCounts())
            counts[office] = OfficeCounts(entry.targeted + n, entry.invited + (n if invited else 0))
        return counts
