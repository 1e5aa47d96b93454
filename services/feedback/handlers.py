"""Use cases of the feedback service: create surveys from request events, send reminders, record
answers from every channel, raise detractor alerts, erase tenants, run campaigns. Dependencies are
passed in; the clock is injectable.

Every event we emit goes through the outbox: recorded under its (deterministic) id, published,
then marked published. A redelivered cause finds the id already published and emits nothing; a
crash between record and publish is repaired by the periodic sweep (same id, so downstream
deduplicates). A survey link's token is random and only its hash is stored: the plaintext lives
in the outbox copy of the ``survey.requested`` event until it is published, so a retry before
that point publishes the same link, and a retry after it publishes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from services.feedback import domain
from services.feedback.metrics import FeedbackMetrics
from services.feedback.store import (
    ALERTS,
    ANSWERS,
    CAMPAIGNS,
    CAP_CLAIMS,
    SURVEYS,
    UNPARSED,
    FeedbackStore,
    insert_once,
)
from shared.events import (
    TYPE_PREFIX,
    Axis,
    CampaignAnswered,
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
    derived_id,
    parse_event,
    service_event,
)

log = logging.getLogger("canopee.feedback")

Clock = Callable[[], datetime]
SERVICE = "feedback"
ANONYMOUS = "anonymised"
_SURVEY_REQUESTED = f"{TYPE_PREFIX}survey.requested.v1"


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...


class PageOutcome(StrEnum):
    OPEN = "open"  # valid and not answered yet
    THANKS = "thanks"
    ALREADY = "already"
    INVALID = "invalid"  # unknown, expired or closed: one answer for all


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


@dataclass(frozen=True)
class CampaignAnswer:
    office: str
    tenant_ref: str
    campaign_id: str
    survey_id: str
    axes: dict[str, int]
    channel: str = "web"
    nps: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class OpenSurvey:
    """What the page needs to show a survey: the survey and, for a campaign, its questions."""

    survey: dict[str, Any]
    questions: domain.Questions | None = None
    title: str | None = None


@dataclass(frozen=True)
class CampaignSpec:
    """An operator's campaign definition (validated by the API)."""

    title: str
    offices: tuple[str, ...]
    selection: domain.Selection
    closes_at: datetime
    questions: domain.Questions = field(default_factory=domain.Questions)
    period_start: datetime | None = None
    period_end: datetime | None = None


class CampaignError(Exception):
    """A campaign action that makes no sense now (e.g. opening a closed campaign)."""


