"""Use cases of the feedback service: create surveys from request events, send reminders, record
answers from every channel, raise detractor alerts, erase tenants. Dependencies are passed in;
the clock is injectable.

Every event we emit goes through the outbox: recorded under its (deterministic) id, published,
then marked published. A redelivered cause finds the id already published and emits nothing; a
crash between record and publish is repaired by the periodic sweep (same id, so downstream
deduplicates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.feedback import domain
from services.feedback.metrics import FeedbackMetrics
from services.feedback.store import (
    ALERTS,
    ANSWERS,
    CAP_CLAIMS,
    REMINDER_CLAIMS,
    SURVEYS,
    UNPARSED,
    FeedbackStore,
    insert_once,
)
from shared.events import (
    CloudEvent,
    DetractorAlert,
    PreferredChannel,
    RepairDone,
    RequestClosed,
    RequestOpened,
    Resolution,
    SatisfactionRated,
    SmsReplied,
    SurveyRequested,
    TenantConsentChanged,
    TenantContactUpdated,
    TenantErased,
    parse_event,
    service_event,
)

log = logging.getLogger("canopee.feedback")

Clock = Callable[[], datetime]
SERVICE = "feedback"
ANONYMOUS = "anonymised"


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...


class PageOutcome(StrEnum):
    OPEN = "open"  # valid and not answered yet
    THANKS = "thanks"
    ALREADY = "already"
    INVALID = "invalid"  # unknown or expired: one answer for both


@dataclass(frozen=True)
class Answer:
    office: str
    tenant_ref: str
    score: int
    channel: str
    survey_id: str | None = None
    request_id: str | None = None
    nps: int | None = None
    comment: str | None = None


class FeedbackService:
    """The feedback use cases over a store, a publisher and a clock."""

    def __init__(
        self,
        *,
        store: FeedbackStore,
        publisher: EventPublisher,
        metrics: FeedbackMetrics,
        secret: str,
        url_base: str,
        clock: Clock = utc_now,
        outbox_grace: timedelta = timedelta(seconds=10),
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.secret = secret
        self.url_base = url_base
        self.clock = clock
        self.outbox_grace = outbox_grace

    # --- the consumer ------------------------------------------------------------------------

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        """Apply a batch of events in order (every step is idempotent)."""
        for event in events:
            await self.apply_one(event)

    async def apply_one(self, event: CloudEvent) -> None:
        office = event.officeid
        if isinstance(event, RequestOpened):
            doc = await self.store.note_request(office, event.data.request_id, {"tenant_ref": event.data.tenant_ref})
            await self._maybe_survey(doc)
        elif isinstance(event, RepairDone):
            doc = await self.store.note_request(office, event.data.request_id, {"repaired": True, "trigger": True})
            await self._maybe_survey(doc)
        elif isinstance(event, RequestClosed):
            if event.data.resolution is Resolution.RESOLVED:
                doc = await self.store.note_request(office, event.data.request_id, {"trigger": True})
                await self._maybe_survey(doc)
        elif isinstance(event, TenantConsentChanged):
            await self.store.set_tenant(
                office, event.data.tenant_ref, {f"{event.data.channel.value}_consent": event.data.granted}
            )
        elif isinstance(event, TenantContactUpdated):
            none = event.data.preferred_channel is PreferredChannel.NONE
            await self.store.set_tenant(office, event.data.tenant_ref, {"preferred_none": none})
        elif isinstance(event, TenantErased):
            await self.store.set_tenant(office, event.data.tenant_ref, {"erased": True})
            await self.store.erase_tenant(office, event.data.tenant_ref, ANONYMOUS)
        elif isinstance(event, SatisfactionRated):
            await self._office_rating(event)
        elif isinstance(event, SmsReplied):
            await self._sms(office, event.data.tenant_ref, event.data.text, event.id)

    # --- surveys -----------------------------------------------------------------------------

    async def _maybe_survey(self, request: dict[str, object]) -> None:
        tenant_ref, trigger = request.get("tenant_ref"), request.get("trigger")
        if not isinstance(tenant_ref, str) or not trigger or tenant_ref == ANONYMOUS:
            return  # the request's tenant or its end is not known yet: the later event completes it
        office, request_id = str(request["office"]), str(request["request_id"])
        survey_id = domain.survey_id_for(office, request_id)
        existing = await self.store.survey(survey_id)
        if existing is not None:  # a redelivery: make sure its first message went out
            await self._emit(self._survey_event(existing, reminder=False))
            return
        now = self.clock()
        last = await self.store.last_survey_at(office, tenant_ref, survey_id)
        decision = domain.decide(await self.store.tenant(office, tenant_ref), last, now)
        if decision is domain.Decision.SEND:
            claim = {"office": office, "tenant_ref": tenant_ref, "week": domain.cap_week(now), "survey_id": survey_id}
            if not await insert_once(self.store.db, CAP_CLAIMS, claim):
                held = await self.store.db[CAP_CLAIMS].find_one(
                    {"office": office, "tenant_ref": tenant_ref, "week": domain.cap_week(now)}
                )
                if held is None or held.get("survey_id") != survey_id:
                    decision = domain.Decision.CAPPED
        if decision is not domain.Decision.SEND:
            self.metrics.surveys.labels(office, decision.value).inc()
            return
        token = domain.survey_token(self.secret, survey_id)
        doc = {
            "_id": survey_id,
            "office": office,
            "request_id": request_id,
            "tenant_ref": tenant_ref,
            "token_hash": domain.token_hash(token),
            "created_at": now,
            "expires_at": now + domain.VALIDITY,
            "reminder_due_at": now + domain.REMINDER_AFTER,
            "pending_reminder": True,
            "answered": False,
        }
        # the link first: a survey is never visible without its token (a crash leaves an orphan link)
        await self.store.add_token(str(doc["token_hash"]), survey_id)
        if not await insert_once(self.store.db, SURVEYS, doc):
            stored = await self.store.survey(survey_id)
            if stored is not None:
                doc = stored
        else:
            self.metrics.surveys.labels(office, decision.value).inc()
        await self._emit(self._survey_event(doc, reminder=False))

    def _survey_event(self, survey: dict[str, object], *, reminder: bool) -> SurveyRequested:
        survey_id = str(survey["_id"])
        token = domain.survey_token(self.secret, survey_id)
        created = survey["created_at"]
        assert isinstance(created, datetime)
        at = created + domain.REMINDER_AFTER if reminder else created
        return service_event(
            SurveyRequested,
            service=SERVICE,
            officeid=str(survey["office"]),
            subject=survey_id,
            time=at,
            data={
                "survey_id": survey_id,
                "request_id": survey["request_id"],
                "tenant_ref": survey["tenant_ref"],
                "url": f"{self.url_base}/s/{token}",
                "expires_at": (created + domain.VALIDITY).isoformat(),
                "reminder": reminder,
            },
            cause=[survey_id, "reminder" if reminder else "first"],
        )

    async def _emit(self, event: CloudEvent) -> None:
        added = await self.store.outbox_add(event.id, event.model_dump_json(exclude_none=True), self.clock())
        if not added and await self.store.outbox_published(event.id):
            return
        await self.publisher.publish([event])
        await self.store.outbox_done([event.id])

    async def sweep(self) -> None:
        """Send the reminders due (claimed once per survey) and publish events left unpublished."""
        now = self.clock()
        for survey in await self.store.reminders_due(now):
            await self.store.set_survey(survey["_id"], {"pending_reminder": False})
            if survey.get("answered") or survey["expires_at"] <= now:
                continue
            if not (await self.store.tenant(survey["office"], survey["tenant_ref"])).reachable:
                continue
            if not await insert_once(self.store.db, REMINDER_CLAIMS, {"_id": survey["_id"], "at": now}):
                continue  # another instance sends it
            await self._emit(self._survey_event(survey, reminder=True))
            self.metrics.reminders.labels(survey["office"]).inc()
        pending = await self.store.outbox_pending(now - self.outbox_grace)
        if pending:
            await self.publisher.publish([parse_event(doc["event"]) for doc in pending if doc.get("event")])
            await self.store.outbox_done([doc["_id"] for doc in pending])

    async def refresh_gauges(self) -> None:
        counts = await self.store.open_alert_counts()
        self.metrics.open_alerts.clear()
        for office, n in counts.items():
            self.metrics.open_alerts.labels(office).set(n)

    # --- answers -----------------------------------------------------------------------------

    async def record(self, answer: Answer, *, publish: bool) -> bool:
        """Record an answer if it is the first for its survey (or request); True if it was.

        ``publish``: the answer came through one of our channels (page, SMS) and is published as
        ``satisfaction.rated``; an answer read from the topic is not published again."""
        now = self.clock()
        key = domain.answer_key(answer.office, answer.survey_id, answer.request_id)
        doc = {
            "_id": key,
            "office": answer.office,
            "tenant_ref": answer.tenant_ref,
            "survey_id": answer.survey_id,
            "request_id": answer.request_id,
            "score": answer.score,
            "nps": answer.nps,
            "comment": answer.comment,
            "channel": answer.channel,
            "at": now,
        }
        if not await insert_once(self.store.db, ANSWERS, doc):
            return False
        if answer.survey_id is not None:
            await self.store.set_survey(answer.survey_id, {"answered": True, "pending_reminder": False})
        self.metrics.answers.labels(answer.office, answer.channel, str(answer.score)).inc()
        if publish:
            data = {
                "survey_id": answer.survey_id,
                "request_id": answer.request_id,
                "tenant_ref": answer.tenant_ref,
                "score": answer.score,
                "nps": answer.nps,
                "comment": answer.comment,
                "channel": answer.channel,
            }
            rated = service_event(
                SatisfactionRated,
                service=SERVICE,
                officeid=answer.office,
                subject=answer.survey_id or str(answer.request_id),
                time=now,
                data={k: v for k, v in data.items() if v is not None},
                cause=[key, "answer"],
            )
            await self._emit(rated)
        if domain.is_detractor(answer.score):
            await self._alert(key, answer, now)
        return True

    async def _alert(self, key: str, answer: Answer, now: datetime) -> None:
        alert_id = domain.alert_id_for(key)
        comment = domain.redact(answer.comment)
        due = now + domain.FOLLOW_UP
        doc = {
            "_id": alert_id,
            "office": answer.office,
            "tenant_ref": answer.tenant_ref,
            "survey_id": answer.survey_id,
            "request_id": answer.request_id,
            "score": answer.score,
            "comment": comment,
            "follow_up_due_at": due,
            "created_at": now,
            "open": True,
            "acknowledged_at": None,
        }
        await insert_once(self.store.db, ALERTS, doc)
        data = {k: doc[k] for k in ("survey_id", "request_id", "tenant_ref", "score", "comment") if doc[k] is not None}
        data["follow_up_due_at"] = due.isoformat()
        event = service_event(
            DetractorAlert,
            service=SERVICE,
            officeid=answer.office,
            subject=answer.survey_id or str(answer.request_id),
            time=now,
            data=data,
            cause=[alert_id],
        )
        await self._emit(event)

    async def _office_rating(self, event: SatisfactionRated) -> None:
        # ours (page or SMS) were recorded before being published: the insert below finds them
        d = event.data
        survey_id = d.survey_id
        if survey_id is None and d.request_id is not None:
            survey = await self.store.survey(domain.survey_id_for(event.officeid, d.request_id))
            survey_id = survey["_id"] if survey is not None else None
        answer = Answer(
            office=event.officeid,
            tenant_ref=d.tenant_ref,
            score=d.score,
            channel=d.channel.value,
            survey_id=survey_id,
            request_id=d.request_id,
            nps=d.nps,
            comment=d.comment,
        )
        await self.record(answer, publish=False)

    async def _sms(self, office: str, tenant_ref: str, text: str, event_id: str) -> None:
        score = domain.sms_score(text)
        survey = await self.store.latest_open_survey(office, tenant_ref, self.clock())
        if score is None or survey is None:
            reason = "no_score" if score is None else "no_open_survey"
            unparsed = {"_id": event_id, "office": office, "tenant_ref": tenant_ref, "text": text, "reason": reason}
            await insert_once(self.store.db, UNPARSED, unparsed | {"at": self.clock()})
            return
        answer = Answer(
            office=office,
            tenant_ref=tenant_ref,
            score=score,
            channel="sms",
            survey_id=survey["_id"],
            request_id=survey.get("request_id"),
            comment=text,
        )
        await self.record(answer, publish=True)

    # --- the tenant page ---------------------------------------------------------------------

    async def open_survey(self, token: str) -> tuple[PageOutcome, dict[str, object] | None]:
        """The survey a link opens: open, already answered, or invalid (unknown or expired alike)."""
        if not token or len(token) > 100:
            return PageOutcome.INVALID, None
        survey = await self.store.survey_by_token_hash(domain.token_hash(token))
        if survey is None or survey["expires_at"] <= self.clock():
            return PageOutcome.INVALID, None
        if survey.get("answered"):
            return PageOutcome.ALREADY, survey
        return PageOutcome.OPEN, survey

    async def web_answer(self, token: str, score: int, nps: int | None, comment: str | None) -> PageOutcome:
        outcome, survey = await self.open_survey(token)
        if outcome is not PageOutcome.OPEN or survey is None:
            return outcome
        answer = Answer(
            office=str(survey["office"]),
            tenant_ref=str(survey["tenant_ref"]),
            score=score,
            channel="web",
            survey_id=str(survey["_id"]),
            request_id=str(survey["request_id"]) if survey.get("request_id") else None,
            nps=nps,
            comment=comment or None,
        )
        first = await self.record(answer, publish=True)
        return PageOutcome.THANKS if first else PageOutcome.ALREADY

    # --- alerts ------------------------------------------------------------------------------

    async def ack(self, alert_id: str, office: str | None) -> dict[str, object] | None:
        """Acknowledge an alert; None when it does not exist or belongs to another office."""
        alert = await self.store.alert(alert_id)
        if alert is None or (office is not None and alert["office"] != office):
            return None
        if alert.get("open"):
            now = self.clock()
            await self.store.db[ALERTS].update_one({"_id": alert_id}, {"$set": {"open": False, "acknowledged_at": now}})
            alert = await self.store.alert(alert_id)
        return alert
