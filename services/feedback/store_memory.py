"""In-memory twin of ``store.FeedbackMongoStore``: the same ports, held to the same contract tests
(tests/feedback/test_store_contract.py), for fast tests of the use cases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

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
    Request,
    RequestNote,
    Survey,
    SurveyContext,
    TenantContact,
    TenantState,
    UnparsedReply,
    survey_id_for,
)
from services.feedback.domain.voice import VoiceEntry, VoiceQuery, VoiceStatus


class MemoryFeedbackStore:
    """Every feedback store port over dictionaries (implements ``ports.FeedbackStore``)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], tuple[Request, datetime | None]] = {}
        self.tenants: dict[tuple[str, str], TenantState] = {}
        self.surveys: dict[str, Survey] = {}
        self.links: dict[str, Link] = {}
        self.cap_claims: dict[tuple[str, str, int], str] = {}
        self.reminder_claims: set[str] = set()
        self.answers: dict[str, Answer | CampaignAnswer] = {}
        self.unparsed: dict[str, UnparsedReply] = {}
        #: when each answer was recorded (for the retention purge)
        self.answered_at: dict[str, datetime] = {}
        self.alert_records: dict[str, Alert] = {}
        self.campaign_records: dict[str, Campaign] = {}
        self.alert_claims: set[str] = set()
        self.voice_records: dict[str, VoiceEntry] = {}
        #: per request: its category and whether it is closed
        self.request_info: dict[tuple[str, str], tuple[str | None, bool]] = {}

    # --- requests and tenants ------------------------------------------------------------------

    async def tenant(self, office: str, tenant_ref: str) -> TenantState:
        return self.tenants.get((office, tenant_ref), TenantState())

    async def tenants_of(self, office: str) -> dict[str, TenantState]:
        return {ref: state for (o, ref), state in self.tenants.items() if o == office}

    async def tenants_with_requests(self, office: str, start: datetime, end: datetime) -> set[str]:
        return {
            r.tenant_ref
            for (o, _), (r, opened) in self.requests.items()
            if o == office and r.tenant_ref is not None and opened is not None and start <= opened < end
        }

    async def set_consent(self, office: str, tenant_ref: str, channel: str, granted: bool) -> None:
        state = self.tenants.get((office, tenant_ref), TenantState())
        self.tenants[office, tenant_ref] = replace(state, **{f"{channel}_consent": granted})

    async def set_contact(self, office: str, tenant_ref: str, contact: TenantContact) -> None:
        state = self.tenants.get((office, tenant_ref), TenantState())
        self.tenants[office, tenant_ref] = replace(
            state, preferred_none=contact.preferred_none, has_phone=contact.has_phone, has_email=contact.has_email
        )

    async def erase_tenant(self, office: str, tenant_ref: str) -> None:
        self.tenants[office, tenant_ref] = replace(self.tenants.get((office, tenant_ref), TenantState()), erased=True)

        def theirs(record: Link | Survey | Answer | CampaignAnswer | Alert | UnparsedReply | VoiceEntry) -> bool:
            return record.office == office and record.tenant_ref == tenant_ref

        self.voice_records = {k: v for k, v in self.voice_records.items() if not theirs(v)}

        self.links = {k: v for k, v in self.links.items() if not theirs(v)}
        self.unparsed = {k: v for k, v in self.unparsed.items() if not theirs(v)}
        for sid, survey in list(self.surveys.items()):
            if theirs(survey):
                self.surveys[sid] = replace(survey, tenant_ref=ANONYMOUS, pending_reminder=False)
        for aid, answer in list(self.answers.items()):
            if theirs(answer):
                self.answers[aid] = replace(answer, tenant_ref=ANONYMOUS, comment=None)
        for lid, alert in list(self.alert_records.items()):
            if theirs(alert):
                self.alert_records[lid] = replace(alert, tenant_ref=ANONYMOUS, comment=None)
        for key, (request, opened) in list(self.requests.items()):
            if request.office == office and request.tenant_ref == tenant_ref:
                self.requests[key] = (replace(request, tenant_ref=ANONYMOUS), opened)

    # --- surveys -------------------------------------------------------------------------------

    def _note_request(self, office: str, request_id: str, note: RequestNote) -> tuple[Request, Request]:
        known, opened = self.requests.get((office, request_id), (Request(office, request_id), None))
        request = known.noted(note)
        category, closed = self.request_info.get((office, request_id), (None, False))
        if note.category is not None or note.closed:
            self.request_info[office, request_id] = (note.category or category, closed or note.closed)
        self.requests[office, request_id] = (request, note.opened_at or opened)
        return known, request

    async def note_requests(self, notes: Sequence[tuple[str, str, RequestNote]]) -> list[tuple[Request, Request]]:
        return [self._note_request(office, rid, note) for office, rid, note in notes]

    async def tenant_states(self, tenants: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TenantState]:
        return {key: self.tenants.get(key, TenantState()) for key in tenants}

    async def last_surveys_at(
        self, tenants: Sequence[tuple[str, str]], other_than: Collection[str] = ()
    ) -> dict[tuple[str, str], datetime]:
        wanted = set(tenants)
        last: dict[tuple[str, str], datetime] = {}
        for s in self.surveys.values():
            key = (s.office, s.tenant_ref)
            if key in wanted and not s.campaign_id and s.id not in other_than:
                last[key] = max(last.get(key, s.created_at), s.created_at)
        return last

    async def create_surveys(self, planned: Sequence[tuple[Survey, int]]) -> dict[str, tuple[Survey, bool] | None]:
        return {survey.id: await self.create_survey(survey, week) for survey, week in planned}

    async def survey_context(self, office: str, request_id: str, note: RequestNote) -> SurveyContext:
        known, request = self._note_request(office, request_id, note)
        if not request.wants_survey or request.tenant_ref is None:
            return SurveyContext(request)
        completed = not known.wants_survey
        survey_id = survey_id_for(office, request_id)
        existing = self.surveys.get(survey_id)
        if existing is not None:
            return SurveyContext(request, existing, completed=completed)
        mine = [
            s
            for s in self.surveys.values()
            if s.office == office and s.tenant_ref == request.tenant_ref and s.id != survey_id and not s.campaign_id
        ]
        last = max((s.created_at for s in mine), default=None)
        return SurveyContext(request, None, await self.tenant(office, request.tenant_ref), last, completed)

    async def create_survey(self, survey: Survey, week: int) -> tuple[Survey, bool] | None:
        held = self.cap_claims.setdefault((survey.office, survey.tenant_ref, week), survey.id)
        if held != survey.id:
            return None
        if survey.id in self.surveys:
            return self.surveys[survey.id], False
        self.surveys[survey.id] = survey
        return survey, True

    async def survey(self, survey_id: str) -> Survey | None:
        return self.surveys.get(survey_id)

    async def surveys_of(self, survey_ids: Sequence[str]) -> dict[str, Survey]:
        return {sid: self.surveys[sid] for sid in survey_ids if sid in self.surveys}

    async def survey_by_token_hash(self, digest: str) -> Survey | None:
        link = self.links.get(digest)
        return None if link is None else self.surveys.get(link.survey_id)

    async def latest_open_survey(self, office: str, tenant_ref: str, now: datetime) -> Survey | None:
        open_ = [
            s
            for s in self.surveys.values()
            if s.office == office
            and s.tenant_ref == tenant_ref
            and not s.campaign_id
            and not s.answered
            and s.expires_at > now
        ]
        return max(open_, key=lambda s: s.created_at, default=None)

    async def add_links(self, links: list[Link]) -> None:
        for link in links:
            self.links.setdefault(link.digest, link)

    async def drop_links(self, digests: list[str]) -> None:
        for digest in digests:
            self.links.pop(digest, None)

    async def reminders_due(self, now: datetime, limit: int = 200) -> list[Survey]:
        due = [
            s
            for s in self.surveys.values()
            if s.pending_reminder and s.reminder_due_at is not None and s.reminder_due_at <= now
        ]
        return due[:limit]

    async def stop_reminders(self, survey_ids: list[str]) -> None:
        for sid in survey_ids:
            if sid in self.surveys:
                self.surveys[sid] = replace(self.surveys[sid], pending_reminder=False)

    async def claim_reminders(self, survey_ids: list[str], now: datetime) -> set[str]:
        won = {s for s in survey_ids if s not in self.reminder_claims}
        self.reminder_claims |= won
        return won

    async def mark_invited(self, survey_ids: list[str], at: datetime, reminder_due_at: datetime) -> None:
        for sid in survey_ids:
            if sid in self.surveys:
                self.surveys[sid] = replace(
                    self.surveys[sid],
                    invited_at=at,
                    reminder_due_at=reminder_due_at,
                    pending_reminder=True,
                    invited=True,
                )

    async def mark_answered(self, survey_id: str) -> None:
        if survey_id in self.surveys:
            self.surveys[survey_id] = replace(self.surveys[survey_id], answered=True, pending_reminder=False)

    async def mark_all_answered(self, survey_ids: Sequence[str]) -> None:
        for sid in survey_ids:
            await self.mark_answered(sid)

    # --- answers -------------------------------------------------------------------------------

    def _add_answer(self, answer_id: str, answer: Answer | CampaignAnswer) -> bool:
        if answer_id in self.answers:
            return False
        self.answers[answer_id] = answer
        return True

    async def add_answer(self, answer_id: str, answer: Answer, at: datetime) -> bool:
        self.answered_at.setdefault(answer_id, at)
        return self._add_answer(answer_id, answer)

    async def add_campaign_answer(self, answer_id: str, answer: CampaignAnswer, at: datetime) -> bool:
        self.answered_at.setdefault(answer_id, at)
        return self._add_answer(answer_id, answer)

    async def add_answers(self, answers: Sequence[tuple[str, Answer, datetime]]) -> set[str]:
        return {answer_id for answer_id, answer, at in answers if await self.add_answer(answer_id, answer, at)}

    async def stored_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[Answer, datetime]]:
        found = {i: self.answers.get(i) for i in answer_ids}
        return {i: (a, self.answered_at[i]) for i, a in found.items() if isinstance(a, Answer)}

    async def add_campaign_answers(self, answers: Sequence[tuple[str, CampaignAnswer, datetime]]) -> set[str]:
        return {answer_id for answer_id, answer, at in answers if await self.add_campaign_answer(answer_id, answer, at)}

    async def stored_campaign_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[CampaignAnswer, datetime]]:
        found = {i: self.answers.get(i) for i in answer_ids}
        return {i: (a, self.answered_at[i]) for i, a in found.items() if isinstance(a, CampaignAnswer)}

    async def purge_words(self, before: datetime) -> int:
        changed = 0
        for aid, answer in list(self.answers.items()):
            if answer.comment is not None and self.answered_at.get(aid, before) < before:
                self.answers[aid] = replace(answer, comment=None)
                changed += 1
        for aid, alert in list(self.alert_records.items()):
            if alert.comment is not None and alert.created_at < before:
                self.alert_records[aid] = replace(alert, comment=None)
                changed += 1
        old = [k for k, reply in self.unparsed.items() if reply.at < before]
        for key in old:
            del self.unparsed[key]
        return changed + len(old)

    async def add_unparsed(self, reply: UnparsedReply) -> None:
        self.unparsed.setdefault(reply.id, reply)

    async def campaign_scores(self, campaign_id: str) -> list[CampaignScores]:
        return [
            CampaignScores(a.office, a.axes, a.nps)
            for a in self.answers.values()
            if isinstance(a, CampaignAnswer) and a.campaign_id == campaign_id
        ]

    # --- alerts --------------------------------------------------------------------------------

    async def add_alert(self, alert: Alert) -> bool:
        if alert.id in self.alert_records:
            return False
        self.alert_records[alert.id] = alert
        return True

    async def add_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        return {alert.id for alert in alerts if await self.add_alert(alert)}

    async def alert(self, alert_id: str) -> Alert | None:
        return self.alert_records.get(alert_id)

    async def alerts(self, office: str | None, open_only: bool, limit: int = 500) -> list[Alert]:
        chosen = [
            a
            for a in self.alert_records.values()
            if (office is None or a.office == office) and (a.open or not open_only)
        ]
        return sorted(chosen, key=lambda a: a.created_at)[:limit]

    async def acknowledge(self, alert_id: str, at: datetime, action: str | None = None) -> bool:
        if f"ack|{alert_id}" in self.alert_claims:
            return False
        self.alert_claims.add(f"ack|{alert_id}")
        if alert_id in self.alert_records:
            self.alert_records[alert_id] = replace(
                self.alert_records[alert_id], open=False, acknowledged_at=at, action=action
            )
        return True

    async def overdue_alerts(self, now: datetime, limit: int = 200) -> list[Alert]:
        due = [
            a
            for a in self.alert_records.values()
            if a.open and not a.overdue and not a.historical and a.follow_up_due_at <= now
        ]
        return sorted(due, key=lambda a: a.follow_up_due_at)[:limit]

    async def mark_overdue(self, alert_id: str, at: datetime) -> bool:
        if f"overdue|{alert_id}" in self.alert_claims:
            return False
        self.alert_claims.add(f"overdue|{alert_id}")
        if alert_id in self.alert_records:
            self.alert_records[alert_id] = replace(self.alert_records[alert_id], overdue=True)
        return True

    async def open_alert_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for alert in self.alert_records.values():
            if alert.open and not alert.historical:
                counts[alert.office] = counts.get(alert.office, 0) + 1
        return counts

    # --- requests in progress, tenants' words ---------------------------------------------------

    async def close_request(self, office: str, request_id: str) -> None:
        category = self.request_info.get((office, request_id), (None, False))[0]
        self.request_info[office, request_id] = (category, True)

    async def requests_in_progress(self, office: str, tenant_ref: str) -> dict[str, str | None]:
        return {
            rid: self.request_info.get((o, rid), (None, False))[0]
            for (o, rid), (request, _) in self.requests.items()
            if o == office
            and request.tenant_ref == tenant_ref
            and not self.request_info.get((o, rid), (None, False))[1]
        }

    async def request_category(self, office: str, request_id: str) -> str | None:
        return self.request_info.get((office, request_id), (None, False))[0]

    async def add_voice(self, entry: VoiceEntry) -> bool:
        if entry.id in self.voice_records:
            return False
        self.voice_records[entry.id] = entry
        return True

    async def add_voices(self, entries: Sequence[VoiceEntry]) -> set[str]:
        return {entry.id for entry in entries if await self.add_voice(entry)}

    async def purge_voice(self, before: datetime) -> int:
        old = [k for k, entry in self.voice_records.items() if entry.at < before]
        for key in old:
            del self.voice_records[key]
        return len(old)

    async def voice(self, entry_id: str) -> VoiceEntry | None:
        return self.voice_records.get(entry_id)

    async def voices(self, query: VoiceQuery, offices: Sequence[str]) -> list[VoiceEntry]:
        scope = {query.office} if query.office is not None else set(offices)
        found = [e for e in self.voice_records.values() if e.office in scope and query.accepts(e)]
        return sorted(found, key=lambda e: (e.at, e.id), reverse=True)[: query.limit]

    async def mark_handled(self, entry_id: str, at: datetime, action: str) -> None:
        if entry_id in self.voice_records:
            self.voice_records[entry_id] = replace(
                self.voice_records[entry_id], status=VoiceStatus.HANDLED, handled_at=at, action=action
            )

    # --- campaigns -----------------------------------------------------------------------------

    async def add_campaign(self, campaign: Campaign) -> None:
        if campaign.id in self.campaign_records:
            raise KeyError(f"campaign {campaign.id} exists")
        self.campaign_records[campaign.id] = campaign

    async def campaign(self, campaign_id: str) -> Campaign | None:
        return self.campaign_records.get(campaign_id)

    async def campaigns(self, status: CampaignStatus | None = None) -> list[Campaign]:
        chosen = [c for c in self.campaign_records.values() if status is None or c.status is status]
        return sorted(chosen, key=lambda c: c.created_at)

    async def set_campaign_state(
        self,
        campaign_id: str,
        status: CampaignStatus,
        *,
        targeted: int | None = None,
        opened_at: datetime | None = None,
        closed_at: datetime | None = None,
    ) -> None:
        campaign = self.campaign_records.get(campaign_id)
        if campaign is None:
            return
        self.campaign_records[campaign_id] = replace(
            campaign,
            status=status,
            targeted=campaign.targeted if targeted is None else targeted,
            opened_at=campaign.opened_at if opened_at is None else opened_at,
            closed_at=campaign.closed_at if closed_at is None else closed_at,
        )

    async def add_surveys(self, surveys: list[Survey]) -> int:
        added = 0
        for survey in surveys:
            if survey.id not in self.surveys:
                self.surveys[survey.id] = survey
                added += 1
        return added

    async def uninvited(self, campaign_id: str, limit: int) -> list[Survey]:
        return [s for s in self.surveys.values() if s.campaign_id == campaign_id and not s.invited][:limit]

    async def campaign_counts(self, campaign_id: str) -> dict[str, OfficeCounts]:
        counts: dict[str, OfficeCounts] = {}
        for s in self.surveys.values():
            if s.campaign_id == campaign_id:
                entry = counts.get(s.office, OfficeCounts())
                counts[s.office] = OfficeCounts(entry.targeted + 1, entry.invited + s.invited)
        return counts
