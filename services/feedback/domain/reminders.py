"""Survey reminders: one per survey, after three days without an answer, while it may still be answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.feedback.domain.campaigns import Campaign, campaign_accepts
from services.feedback.domain.surveys import Survey
from services.feedback.domain.tenants import ANONYMOUS, TenantState


def may_remind(survey: Survey, now: datetime) -> bool:
    """Unanswered, unexpired, not erased: worth looking at its campaign or tenant."""
    return not survey.answered and survey.expires_at > now and survey.tenant_ref != ANONYMOUS


def reminders_to_send(
    due: Sequence[Survey],
    campaigns: Mapping[str, Campaign | None],
    tenants: Mapping[tuple[str, str], TenantState],
    now: datetime,
) -> list[Survey]:
    """The due surveys that get their reminder: a campaign's while it accepts answers, a request's
    while its tenant is reachable."""
    chosen = []
    for survey in due:
        if not may_remind(survey, now):
            continue
        if survey.campaign_id:
            campaign = campaigns.get(survey.campaign_id)
            if campaign is None or not campaign_accepts(campaign.status, campaign.closes_at, now):
                continue
        elif not tenants.get((survey.office, survey.tenant_ref), TenantState()).reachable:
            continue
        chosen.append(survey)
    return chosen
