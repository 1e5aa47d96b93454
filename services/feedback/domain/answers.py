"""Answers from every channel (page, SMS, office ratings, campaign forms): one per survey (or per
request for an office rating without a survey), the events they produce, the page's outcomes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.feedback.domain.alerts import Alert, is_detractor, plan_alert
from services.feedback.domain.campaigns import Campaign, Questions, campaign_accepts
from services.feedback.domain.surveys import SERVICE, Survey
from services.feedback.domain.tenants import ANONYMOUS
from shared.events import CampaignAnswered, CloudEvent, SatisfactionRated, service_event
from shared.offices import Office

COMMENT_MAX = 1000

_NUMBER = re.compile(r"\d+")


def sms_score(text: str) -> int | None:
    """The first number of an SMS reply when it is 1–5, else None (the reply does not count)."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = int(match.group()) if len(match.group()) <= 2 else 0
    return value if 1 <= value <= 5 else None


def answer_key(office: str, survey_id: str | None, request_id: str | None) -> str:
    """One answer per survey; an office rating without a survey counts once per request."""
    if survey_id is not None:
        return f"survey|{survey_id}"
    return f"request|{office}|{request_id}"


@dataclass(frozen=True)
class Answer:
    """A 1–5 rating of a survey after a request, or of a request (an office rating)."""

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
    """A campaign survey's answer: a 1–5 rating per axis asked."""

    office: str
    tenant_ref: str
    campaign_id: str
    survey_id: str
    axes: dict[str, int]
    channel: str = "web"
    nps: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class UnparsedReply:
    """An SMS reply that answers nothing (no score, or no open survey): kept, not counted."""

    id: str
    office: str
    tenant_ref: str
    text: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class AnswerPlan:
    """Record ``answer`` under ``id`` (first wins), then publish ``events``; ``alert`` for a detractor."""

    id: str
    answer: Answer
    at: datetime
    events: tuple[CloudEvent, ...] = ()
    alert: Alert | None = None


@dataclass(frozen=True)
class CampaignAnswerPlan:
    """Record ``answer`` under ``id`` (first wins), then publish ``events``; ``alert`` when an axis
    is rated 2 or less."""

    id: str
    answer: CampaignAnswer
    at: datetime
    events: tuple[CloudEvent, ...] = ()
    alert: Alert | None = None


def _present(data: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if v is not None}


def plan_answer(answer: Answer, *, at: datetime, now: datetime, office: Office, publish: bool) -> AnswerPlan:
    """The answer given at ``at`` (the page: now; an SMS: its reply's time; a rating read from the
    topic: its event's time) and read ``now``, in ``office`` (its history horizon).

    ``publish``: the answer came through one of our channels (page, SMS) and is published as
    ``satisfaction.rated``; an answer read from the topic is not published again. A detractor's
    answer also raises an alert (and its event), historical when the rating is older than the
    office's horizon."""
    key = answer_key(answer.office, answer.survey_id, answer.request_id)
    events: list[CloudEvent] = []
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
            time=at,
            data=_present(data),
            cause=[key, "answer"],
        )
        events.append(rated)
    alert = None
    if is_detractor(answer.score):
        alert, raised = plan_alert(
            key,
            office=answer.office,
            tenant_ref=answer.tenant_ref,
            score=answer.score,
            survey_id=answer.survey_id,
            request_id=answer.request_id,
            comment=answer.comment,
            at=at,
            historical=office.is_history(at, now),
        )
        events.append(raised)
    return AnswerPlan(key, answer, at, tuple(events), alert)


def plan_answers(
    ratings: Sequence[tuple[Answer, datetime]], *, now: datetime, office: Callable[[str], Office]
) -> list[AnswerPlan]:
    """A run of ratings read from the topic, each with the time it was given, read ``now``
    (``office``: an office's rules by id): one plan per answer key, the first of the run winning,
    in the run's order, exactly as ``plan_answer`` one at a time (never published again). Whether
    an answer was stored before the run is the store's to say (the first insert wins)."""
    plans: dict[str, AnswerPlan] = {}
    for answer, at in ratings:
        key = answer_key(answer.office, answer.survey_id, answer.request_id)
        if key not in plans:
            plans[key] = plan_answer(answer, at=at, now=now, office=office(answer.office), publish=False)
    return list(plans.values())


