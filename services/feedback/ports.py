"""What the feedback use cases need, as Protocols: the stores (``store.FeedbackMongoStore`` and its
in-memory twin ``store_memory.MemoryFeedbackStore`` implement them all, held to one contract test
suite), the outbox (``shared.outbox``), the clock, the offices (their history horizon). ``Deps``
bundles them for the handlers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.feedback.domain import (
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
)
from services.feedback.domain.voice import VoiceEntry, VoiceQuery
from services.feedback.metrics import FeedbackMetrics
from shared.offices import Office, Offices
from shared.outbox import Outbox

Clock = Callable[[], datetime]

#: the rules of an office missing from the offices file (the consumer refuses their events; an
#: answer of an office removed since still needs a horizon): the defaults, e.g. 48 hours of history
DEFAULT_OFFICE = Office(id="default", name="default")


class TenantStore(Protocol):
    async def tenant(self, office: str, tenant_ref: str) -> TenantState: ...

    async def tenant_states(self, tenants: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TenantState]:
        """``tenant`` of each (office, tenant ref), in one read."""
        ...

    async def tenants_of(self, office: str) -> dict[str, TenantState]:
        """Every tenant of an office known from tenant events (a campaign's selection)."""
        ...

    async def tenants_with_requests(self, office: str, start: datetime, end: datetime) -> set[str]:
        """Tenants of an office with a request opened in [start, end)."""
        ...

    async def set_consent(self, office: str, tenant_ref: str, channel: str, granted: bool) -> None: ...

    async def set_contact(self, office: str, tenant_ref: str, contact: TenantContact) -> None: ...

    async def erase_tenant(self, office: str, tenant_ref: str) -> None:
        """Mark the tenant erased and delete what identifies it; scores stay under an anonymous ref."""
        ...


class SurveyStore(Protocol):
    async def survey_context(self, office: str, request_id: str, note: RequestNote) -> SurveyContext:
        """Merge what an event says about a request; once the request wants a survey, also load its
        existing survey, the tenant's state and its last survey after a request."""
        ...

    async def create_survey(self, survey: Survey, week: int) -> tuple[Survey, bool] | None:
        """Claim the tenant's ``week`` for the survey, then insert it: None when another survey holds
        the week (capped); else the stored survey and whether this call inserted it."""
        ...

    async def note_requests(self, notes: Sequence[tuple[str, str, RequestNote]]) -> list[tuple[Request, Request]]:
        """Merge what each event says into its request (office, request id, note), in order, in one
        ordered write: per note, the request before and after it (as ``survey_context`` one by one)."""
        ...

    async def last_surveys_at(
        self, tenants: Sequence[tuple[str, str]], other_than: Collection[str] = ()
    ) -> dict[tuple[str, str], datetime]:
        """Per (office, tenant ref) with one, when its latest survey after a request was created
        (campaigns and the surveys ``other_than`` do not count), in one read."""
        ...

    async def create_surveys(self, planned: Sequence[tuple[Survey, int]]) -> dict[str, tuple[Survey, bool] | None]:
        """``create_survey`` of each (survey, week) — distinct surveys, distinct tenant weeks — in a
        few bulk writes: by survey id, None (capped) or the stored survey and whether it is new."""
        ...

    async def survey(self, survey_id: str) -> Survey | None: ...

    async def surveys_of(self, survey_ids: Sequence[str]) -> dict[str, Survey]:
        """The surveys among ``survey_ids`` that exist, by id (one read)."""
        ...

    async def survey_by_token_hash(self, digest: str) -> Survey | None: ...

    async def latest_open_survey(self, office: str, tenant_ref: str, now: datetime) -> Survey | None:
        """The tenant's most recent unanswered, unexpired survey after a request (an SMS answers it)."""
        ...

    async def add_links(self, links: list[Link]) -> None:
        """Insert token links; existing ones are kept."""
        ...

    async def drop_links(self, digests: list[str]) -> None: ...

    async def reminders_due(self, now: datetime, limit: int = 200) -> list[Survey]: ...

    async def stop_reminders(self, survey_ids: list[str]) -> None:
        """No reminder is pending for these surveys any more."""
        ...

    async def claim_reminders(self, survey_ids: list[str], now: datetime) -> set[str]:
        """Claim the reminders of these surveys; returns those this caller won."""
        ...

    async def mark_invited(self, survey_ids: list[str], at: datetime, reminder_due_at: datetime) -> None: ...

    async def mark_answered(self, survey_id: str) -> None: ...

    async def mark_all_answered(self, survey_ids: Sequence[str]) -> None:
        """``mark_answered`` of each, in one write."""
        ...


class AnswerStore(Protocol):
    async def add_answer(self, answer_id: str, answer: Answer, at: datetime) -> bool:
        """Record an answer under its id; False when one is recorded already (the first wins)."""
        ...

    async def add_answers(self, answers: Sequence[tuple[str, Answer, datetime]]) -> set[str]:
        """``add_answer`` of each (distinct ids), in one write: the ids recorded by this call."""
        ...

    async def stored_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[Answer, datetime]]:
        """The ratings recorded under these ids (campaign answers left out), with their time."""
        ...

    async def add_campaign_answer(self, answer_id: str, answer: CampaignAnswer, at: datetime) -> bool: ...

    async def add_campaign_answers(self, answers: Sequence[tuple[str, CampaignAnswer, datetime]]) -> set[str]:
        """``add_campaign_answer`` of each (distinct ids), in one write: the ids recorded by this call."""
        ...

    async def stored_campaign_answers(self, answer_ids: Sequence[str]) -> dict[str, tuple[CampaignAnswer, datetime]]:
        """The campaign answers recorded under these ids (ratings left out), with their time."""
        ...

    async def add_unparsed(self, reply: UnparsedReply) -> None: ...

    async def campaign_scores(self, campaign_id: str) -> list[CampaignScores]: ...


