"""Detractor alerts: a score of 1 or 2 asks a manager to call the tenant back within 48 hours; the
alert's comment is redacted (docs/DOMAIN.md, "Detractor alerts")."""

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


def plan_alert(
    answer_id: str,
    *,
    office: str,
    tenant_ref: str,
    score: int,
    survey_id: str | None,
    request_id: str | None,
    comment: str | None,
    now: datetime,
) -> tuple[Alert, DetractorAlert]:
    """The alert of a detractor's answer (one per answer) and its event."""
    alert = Alert(
        id=alert_id_for(answer_id),
        office=office,
        tenant_ref=tenant_ref,
        survey_id=survey_id,
        request_id=request_id,
        score=score,
        comment=redact(comment),
        follow_up_due_at=now + FOLLOW_UP,
        created_at=now,
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
        time=now,
        data=data,
        cause=[alert.id],
    )
    return alert, event