def lowest_axis(answer: CampaignAnswer) -> int | None:
    """The campaign answer's lowest axis rating (None: no axis rated)."""
    return min(answer.axes.values(), default=None)


def plan_campaign_answer(
    answer: CampaignAnswer, *, at: datetime, now: datetime, office: Office, publish: bool
) -> CampaignAnswerPlan:
    """A campaign answer given at ``at``, read ``now``: published as ``campaign.answered`` when it
    came through our page; any axis rated 2 or less raises one detractor alert like a repair
    survey's (score: the lowest axis), historical when the answer is older than the horizon."""
    key = answer_key(answer.office, answer.survey_id, None)
    events: list[CloudEvent] = []
    if publish:
        data = {
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
            time=at,
            data=_present(data),
            cause=[key, "answer"],
        )
        events.append(answered)
    alert = None
    lowest = lowest_axis(answer)
    if lowest is not None and is_detractor(lowest):
        alert, raised = plan_alert(
            key,
            office=answer.office,
            tenant_ref=answer.tenant_ref,
            score=lowest,
            survey_id=answer.survey_id,
            request_id=None,
            comment=answer.comment,
            at=at,
            historical=office.is_history(at, now),
            campaign_id=answer.campaign_id,
        )
        events.append(raised)
    return CampaignAnswerPlan(key, answer, at, tuple(events), alert)


def plan_campaign_answers(
    answers: Sequence[tuple[CampaignAnswer, datetime]], *, now: datetime, office: Callable[[str], Office]
) -> list[CampaignAnswerPlan]:
    """A run of campaign answers read from the topic, as ``plan_answers``: one plan per survey, the
    first of the run winning, in the run's order, never published again."""
    plans: dict[str, CampaignAnswerPlan] = {}
    for answer, at in answers:
        key = answer_key(answer.office, answer.survey_id, None)
        if key not in plans:
            plans[key] = plan_campaign_answer(answer, at=at, now=now, office=office(answer.office), publish=False)
    return list(plans.values())


def sms_answer(
    event_id: str, office: str, tenant_ref: str, text: str, survey: Survey | None, at: datetime
) -> Answer | UnparsedReply:
    """An SMS reply (sent at ``at``) answers the tenant's latest open survey after a request when it
    holds a score."""
    score = sms_score(text)
    if score is None or survey is None:
        reason = "no_score" if score is None else "no_open_survey"
        return UnparsedReply(event_id, office, tenant_ref, text, reason, at)
    return Answer(
        office=office,
        tenant_ref=tenant_ref,
        score=score,
        channel="sms",
        survey_id=survey.id,
        request_id=survey.request_id,
        comment=text,
    )


# --- the tenant page ---------------------------------------------------------------------------


class PageOutcome(StrEnum):
    OPEN = "open"  # valid and not answered yet
    THANKS = "thanks"
    ALREADY = "already"
    INVALID = "invalid"  # unknown, expired or closed: one answer for all


@dataclass(frozen=True)
class OpenSurvey:
    """What the page needs to show a survey: the survey and, for a campaign, its questions."""

    survey: Survey
    questions: Questions | None = None
    title: str | None = None


def page_outcome(
    survey: Survey | None, campaign: Campaign | None, now: datetime
) -> tuple[PageOutcome, OpenSurvey | None]:
    """The survey a link opens: open, already answered, or invalid (unknown, expired or a closed
    campaign alike)."""
    if survey is None or survey.expires_at <= now or survey.tenant_ref == ANONYMOUS:
        return PageOutcome.INVALID, None
    opened = OpenSurvey(survey)
    if survey.campaign_id:
        if campaign is None or not campaign_accepts(campaign.status, campaign.closes_at, now):
            return PageOutcome.INVALID, None
        opened = OpenSurvey(survey, campaign.questions, campaign.title)
    if survey.answered:
        return PageOutcome.ALREADY, opened
    return PageOutcome.OPEN, opened