class AlertStore(Protocol):
    async def add_alert(self, alert: Alert) -> bool: ...

    async def add_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        """``add_alert`` of each (distinct ids), in one write: the ids recorded by this call."""
        ...

    async def alert(self, alert_id: str) -> Alert | None: ...

    async def alerts(self, office: str | None, open_only: bool, limit: int = 500) -> list[Alert]:
        """Oldest first."""
        ...

    async def acknowledge(self, alert_id: str, at: datetime, action: str | None = None) -> bool:
        """Claim the alert's acknowledgement and close it: True for the one caller that did."""
        ...

    async def overdue_alerts(self, now: datetime, limit: int = 200) -> list[Alert]:
        """Live alerts still open past their deadline, not yet reported overdue; earliest due first."""
        ...

    async def mark_overdue(self, alert_id: str, at: datetime) -> bool:
        """Claim the alert's overdue report: True for the one caller that did."""
        ...

    async def open_alert_counts(self) -> dict[str, int]:
        """Per office, the live alerts not yet acknowledged (historical ones are left out)."""
        ...


class VoiceStore(Protocol):
    """Tenants' words, and what they need of requests (category, still in progress)."""

    async def close_request(self, office: str, request_id: str) -> None:
        """The request is closed (whatever the resolution): no longer in progress."""
        ...

    async def requests_in_progress(self, office: str, tenant_ref: str) -> dict[str, str | None]:
        """The tenant's requests not closed: id → category (None: unknown)."""
        ...

    async def request_category(self, office: str, request_id: str) -> str | None: ...

    async def add_voice(self, entry: VoiceEntry) -> bool:
        """Insert an entry under its id; False when it is there already."""
        ...

    async def add_voices(self, entries: Sequence[VoiceEntry]) -> set[str]:
        """``add_voice`` of each (distinct ids), in one write: the ids recorded by this call."""
        ...

    async def voice(self, entry_id: str) -> VoiceEntry | None: ...

    async def voices(self, query: VoiceQuery, offices: Sequence[str]) -> list[VoiceEntry]:
        """Entries matching ``query``, newest first; ``offices``: every office, for a query of all."""
        ...

    async def mark_handled(self, entry_id: str, at: datetime, action: str) -> None: ...


class CampaignStore(Protocol):
    async def add_campaign(self, campaign: Campaign) -> None: ...

    async def campaign(self, campaign_id: str) -> Campaign | None: ...

    async def campaigns(self, status: CampaignStatus | None = None) -> list[Campaign]:
        """Oldest first."""
        ...

    async def set_campaign_state(
        self,
        campaign_id: str,
        status: CampaignStatus,
        *,
        targeted: int | None = None,
        opened_at: datetime | None = None,
        closed_at: datetime | None = None,
    ) -> None:
        """Set the status, and each of the other fields given (not None)."""
        ...

    async def add_surveys(self, surveys: list[Survey]) -> int:
        """Insert surveys in bulk (a campaign's, not yet invited, when it opens); existing ones are
        kept. Returns how many are new."""
        ...

    async def uninvited(self, campaign_id: str, limit: int) -> list[Survey]: ...

    async def campaign_counts(self, campaign_id: str) -> dict[str, OfficeCounts]:
        """Per office: surveys targeted and invited."""
        ...


class RetentionStore(Protocol):
    async def purge_words(self, before: datetime) -> int:
        """Storage limitation: drop the comments of answers and alerts recorded before ``before``
        and the unparsed SMS replies received before it; return how many records changed."""
        ...

    async def purge_voice(self, before: datetime) -> int:
        """Storage limitation: delete the voice entries whose words were received before
        ``before`` (handled or not); return how many were deleted."""
        ...


class FeedbackStore(
    TenantStore, SurveyStore, AnswerStore, AlertStore, VoiceStore, CampaignStore, RetentionStore, Protocol
):
    """Every store port of the feedback service."""


@dataclass(frozen=True)
class Deps:
    """What every use case is given: stores, outbox (record then publish), metrics, clock, settings,
    the offices file."""

    store: FeedbackStore
    outbox: Outbox
    metrics: FeedbackMetrics
    clock: Clock
    url_base: str
    outbox_grace: timedelta = timedelta(seconds=10)
    campaign_rate: int = 50
    offices: Offices | None = None

    def office(self, office_id: str) -> Office:
        """The office's rules (its history horizon); the defaults for an office the file lacks."""
        found = self.offices.get(office_id) if self.offices is not None else None
        return found or DEFAULT_OFFICE
