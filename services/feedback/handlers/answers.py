"""Answers from every channel: the tenant page (``/s/{token}``), SMS replies, ratings read from the
topic (office ratings, campaign answers). One answer per survey (the first wins); ours are published
(``satisfaction.rated``, ``campaign.answered``); a detractor's (a score, or any campaign axis, of 2
or less) raises an alert and its event. Everything keeps the time the tenant answered (the page:
now; an SMS: its reply's time; the topic: the event's time); an alert about an answer older than the
office's history horizon is recorded and emitted but marked historical.

Each use case loads what it needs, plans with ``domain.answers``, then writes and publishes once.
A run of ratings (of campaign answers) read from the topic is one use case (``on_ratings``,
``on_campaign_answers``): one read of the surveys they name, one insert of the answers, one write
per kind of record, one publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.feedback.domain.alerts import Alert
from services.feedback.domain.answers import (
    Answer,
    AnswerPlan,
    CampaignAnswer,
    CampaignAnswerPlan,
    OpenSurvey,
    PageOutcome,
    UnparsedReply,
    answer_key,
    page_outcome,
    plan_answer,
    plan_answers,
    plan_campaign_answer,
    plan_campaign_answers,
    sms_answer,
)
from services.feedback.domain.surveys import survey_id_for, token_hash
from services.feedback.handlers import voice
from services.feedback.ports import Deps
from shared.events import CampaignAnswered, SatisfactionRated, SmsReplied

#: a link token longer than this is not one of ours
TOKEN_MAX = 100


async def record_answer(deps: Deps, answer: Answer, *, publish: bool, at: datetime | None = None) -> bool:
    """Record an answer given at ``at`` (default: now) if it is the first for its survey (or
    request); True if it was.

    ``publish``: the answer came through one of our channels (page, SMS) and is published as
    ``satisfaction.rated``; an answer read from the topic is not published again."""
    now = deps.clock()
    plan = plan_answer(answer, at=at or now, now=now, office=deps.office(answer.office), publish=publish)
    if not await deps.store.add_answer(plan.id, plan.answer, plan.at):
        return False
    if answer.survey_id is not None:
        await deps.store.mark_answered(answer.survey_id)
    deps.metrics.answers.labels(answer.office, answer.channel, str(answer.score)).inc()
    await voice.on_answer(deps, plan.id, plan.answer, plan.at)
    await _raise(deps, plan.alert, "rating")
    await deps.outbox.emit(plan.events)
    return True


async def record_campaign_answer(
    deps: Deps, answer: CampaignAnswer, *, publish: bool, at: datetime | None = None
) -> bool:
    """Record a campaign answer given at ``at`` (default: now) if it is the first for its survey;
    True if it was. An axis rated 2 or less raises one alert."""
    now = deps.clock()
    plan = plan_campaign_answer(answer, at=at or now, now=now, office=deps.office(answer.office), publish=publish)
    if not await deps.store.add_campaign_answer(plan.id, plan.answer, plan.at):
        return False
    await deps.store.mark_answered(answer.survey_id)
    deps.metrics.campaign_answers.labels(answer.office, answer.channel).inc()
    await voice.on_campaign_answer(deps, plan.id, plan.answer, plan.at)
    await _raise(deps, plan.alert, "campaign")
    await deps.outbox.emit(plan.events)
    return True


async def _raise(deps: Deps, alert: Alert | None, origin: str) -> None:
    """Record a planned alert (once per answer) and count it, live or historical."""
    if alert is not None and await deps.store.add_alert(alert):
        outcome = "history" if alert.historical else "raised"
        deps.metrics.alerts.labels(alert.office, origin, outcome).inc()


# --- read from the topics ----------------------------------------------------------------------


async def on_satisfaction_rated(deps: Deps, event: SatisfactionRated) -> None:
    """An office rating (or our own, recorded before it was published: the insert finds it)."""
    d = event.data
    survey_id = d.survey_id
    if survey_id is None and d.request_id is not None:
        survey = await deps.store.survey(survey_id_for(event.officeid, d.request_id))
        survey_id = survey.id if survey is not None else None
        if survey_id is not None and await deps.store.stored_answers([answer_key(event.officeid, None, d.request_id)]):
            survey_id = None  # stored under its request before the survey existed: the same answer
    await record_answer(deps, _rating(event, survey_id), publish=False, at=event.time)


def _rating(event: SatisfactionRated, survey_id: str | None) -> Answer:
    d = event.data
    return Answer(
        office=event.officeid,
        tenant_ref=d.tenant_ref,
        score=d.score,
        channel=d.channel.value,
        survey_id=survey_id,
        request_id=d.request_id,
        nps=d.nps,
        comment=d.comment,
    )


async def on_ratings(deps: Deps, events: Sequence[SatisfactionRated]) -> None:
    """A run of consecutive ratings of a consumed batch, in bulk, recorded as ``on_satisfaction_rated``
    one after the other would: the first answer per survey (or request) wins, within the run and
    against what is stored; each answer recorded by this call marks its survey answered, counts,
    keeps its words and raises its alert and event.

    An answer stored before (a redelivered batch, our own answer read back, a store failure or a
    crash after the answers' insert: the batch is applied again) is not counted again; its survey's
    mark, its words, its alert and the alert's event are written again as stored, each once (by id):
    what a failure left undone is completed, what was done stays as it is (an erased tenant's
    answer has no words left; words older than the voice retention but younger than the comment
    retention may come back once, until the next purge)."""
    if not events:
        return
    wanted = {
        survey_id_for(e.officeid, e.data.request_id)
        for e in events
        if e.data.survey_id is None and e.data.request_id is not None
    }
    known = await deps.store.surveys_of(sorted(wanted))
    # a rating stored under its request before its survey existed, then delivered again once the
    # survey is there, is the same answer: it keeps its request's key (else it would count twice)
    by_request = {
        answer_key(e.officeid, None, e.data.request_id)
        for e in events
        if e.data.survey_id is None
        and e.data.request_id is not None
        and survey_id_for(e.officeid, e.data.request_id) in known
    }
    stored_by_request = await deps.store.stored_answers(sorted(by_request))

    def named(event: SatisfactionRated) -> str | None:
        if event.data.survey_id is not None or event.data.request_id is None:
            return event.data.survey_id
        if answer_key(event.officeid, None, event.data.request_id) in stored_by_request:
            return None
        sid = survey_id_for(event.officeid, event.data.request_id)
        return sid if sid in known else None

    now = deps.clock()
    plans = plan_answers([(_rating(e, named(e)), e.time) for e in events], now=now, office=deps.office)
    added = await deps.store.add_answers([(p.id, p.answer, p.at) for p in plans])
    first = [p for p in plans if p.id in added]
    earlier = await deps.store.stored_answers([p.id for p in plans if p.id not in added])
    again = [
        plan_answer(answer, at=at, now=now, office=deps.office(answer.office), publish=False)
        for answer, at in earlier.values()
    ]
    for p in first:
        deps.metrics.answers.labels(p.answer.office, p.answer.channel, str(p.answer.score)).inc()
    await _follow_up(deps, [*first, *again], "rating")


def _campaign_answer(event: CampaignAnswered) -> CampaignAnswer:
    d = event.data
    return CampaignAnswer(
        office=event.officeid,
        tenant_ref=d.tenant_ref,
        campaign_id=d.campaign_id,
        survey_id=d.survey_id,
        axes={k: v for k, v in d.axes.model_dump().items() if v is not None},
        channel=d.channel.value,
        nps=d.nps,
        comment=d.comment,
    )


async def on_campaign_answers(deps: Deps, events: Sequence[CampaignAnswered]) -> None:
    """A run of consecutive campaign answers of a consumed batch, in bulk, as ``on_ratings``: as
    ``on_campaign_answered`` one after the other, and an answer found stored completes its survey
    mark, words, alert and event."""
    if not events:
        return
    now = deps.clock()
    plans = plan_campaign_answers([(_campaign_answer(e), e.time) for e in events], now=now, office=deps.office)
    added = await deps.store.add_campaign_answers([(p.id, p.answer, p.at) for p in plans])
    first = [p for p in plans if p.id in added]
    earlier = await deps.store.stored_campaign_answers([p.id for p in plans if p.id not in added])
    again = [
        plan_campaign_answer(answer, at=at, now=now, office=deps.office(answer.office), publish=False)
        for answer, at in earlier.values()
    ]
    for p in first:
        deps.metrics.campaign_answers.labels(p.answer.office, p.answer.channel).inc()
    await _follow_up(deps, [*first, *again], "campaign")


async def _follow_up(deps: Deps, plans: Sequence[AnswerPlan | CampaignAnswerPlan], origin: str) -> None:
    """What recorded answers entail, one write each: their surveys marked answered, their words,
    their alerts (counted when new), their events."""
    await deps.store.mark_all_answered([p.answer.survey_id for p in plans if p.answer.survey_id is not None])
    await voice.on_answers(deps, [(p.id, p.answer, p.at) for p in plans])
    alerts = [p.alert for p in plans if p.alert is not None]
    raised = await deps.store.add_alerts(alerts) if alerts else set()
    for alert in alerts:
        if alert.id in raised:
            outcome = "history" if alert.historical else "raised"
            deps.metrics.alerts.labels(alert.office, origin, outcome).inc()
    await deps.outbox.emit([e for p in plans for e in p.events])


async def on_campaign_answered(deps: Deps, event: CampaignAnswered) -> None:
    await record_campaign_answer(deps, _campaign_answer(event), publish=False, at=event.time)


async def on_sms_replied(deps: Deps, event: SmsReplied) -> None:
    """A reply answers the tenant's latest survey still open when the tenant sent it, when it holds
    a 1–5 score; else it is kept as unparsed. The answer keeps the reply's time."""
    office, tenant_ref, sent = event.officeid, event.data.tenant_ref, event.time
    survey = await deps.store.latest_open_survey(office, tenant_ref, sent)
    answer = sms_answer(event.id, office, tenant_ref, event.data.text, survey, sent)
    if isinstance(answer, UnparsedReply):
        await deps.store.add_unparsed(answer)
        await voice.on_reply(deps, answer)
        return
    await record_answer(deps, answer, publish=True, at=sent)


# --- the tenant page ---------------------------------------------------------------------------


async def open_survey(deps: Deps, token: str) -> tuple[PageOutcome, OpenSurvey | None]:
    """The survey a link opens: open, already answered, or invalid (unknown, expired or a closed
    campaign alike)."""
    if not token or len(token) > TOKEN_MAX:
        return PageOutcome.INVALID, None
    survey = await deps.store.survey_by_token_hash(token_hash(token))
    now = deps.clock()
    campaign = None
    if survey is not None and survey.campaign_id and survey.expires_at > now:
        campaign = await deps.store.campaign(survey.campaign_id)
    return page_outcome(survey, campaign, now)


async def web_answer(deps: Deps, token: str, score: int, nps: int | None, comment: str | None) -> PageOutcome:
    """The page's answer to a survey after a request."""
    outcome, opened = await open_survey(deps, token)
    if outcome is not PageOutcome.OPEN or opened is None or opened.questions is not None:
        return outcome if outcome is not PageOutcome.OPEN else PageOutcome.INVALID
    survey = opened.survey
    answer = Answer(
        office=survey.office,
        tenant_ref=survey.tenant_ref,
        score=score,
        channel="web",
        survey_id=survey.id,
        request_id=survey.request_id or None,
        nps=nps,
        comment=comment or None,
    )
    first = await record_answer(deps, answer, publish=True)
    return PageOutcome.THANKS if first else PageOutcome.ALREADY


async def web_campaign_answer(
    deps: Deps, opened: OpenSurvey, axes: dict[str, int], nps: int | None, comment: str | None
) -> PageOutcome:
    """The page's answer to a campaign survey (already opened and checked by the caller)."""
    survey = opened.survey
    assert survey.campaign_id is not None, "a campaign's survey"
    answer = CampaignAnswer(
        office=survey.office,
        tenant_ref=survey.tenant_ref,
        campaign_id=survey.campaign_id,
        survey_id=survey.id,
        axes=axes,
        nps=nps,
        comment=comment or None,
    )
    first = await record_campaign_answer(deps, answer, publish=True)
    return PageOutcome.THANKS if first else PageOutcome.ALREADY
