"""Detractor alerts: a score of 1 or 2 (after a request, or on any campaign axis) asks a manager to
call the tenant back within 48 hours of the rating; the alert's comment is redacted (docs/DOMAIN.md,
"Surveys and ratings"). An alert about a rating older than the office's history horizon is still
recorded and emitted (with the rating's time, so every consumer sees it is history), marked
``historical``."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.feedback.domain.surveys import SERVICE
from shared.events import AlertAcknowledged, AlertOverdue, DetractorAlert, derived_id, service_event, type_name

#: a manager must call a detractor back within this delay
FOLLOW_UP = timedelta(hours=48)
DETRACTOR_MAX_SCORE = 2
#: the acknowledgement's short action (what the manager did), as the contract bounds it
ACTION_MAX = 300

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
    #: what the manager did when acknowledging it (personal data redacted)
    action: str | None = None
    #: ``feedback.alert_overdue`` was emitted for it (its deadline passed unacknowledged)
    overdue: bool = False

    @property
    def subject(self) -> str:
        return self.survey_id or str(self.request_id)


def alert_event_id(alert_id: str) -> str:
    """The id of the ``feedback.detractor_alert`` event an alert raised (``plan_alert``)."""
    return derived_id(type_name(DetractorAlert), alert_id)


def _targets(alert: Alert) -> dict[str, object]:
    return {k: v for k, v in {"survey_id": alert.survey_id, "request_id": alert.request_id}.items() if v is not None}


def plan_acknowledgement(alert: Alert, at: datetime, action: str | None) -> tuple[Alert, AlertAcknowledged]:
    """The acknowledged alert (at ``at``, with the manager's short action, redacted) and its event;
    within the deadline when acknowledged no later than ``follow_up_due_at``."""
    text = redact((action or "").strip()[:ACTION_MAX] or None)
    acknowledged = replace(alert, open=False, acknowledged_at=at, action=text)
    data: dict[str, object] = {
        "alert_id": alert_event_id(alert.id),
        **_targets(alert),
        "acknowledged_at": at.isoformat(),
        "within_deadline": at <= alert.follow_up_due_at,
    }
    if text:
        data["action"] = text[:ACTION_MAX]
    event = service_event(
        AlertAcknowledged,
        service=SERVICE,
        officeid=alert.office,
        subject=alert.subject,
        time=at,
        data=data,
        cause=[alert.id, "acknowledged"],
    )
    return acknowledged, event


def is_overdue(alert: Alert, now: datetime) -> bool:
    """A live alert still open past its deadline and not yet reported overdue (a historical alert
    sends nothing, so it is never reported)."""
    return alert.open and not alert.overdue and not alert.historical and alert.follow_up_due_at <= now


def plan_overdue(alert: Alert) -> AlertOverdue:
    """The ``feedback.alert_overdue`` event of an alert, dated its deadline (when the fact happened);
    its id derives from the alert, so a second sweep re-emits the same event (deduplicated)."""
    data: dict[str, object] = {
        "alert_id": alert_event_id(alert.id),
        **_targets(alert),
        "follow_up_due_at": alert.follow_up_due_at.isoformat(),
    }
    return service_event(
        AlertOverdue,
        service=SERVICE,
        officeid=alert.office,
        subject=alert.subject,
        time=alert.follow_up_due_at,
        data=data,
        cause=[alert.id, "overdue"],
    )


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
