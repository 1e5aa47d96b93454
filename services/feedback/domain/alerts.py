"""Detractor alerts: a score of 1 or 2 (after a request, or on any campaign axis) asks a manager to
call the tenant back within 48 hours of the rating; the alert's comment is redacted (docs/DOMAIN.md,
"Surveys and ratings"). An alert about a rating older than the office's history horizon is still
recorded and emitted (with the rating's time, so every consumer sees it is history), marked
``historical``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.feedback.domain.surveys import SERVICE
from shared.events import DetractorAlert, derived_id, service_event

#: a manager must call a detractor back within this delay
FOLLOW_UP = timedelta(hours=48)
DETRACTOR_MAX_SCORE = 2

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)(\+|00)?\d(?:[\s.\-]?\d){7,14}(?!\w)")


def redact(comment: str | None) -> str | None:
    """A comment with phone numbers and e-mail addresses replaced, for alerts and their event."""
    if comment is None:
        return None
    return _PHONE.sub("[téléphone masqué]", _EMAIL.sub("[e-mail masqué]", comment))


def is_detractor(score: int) -> bool:
    return score <= DETRACTOR_MAX_SCORE


def alert_id_for(answer: str) -> str:
    return "ALR-" + derived_id("feedback.alert", answer)


@dataclass(frozen=True)
class Alert:
    id: str
    office: str
    tenant_ref: str
    score: int
    follow_up_due_at: datetime
    created_at: datetime
    survey_id: str | None = None
    request_id: str | None = None
    comment: str | None = None
    open: bool = True
    acknowledged_at: datetime | None = None
    #: the campaign whose answer raised it (None: a rating after a request)
    campaign_id: str | None = None
    #: the rating was older than the office's history horizon when it arrived: recorded, sends nothing
    historical: bool = False


def plan_alert(
    answer_id: str,
    *,
    office: str,
    tenant_ref: str,
    score: int,
    survey_id: str | None,
    request_id: str | None,
    comment: str | None,
    at: datetime,
    historical: bool,
    campaign_id: str | None = None,
) -> tuple[Alert, DetractorAlert]:
    """The alert of a detractor's answer (one per answer) and its event, both dated ``at``, the
    rating's time: the follow-up is due 48 hours after the tenant rated, not after we read it."""
    alert = Alert(
        id=alert_id_for(answer_id),
        office=office,
        tenant_ref=tenant_ref,
        survey_id=survey_id,
        request_id=request_id,
        score=score,
        comment=redact(comment),
        follow_up_due_at=at + FOLLOW_UP,
        created_at=at,
        campaign_id=campaign_id,
        historical=historical,
    )
    data: dict[str, object] = {
        "survey_id": alert.survey_id,
        "request_id": alert.request_id,
        "tenant_ref": alert.tenant_ref,
        "score": alert.score,
        "comment": alert.comment,
    }
    data = {k: v for k, v in data.items() if v is not None}
    data["follow_up_due_at"] = alert.follow_up_due_at.isoformat()
    event = service_event(
        DetractorAlert,
        service=SERVICE,
        officeid=office,
        subject=survey_id or str(request_id),
        time=at,
        data=data,
        cause=[alert.id],
    )
    return alert, event
