"""Surveys after a request: when one is due (docs/DOMAIN.md, "Surveys and ratings (feedback)"),
its id, its link token, its invitation and reminder events. Pure: handlers pass in what the store
knows and the current time."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.feedback.domain.tenants import ANONYMOUS, TenantState
from shared.events import SurveyRequested, derived_id, full_type, service_event
from shared.offices import Office

#: the name our events carry as their source
SERVICE = "feedback"
#: at most one survey per tenant in this period
CAP = timedelta(days=7)
#: a survey link is valid this long
VALIDITY = timedelta(days=14)
#: one reminder after this long without an answer
REMINDER_AFTER = timedelta(days=3)
#: bytes of randomness of a survey token (192 bits; the rule asks for at least 128)
TOKEN_BYTES = 24


class Decision(StrEnum):
    SEND = "sent"
    CAPPED = "capped"
    NO_CONSENT = "no_consent"
    #: the request ended longer ago than the office's history horizon: recorded, nobody surveyed
    HISTORY = "history"


def decide(tenant: TenantState, last_survey_at: datetime | None, now: datetime) -> Decision:
    """Whether a new survey may be sent to a tenant now."""
    if not tenant.reachable:
        return Decision.NO_CONSENT
    if last_survey_at is not None and now - last_survey_at < CAP:
        return Decision.CAPPED
    return Decision.SEND


def survey_id_for(office: str, request_id: str) -> str:
    """The survey of a request: derived from its cause, so a redelivered cause finds the same survey."""
    return "SRV-" + derived_id("feedback.survey", office, request_id)


def cap_week(now: datetime) -> int:
    """A 7-day bucket; a unique claim per (tenant, bucket) stops two racing instances sending twice."""
    return int(now.timestamp()) // int(CAP.total_seconds())


def new_token() -> str:
    """A survey link token: 192 random bits, base64url; it says nothing about tenant or request."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_of_url(url: str) -> str:
    return url.rsplit("/s/", 1)[1]


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestNote:
    """What one request event tells feedback (None/False: nothing new)."""

    tenant_ref: str | None = None
    opened_at: datetime | None = None
    repaired: bool = False
    #: the request ended in a way that calls for a survey (repair done, or closed as resolved)
    trigger: bool = False
    #: when it ended so (the triggering event's time)
    ended_at: datetime | None = None
    #: its category (``request.opened``): the tenants' words about it are filed under it
    category: str | None = None
    #: the request is closed, whatever the resolution (``request.closed``): no longer in progress
    closed: bool = False


@dataclass(frozen=True)
class Request:
    """A request as feedback knows it, merged from its events (they may arrive in any order)."""

    office: str
    request_id: str
    tenant_ref: str | None = None
    trigger: bool = False
    #: the earliest time a triggering event says the request ended (None: not known)
    ended_at: datetime | None = None

    @property
    def wants_survey(self) -> bool:
        """Its tenant and its end are both known (the later event completes the other)."""
        return self.tenant_ref is not None and self.trigger and self.tenant_ref != ANONYMOUS

    def noted(self, note: RequestNote) -> Request:
        """The request with what ``note`` says merged in; the earliest end is kept."""
        ends = [t for t in (self.ended_at, note.ended_at) if t is not None]
        return replace(
            self,
            tenant_ref=note.tenant_ref if note.tenant_ref is not None else self.tenant_ref,
            trigger=self.trigger or note.trigger,
            ended_at=min(ends, default=None),
        )


@dataclass(frozen=True)
class Survey:
    """A survey after a request (``request_id``) or in a campaign (``campaign_id``)."""

    id: str
    office: str
    tenant_ref: str
    created_at: datetime
    expires_at: datetime
    request_id: str | None = None
    campaign_id: str | None = None
    invited_at: datetime | None = None
    invited: bool = False
    reminder_due_at: datetime | None = None
    pending_reminder: bool = False
    answered: bool = False


@dataclass(frozen=True)
class Link:
    """A survey link as stored: the token's hash only."""

    digest: str
    survey_id: str
    office: str
    tenant_ref: str


@dataclass(frozen=True)
class SurveyContext:
    """What deciding a request's survey needs: the request, and once it wants a survey, the survey
    already made for it (a redelivery), the tenant's state and its last survey after a request.
    ``completed``: this event made the request want its survey (False: a closing after the repair,
    a redelivery), so a decision not to survey is counted once per request."""

    request: Request
    existing: Survey | None = None
    tenant: TenantState = field(default_factory=TenantState)
    last_survey_at: datetime | None = None
    completed: bool = True


@dataclass(frozen=True)
class SurveyPlan:
    """What to do: create ``create`` (claiming the tenant's ``week``), invite ``invite`` again (a
    redelivery), or only count ``decision`` (capped, no consent, history); all None: nothing (yet,
    or again)."""

    decision: Decision | None = None
    create: Survey | None = None
    week: int = 0
    invite: Survey | None = None


def plan_survey(ctx: SurveyContext, now: datetime, office: Office) -> SurveyPlan:
    """The survey of a request whose tenant and end are known, decided ``now`` in ``office``: none
    when the request ended longer ago than the office's history horizon (a backfill, an import, a
    replay: the request is known as repaired, nobody is surveyed about it). A decision not to
    survey is counted by the event that completed the request only."""
    request = ctx.request
    if not request.wants_survey or request.tenant_ref is None:
        return SurveyPlan()
    if ctx.existing is not None:  # a redelivery: make sure its first message went out
        return SurveyPlan(invite=ctx.existing)
    if request.ended_at is not None and office.is_history(request.ended_at, now):
        return SurveyPlan(decision=Decision.HISTORY if ctx.completed else None)
    decision = decide(ctx.tenant, ctx.last_survey_at, now)
    if decision is not Decision.SEND:
        return SurveyPlan(decision=decision if ctx.completed else None)
    survey = Survey(
        id=survey_id_for(request.office, request.request_id),
        office=request.office,
        request_id=request.request_id,
        tenant_ref=request.tenant_ref,
        created_at=now,
        invited_at=now,
        invited=True,
        expires_at=now + VALIDITY,
        reminder_due_at=now + REMINDER_AFTER,
        pending_reminder=True,
    )
    return SurveyPlan(decision=decision, create=survey, week=cap_week(now))


# --- invitations and reminders -----------------------------------------------------------------

_SURVEY_REQUESTED = full_type("survey.requested")


def invitation_id(survey_id: str, *, reminder: bool) -> str:
    """The id of a survey's invitation (or reminder) event: one of each per survey."""
    return derived_id(_SURVEY_REQUESTED, survey_id, "reminder" if reminder else "first")


def invitation(survey: Survey, url_base: str, token: str, *, reminder: bool) -> SurveyRequested:
    """The ``survey.requested`` event of an invited survey, its link carrying ``token``."""
    invited = survey.invited_at
    assert invited is not None, "a survey is invited before its event is built"
    at = invited + REMINDER_AFTER if reminder else invited
    origin = {"campaign_id": survey.campaign_id} if survey.campaign_id else {"request_id": survey.request_id}
    return service_event(
        SurveyRequested,
        service=SERVICE,
        officeid=survey.office,
        subject=survey.id,
        time=at,
        data={
            "survey_id": survey.id,
            **origin,
            "tenant_ref": survey.tenant_ref,
            "url": f"{url_base}/s/{token}",
            "expires_at": survey.expires_at.isoformat(),
            "reminder": reminder,
        },
        cause=[survey.id, "reminder" if reminder else "first"],
    )