class FeedbackService:
    """The feedback use cases over a store, a publisher and a clock."""

    def __init__(
        self,
        *,
        store: FeedbackStore,
        publisher: EventPublisher,
        metrics: FeedbackMetrics,
        url_base: str,
        clock: Clock = utc_now,
        outbox_grace: timedelta = timedelta(seconds=10),
        campaign_rate: int = 50,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.url_base = url_base
        self.clock = clock
        self.outbox_grace = outbox_grace
        self.campaign_rate = campaign_rate

    # --- the consumer ------------------------------------------------------------------------

    async def apply(self, events: Sequence[CloudEvent]) -> None:
        """Apply a batch of events in order (every step is idempotent)."""
        for event in events:
            await self.apply_one(event)

    async def apply_one(self, event: CloudEvent) -> None:
        office = event.officeid
        if isinstance(event, RequestOpened):
            fields = {"tenant_ref": event.data.tenant_ref, "opened_at": event.time}
            doc = await self.store.note_request(office, event.data.request_id, fields)
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
            contact = event.data
            fields = {
                "preferred_none": contact.preferred_channel is PreferredChannel.NONE,
                "has_phone": contact.phone is not None,
                "has_email": contact.email is not None,
            }
            await self.store.set_tenant(office, contact.tenant_ref, fields)
        elif isinstance(event, TenantErased):
            await self.store.set_tenant(office, event.data.tenant_ref, {"erased": True})
            await self.store.erase_tenant(office, event.data.tenant_ref, ANONYMOUS)
        elif isinstance(event, SatisfactionRated):
            await self._office_rating(event)
        elif isinstance(event, CampaignAnswered):
            d = event.data
            axes = {k: v for k, v in d.axes.model_dump().items() if v is not None}
            answer = CampaignAnswer(
                office=office,
                tenant_ref=d.tenant_ref,
                campaign_id=d.campaign_id,
                survey_id=d.survey_id,
                axes=axes,
                channel=d.channel.value,
                nps=d.nps,
                comment=d.comment,
            )
            await self.record_campaign(answer, publish=False)
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
            await self._invite(existing, reminder=False)
            return
        now = self.clock()
        last = await self.store.last_survey_at(office, tenant_ref, survey_id)
        decision = domain.decide(await self.store.tenant(office, tenant_ref), last, now)
        if decision is domain.Decision.SEND:
            week = domain.cap_week(now)
            claim = {"office": office, "tenant_ref": tenant_ref, "week": week, "survey_id": survey_id}
            if not await insert_once(self.store.db, CAP_CLAIMS, claim):
                held = await self.store.db[CAP_CLAIMS].find_one(
                    {"office": office, "tenant_ref": tenant_ref, "week": week}
                )
                if held is None or held.get("survey_id") != survey_id:
                    decision = domain.Decision.CAPPED
        if decision is not domain.Decision.SEND:
            self.metrics.surveys.labels(office, decision.value).inc()
            return
        doc: dict[str, Any] = {
            "_id": survey_id,
            "office": office,
            "request_id": request_id,
            "campaign_id": None,
            "tenant_ref": tenant_ref,
            "created_at": now,
            "invited_at": now,
            "invited": True,
            "expires_at": now + domain.VALIDITY,
            "reminder_due_at": now + domain.REMINDER_AFTER,
            "pending_reminder": True,
            "answered": False,
        }
        if await insert_once(self.store.db, SURVEYS, doc):
            self.metrics.surveys.labels(office, decision.value).inc()
        else:
            doc = await self.store.survey(survey_id) or doc
        await self._invite(doc, reminder=False)

    def _survey_event(self, survey: dict[str, Any], token: str, *, reminder: bool) -> SurveyRequested:
        survey_id = str(survey["_id"])
        invited = survey["invited_at"]
        assert isinstance(invited, datetime)
        at = invited + domain.REMINDER_AFTER if reminder else invited
        origin = (
            {"campaign_id": survey["campaign_id"]}
            if survey.get("campaign_id")
            else {"request_id": survey["request_id"]}
        )
        return service_event(
            SurveyRequested,
            service=SERVICE,
            officeid=str(survey["office"]),
            subject=survey_id,
            time=at,
            data={
                "survey_id": survey_id,
                **origin,
                "tenant_ref": survey["tenant_ref"],
                "url": f"{self.url_base}/s/{token}",
                "expires_at": survey["expires_at"].isoformat(),
                "reminder": reminder,
            },
            cause=[survey_id, "reminder" if reminder else "first"],
        )

    async def _invite(self, survey: dict[str, Any], *, reminder: bool) -> bool:
        """Publish a survey's invitation (or reminder) once, with a fresh link; True if this call
        published it."""
        return bool(await self._invite_many([survey], reminder=reminder))

    async def _invite_many(self, surveys: Sequence[dict[str, Any]], *, reminder: bool) -> list[dict[str, Any]]:
        """Publish the invitations (or reminders) of several surveys, each once with a fresh link,
        in a few bulk writes; returns the surveys whose event this call published."""
        kind = "reminder" if reminder else "first"
        by_event = {derived_id(_SURVEY_REQUESTED, str(s["_id"]), kind): s for s in surveys}
        stored = await self.store.outbox_many(list(by_event))
        to_publish: list[CloudEvent] = []
        published: list[dict[str, Any]] = []
        fresh: list[tuple[str, str, dict[str, Any]]] = []  # (event id, token, survey)
        for event_id, survey in by_event.items():
            doc = stored.get(event_id)
            if doc is None:
                fresh.append((event_id, domain.new_token(), survey))
            elif not doc.get("published") and doc.get("event"):
                # recorded by an earlier attempt: its link is the one that goes out
                to_publish.append(parse_event(doc["event"]))
                published.append(survey)
        if fresh:
            # the links first: an event is never published with a link that does not resolve
            links = [
                {
                    "_id": domain.token_hash(token),
                    "survey_id": str(survey["_id"]),
                    "office": survey["office"],
                    "tenant_ref": survey["tenant_ref"],
                }
                for _, token, survey in fresh
            ]
            await self.store.add_links(links)
            events = [self._survey_event(survey, token, reminder=reminder) for _, token, survey in fresh]
            now = self.clock()
            rows = [{"event_id": e.id, "event": e.model_dump_json(exclude_none=True)} for e in events]
            lost = await self.store.outbox_add_many(rows, now)
            if lost:  # another instance recorded these first: theirs go out, our links are dropped
                await self.store.drop_tokens([links[k]["_id"] for k in lost])
            for k, (event, (_, _, survey)) in enumerate(zip(events, fresh, strict=True)):
                if k not in lost:
                    to_publish.append(event)
                    published.append(survey)
        if to_publish:
            await self.publisher.publish(to_publish)
            await self.store.outbox_done([e.id for e in to_publish])
        return published

    async def _emit(self, event: CloudEvent) -> None:
        added = await self.store.outbox_add(event.id, event.model_dump_json(exclude_none=True), self.clock())
        if not added and await self.store.outbox_published(event.id):
            return
        await self.publisher.publish([event])
        await self.store.outbox_done([event.id])

    async def sweep(self) -> None:
        """Send the reminders due (claimed once per survey) and publish events left unpublished."""
        now = self.clock()
        due = await self.store.reminders_due(now)
        if due:
            await self.store.set_surveys([d["_id"] for d in due], {"pending_reminder": False})
        campaigns: dict[str, dict[str, Any] | None] = {}
        candidates = []
        for survey in due:
            if survey.get("answered") or survey["expires_at"] <= now or survey["tenant_ref"] == ANONYMOUS:
                continue
            campaign_id = survey.get("campaign_id")
            if campaign_id:
                if campaign_id not in campaigns:
                    campaigns[campaign_id] = await self.store.campaign(campaign_id)
                campaign = campaigns[campaign_id]
                if campaign is None or not domain.campaign_accepts(campaign["status"], campaign["closes_at"], now):
                    continue
            elif not (await self.store.tenant(survey["office"], survey["tenant_ref"])).reachable:
                continue
            candidates.append(survey)
        # a reminder is claimed by inserting the survey's id: several instances send it once
        claimed = await self.store.claim_reminders([s["_id"] for s in candidates], now)
        for survey in await self._invite_many([s for s in candidates if s["_id"] in claimed], reminder=True):
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

    # --- campaigns ---------------------------------------------------------------------------

    async def create_campaign(self, spec: CampaignSpec, created_by: str) -> dict[str, Any]:
        now = self.clock()
        doc: dict[str, Any] = {
            "_id": "CMP-" + secrets.token_hex(8),
            "title": spec.title,
            "offices": list(spec.offices),
            "selection": spec.selection.value,
            "period_start": spec.period_start,
            "period_end": spec.period_end,
            "closes_at": spec.closes_at,
            "questions": {
                "axes": [a.value for a in spec.questions.axes],
                "nps": spec.questions.nps,
                "comment": spec.questions.comment,
            },
            "status": domain.CampaignStatus.DRAFT.value,
            "created_at": now,
            "created_by": created_by,
            "opened_at": None,
            "closed_at": None,
            "targeted": None,
        }
        await self.store.db[CAMPAIGNS].insert_one(doc)
        return doc

    async def open_campaign(self, campaign: dict[str, Any]) -> dict[str, Any]:
        """Select the campaign's tenants (one survey each, not yet sent) and open it: the pacing
        loop then sends the invitations a few at a time."""
        status = domain.transition(domain.CampaignStatus(campaign["status"]), "open")
        now = self.clock()
        if status is None or now >= campaign["closes_at"]:
            raise CampaignError("a closed campaign cannot be opened again")
        targeted = 0
        for office in campaign["offices"]:
            tenants = await self._select(campaign, office)
            docs = [self._campaign_survey(campaign, office, tenant, now) for tenant in sorted(tenants)]
            await self.store.add_campaign_surveys(docs)
            targeted += len(docs)
        fields: dict[str, Any] = {"status": status.value, "targeted": targeted}
        if campaign.get("opened_at") is None:
            fields["opened_at"] = now
        await self.store.set_campaign(campaign["_id"], fields)
        return await self.store.campaign(campaign["_id"]) or campaign

    async def _select(self, campaign: dict[str, Any], office: str) -> set[str]:
        if campaign["selection"] == domain.Selection.REQUESTS.value:
            tenants = await self.store.tenants_with_requests(office, campaign["period_start"], campaign["period_end"])
            states = {t: await self.store.tenant(office, t) for t in tenants}
            return {t for t, state in states.items() if state.reachable and t != ANONYMOUS}
        selected = set()
        for doc in await self.store.tenants_of(office):
            state = domain.TenantState(
                sms_consent=doc.get("sms_consent", True),
                email_consent=doc.get("email_consent", True),
                preferred_none=doc.get("preferred_none", False),
                erased=doc.get("erased", False),
                has_phone=doc.get("has_phone", False),
                has_email=doc.get("has_email", False),
            )
            if state.known_consented_channel:
                selected.add(str(doc["tenant_ref"]))
        return selected

    @staticmethod
    def _campaign_survey(campaign: dict[str, Any], office: str, tenant_ref: str, now: datetime) -> dict[str, Any]:
        return {
            "_id": domain.campaign_survey_id(campaign["_id"], office, tenant_ref),
            "office": office,
            "request_id": None,
            "campaign_id": campaign["_id"],
            "tenant_ref": tenant_ref,
            "created_at": now,
            "invited_at": None,
            "invited": False,
            "expires_at": campaign["closes_at"],
            "reminder_due_at": None,
            "pending_reminder": False,
            "answered": False,
        }

    async def close_campaign(self, campaign: dict[str, Any]) -> dict[str, Any]:
        status = domain.transition(domain.CampaignStatus(campaign["status"]), "close")
        if status is None:
            raise CampaignError("this campaign cannot be closed")
        fields: dict[str, Any] = {"status": status.value}
        if campaign.get("closed_at") is None:
            fields["closed_at"] = self.clock()
        await self.store.set_campaign(campaign["_id"], fields)
        return await self.store.campaign(campaign["_id"]) or campaign

    async def send_campaigns(self) -> int:
        """One pacing tick: send at most ``campaign_rate`` invitations over the open campaigns, and
        close campaigns past their closing date. Returns how many invitations were sent."""
        now = self.clock()
        budget = self.campaign_rate
        sent = 0
        for campaign in await self.store.campaigns(domain.CampaignStatus.OPEN.value):
            if now >= campaign["closes_at"]:
                await self.store.set_campaign(
                    campaign["_id"], {"status": domain.CampaignStatus.CLOSED.value, "closed_at": now}
                )
                continue
            if budget <= 0:
                break
            batch = await self.store.uninvited(campaign["_id"], budget)
            if not batch:
                continue
            ids = [d["_id"] for d in batch]
            fields = {"invited_at": now, "reminder_due_at": now + domain.REMINDER_AFTER, "pending_reminder": True}
            for survey in await self._invite_many([d | fields for d in batch], reminder=False):
                sent += 1
                self.metrics.campaign_invitations.labels(survey["office"]).inc()
            # one write after sending (updates are the slow path on FerretDB): a crash before it
            # leaves the surveys uninvited, and the next tick finds their events already published
            await self.store.set_surveys(ids, fields | {"invited": True})
            budget -= len(batch)
        return sent

    async def campaign_status(self, campaign: dict[str, Any]) -> dict[str, Any]:
        counts = await self.store.campaign_counts(campaign["_id"])
        return {
            "targeted": sum(c["targeted"] for c in counts.values()),
            "invited": sum(c["invited"] for c in counts.values()),
            "by_office": counts,
        }

    async def campaign_results(self, campaign: dict[str, Any], office: str | None) -> list[domain.OfficeResult]:
        """Results per office and axis; an office caller sees its own office only."""
        offices = [o for o in campaign["offices"] if office is None or o == office]
        counts = await self.store.campaign_counts(campaign["_id"])
        invited = {o: c["invited"] for o, c in counts.items()}
        answers = await self.store.campaign_answers(campaign["_id"])
        return domain.campaign_results(offices, campaign["questions"]["axes"], invited, answers)

    async def record_campaign(self, answer: CampaignAnswer, *, publish: bool) -> bool:
        """Record a campaign answer if it is the first for its survey; True if it was."""
        now = self.clock()
        key = domain.answer_key(answer.office, answer.survey_id, None)
        doc = {
            "_id": key,
            "office": answer.office,
            "tenant_ref": answer.tenant_ref,
            "campaign_id": answer.campaign_id,
            "survey_id": answer.survey_id,
            "request_id": None,
            "axes": answer.axes,
            "nps": answer.nps,
            "comment": answer.comment,
            "channel": answer.channel,
            "at": now,
        }
        if not await insert_once(self.store.db, ANSWERS, doc):
            return False
        await self.store.set_survey(answer.survey_id, {"answered": True, "pending_reminder": False})
        self.metrics.campaign_answers.labels(answer.office, answer.channel).inc()
        if publish:
            data: dict[str, Any] = {
                "campaign_id": answer.campaign_id,
                "survey_id": answer.survey_id,
                "tenant_ref": answer.tenant_ref,
                "axes": answer.axes,
                "nps": answer.nps,
                "comment": answer.comment,
                "channel": answer.channel,
            }
            answered = service_event(
                CampaignAnswered,
                service=SERVICE,
                officeid=answer.office,
                subject=answer.survey_id,
                time=now,
                data={k: v for k, v in data.items() if v is not None},
                cause=[key, "answer"],
            )
            await self._emit(answered)
        return True

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

    async def open_survey(self, token: str) -> tuple[PageOutcome, OpenSurvey | None]:
        """The survey a link opens: open, already answered, or invalid (unknown, expired or a
        closed campaign alike)."""
        if not token or len(token) > 100:
            return PageOutcome.INVALID, None
        survey = await self.store.survey_by_token_hash(domain.token_hash(token))
        now = self.clock()
        if survey is None or survey["expires_at"] <= now or survey["tenant_ref"] == ANONYMOUS:
            return PageOutcome.INVALID, None
        opened = OpenSurvey(survey)
        if survey.get("campaign_id"):
            campaign = await self.store.campaign(survey["campaign_id"])
            if campaign is None or not domain.campaign_accepts(campaign["status"], campaign["closes_at"], now):
                return PageOutcome.INVALID, None
            q = campaign["questions"]
            questions = domain.Questions(axes=tuple(Axis(a) for a in q["axes"]), nps=q["nps"], comment=q["comment"])
            opened = OpenSurvey(survey, questions, campaign["title"])
        if survey.get("answered"):
            return PageOutcome.ALREADY, opened
        return PageOutcome.OPEN, opened

    async def web_answer(self, token: str, score: int, nps: int | None, comment: str | None) -> PageOutcome:
        """The page's answer to a survey after a request."""
        outcome, opened = await self.open_survey(token)
        if outcome is not PageOutcome.OPEN or opened is None or opened.questions is not None:
            return outcome if outcome is not PageOutcome.OPEN else PageOutcome.INVALID
        survey = opened.survey
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

    async def web_campaign_answer(
        self, opened: OpenSurvey, axes: dict[str, int], nps: int | None, comment: str | None
    ) -> PageOutcome:
        """The page's answer to a campaign survey (already opened and checked by the caller)."""
        survey = opened.survey
        answer = CampaignAnswer(
            office=str(survey["office"]),
            tenant_ref=str(survey["tenant_ref"]),
            campaign_id=str(survey["campaign_id"]),
            survey_id=str(survey["_id"]),
            axes=axes,
            nps=nps,
            comment=comment or None,
        )
        first = await self.record_campaign(answer, publish=True)
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
