"""Survey campaigns (docs/DOMAIN.md, "Survey campaigns (feedback)"): questions, status transitions,
who is selected, one survey per tenant and campaign."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.feedback.domain.surveys import Survey
from services.feedback.domain.tenants import ANONYMOUS, TenantState
from shared.events import Axis, derived_id

#: the charter's axes, in the order the page and the results show them, with their French question
AXIS_QUESTIONS: dict[Axis, str] = {
    Axis.KEYS: "Êtes-vous bien informé(e) et pouvez-vous suivre vos demandes facilement ?",
    Axis.POSTURE: "Avez-vous été écouté(e) et bien accueilli(e) ?",
    Axis.TEAM: "Vos demandes ont-elles été prises en charge rapidement, sans vous faire répéter ?",
    Axis.MISSION: "Les travaux et réparations sont-ils faits dans de bons délais et bien faits ?",
}
AXIS_TITLES: dict[Axis, str] = {
    Axis.KEYS: "Donner les clés au client",
    Axis.POSTURE: "Adopter la bonne posture",
    Axis.TEAM: "Développer l'esprit d'équipe",
    Axis.MISSION: "Remplir notre mission",
}


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Selection(StrEnum):
    #: every tenant with a channel known from tenant events and consented
    CONSENTED = "consented"
    #: tenants with a request opened in a period
    REQUESTS = "requests"


class CampaignError(Exception):
    """A campaign action that makes no sense now (e.g. opening a closed campaign)."""


@dataclass(frozen=True)
class Questions:
    """What a campaign asks: a 1–5 rating per listed axis, optionally the 0–10 recommendation and a comment."""

    axes: tuple[Axis, ...] = tuple(AXIS_QUESTIONS)
    nps: bool = True
    comment: bool = True


@dataclass(frozen=True)
class CampaignSpec:
    """An operator's campaign definition (validated by the API)."""

    title: str
    offices: tuple[str, ...]
    selection: Selection
    closes_at: datetime
    questions: Questions = field(default_factory=Questions)
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class Campaign:
    id: str
    title: str
    offices: tuple[str, ...]
    selection: Selection
    closes_at: datetime
    questions: Questions
    status: CampaignStatus
    created_at: datetime
    created_by: str
    period_start: datetime | None = None
    period_end: datetime | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    targeted: int | None = None


@dataclass(frozen=True)
class OfficeCounts:
    """A campaign's surveys in one office: made (targeted) and sent (invited)."""

    targeted: int = 0
    invited: int = 0


@dataclass(frozen=True)
class CampaignProgress:
    targeted: int
    invited: int
    by_office: dict[str, OfficeCounts]


def new_campaign(spec: CampaignSpec, created_by: str, now: datetime) -> Campaign:
    """A draft campaign under a fresh random id."""
    return Campaign(
        id="CMP-" + secrets.token_hex(8),
        title=spec.title,
        offices=spec.offices,
        selection=spec.selection,
        period_start=spec.period_start,
        period_end=spec.period_end,
        closes_at=spec.closes_at,
        questions=spec.questions,
        status=CampaignStatus.DRAFT,
        created_at=now,
        created_by=created_by,
    )


def transition(status: CampaignStatus, action: str) -> CampaignStatus | None:
    """The status after ``action`` (open/close), or None when the action makes no sense now.
    Repeating an action is allowed (idempotent API)."""
    if action == "open" and status in (CampaignStatus.DRAFT, CampaignStatus.OPEN):
        return CampaignStatus.OPEN
    if action == "close" and status in (CampaignStatus.OPEN, CampaignStatus.CLOSED, CampaignStatus.DRAFT):
        return CampaignStatus.CLOSED
    return None


def campaign_accepts(status: str, closes_at: datetime, now: datetime) -> bool:
    """A campaign link works while the campaign is open and before its closing date."""
    return status == CampaignStatus.OPEN.value and now < closes_at


def campaign_survey_id(campaign_id: str, office: str, tenant_ref: str) -> str:
    """One survey per tenant and campaign, whichever instance or retry creates it."""
    return "SRC-" + derived_id("feedback.campaign-survey", campaign_id, office, tenant_ref)


def targets(selection: Selection, tenants: Mapping[str, TenantState]) -> list[str]:
    """The tenants a campaign invites among ``tenants`` (those of one office the selection found),
    sorted: reachable ones for a request selection, those with a known consented channel otherwise."""
    if selection is Selection.REQUESTS:
        return sorted(t for t, state in tenants.items() if state.reachable and t != ANONYMOUS)
    return sorted(t for t, state in tenants.items() if state.known_consented_channel)


def campaign_survey(campaign: Campaign, office: str, tenant_ref: str, now: datetime) -> Survey:
    """A campaign's survey of one tenant, made when the campaign opens, invited later by pacing."""
    return Survey(
        id=campaign_survey_id(campaign.id, office, tenant_ref),
        office=office,
        campaign_id=campaign.id,
        tenant_ref=tenant_ref,
        created_at=now,
        expires_at=campaign.closes_at,
    )
