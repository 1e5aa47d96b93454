"""Survey campaigns (docs/DOMAIN.md, "Survey campaigns (feedback)"): create, open (select the
tenants, one survey each, not yet sent), close, the pacing tick that sends a few invitations at a
time, progress and results."""

from __future__ import annotations

from dataclasses import replace

from services.feedback.domain.campaigns import (
    Campaign,
    CampaignError,
    CampaignProgress,
    CampaignSpec,
    CampaignStatus,
    Selection,
    campaign_survey,
    new_campaign,
    targets,
    transition,
)
from services.feedback.domain.results import OfficeResult, campaign_results
from services.feedback.domain.surveys import REMINDER_AFTER
from services.feedback.domain.tenants import TenantState
from services.feedback.handlers.surveys import invite
from services.feedback.ports import Deps


async def create_campaign(deps: Deps, spec: CampaignSpec, created_by: str) -> Campaign:
    campaign = new_campaign(spec, created_by, deps.clock())
    await deps.store.add_campaign(campaign)
    return campaign


async def campaign(deps: Deps, campaign_id: str) -> Campaign | None:
    return await deps.store.campaign(campaign_id)


async def campaigns(deps: Deps) -> list[Campaign]:
    """Every campaign, oldest first."""
    return await deps.store.campaigns()


async def _tenants(deps: Deps, campaign: Campaign, office: str) -> dict[str, TenantState]:
    """The tenants of an office the campaign's selection looks at, with their state."""
    if campaign.selection is Selection.REQUESTS:
        assert campaign.period_start is not None, "a request selection has its period"
        assert campaign.period_end is not None, "a request selection has its period"
        refs = await deps.store.tenants_with_requests(office, campaign.period_start, campaign.period_end)
        return {t: await deps.store.tenant(office, t) for t in refs}
    return await deps.store.tenants_of(office)


async def open_campaign(deps: Deps, campaign: Campaign) -> Campaign:
    """Select the campaign's tenants (one survey each, not yet sent) and open it: the pacing loop
    then sends the invitations a few at a time."""
    status = transition(campaign.status, "open")
    now = deps.clock()
    if status is None or now >= campaign.closes_at:
        raise CampaignError("a closed campaign cannot be opened again")
    targeted = 0
    for office in campaign.offices:
        chosen = targets(campaign.selection, await _tenants(deps, campaign, office))
        await deps.store.add_surveys([campaign_survey(campaign, office, t, now) for t in chosen])
        targeted += len(chosen)
    opened_at = now if campaign.opened_at is None else None
    await deps.store.set_campaign_state(campaign.id, status, targeted=targeted, opened_at=opened_at)
    return await deps.store.campaign(campaign.id) or campaign


async def close_campaign(deps: Deps, campaign: Campaign) -> Campaign:
    status = transition(campaign.status, "close")
    if status is None:
        raise CampaignError("this campaign cannot be closed")
    # a campaign past its closing date closed then, whenever it is noticed
    closed_at = min(deps.clock(), campaign.closes_at) if campaign.closed_at is None else None
    await deps.store.set_campaign_state(campaign.id, status, closed_at=closed_at)
    return await deps.store.campaign(campaign.id) or campaign


async def send_campaigns(deps: Deps) -> int:
    """One pacing tick: send at most ``campaign_rate`` invitations over the open campaigns, and
    close campaigns past their closing date. Returns how many invitations were sent."""
    now = deps.clock()
    budget = deps.campaign_rate
    sent = 0
    for running in await deps.store.campaigns(CampaignStatus.OPEN):
        if now >= running.closes_at:  # it closed at its closing date, not when this tick noticed
            await deps.store.set_campaign_state(running.id, CampaignStatus.CLOSED, closed_at=running.closes_at)
            continue
        if budget <= 0:
            break
        batch = await deps.store.uninvited(running.id, budget)
        if not batch:
            continue
        due = now + REMINDER_AFTER
        invited = [replace(s, invited_at=now, reminder_due_at=due, pending_reminder=True) for s in batch]
        for survey in await invite(deps, invited, reminder=False):
            sent += 1
            deps.metrics.campaign_invitations.labels(survey.office).inc()
        # one write after sending (updates are the slow path on FerretDB): a crash before it
        # leaves the surveys uninvited, and the next tick finds their events already published
        await deps.store.mark_invited([s.id for s in batch], now, due)
        budget -= len(batch)
    return sent


async def progress(deps: Deps, campaign: Campaign) -> CampaignProgress:
    counts = await deps.store.campaign_counts(campaign.id)
    return CampaignProgress(
        targeted=sum(c.targeted for c in counts.values()),
        invited=sum(c.invited for c in counts.values()),
        by_office=counts,
    )


async def results(deps: Deps, campaign: Campaign, office: str | None) -> list[OfficeResult]:
    """Results per office and axis; an office caller sees its own office only."""
    offices = [o for o in campaign.offices if office is None or o == office]
    counts = await deps.store.campaign_counts(campaign.id)
    invited = {o: c.invited for o, c in counts.items()}
    scores = await deps.store.campaign_scores(campaign.id)
    return campaign_results(offices, [a.value for a in campaign.questions.axes], invited, scores)
