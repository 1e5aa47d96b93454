"""Pure rules of the feedback service: when a survey is due, tokens, SMS scores, redaction.

No I/O here: handlers pass in what the store knows and the current time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.events import derived_id

#: at most one survey per tenant in this period
CAP = timedelta(days=7)
#: a survey link is valid this long
VALIDITY = timedelta(days=14)
#: one reminder after this long without an answer
REMINDER_AFTER = timedelta(days=3)
#: a manager must call a detractor back within this delay
FOLLOW_UP = timedelta(hours=48)
DETRACTOR_MAX_SCORE = 2


class Decision(StrEnum):
    SEND = "sent"
    CAPPED = "capped"
    NO_CONSENT = "no_consent"


@dataclass(frozen=True)
class TenantState:
    """What feedback knows of a tenant's reachability (no contact details are needed here)."""

    sms_consent: bool = True
    email_consent: bool = True
    preferred_none: bool = False
    erased: bool = False

    @property
    def reachable(self) -> bool:
        return not self.erased and not self.preferred_none and (self.sms_consent or self.email_consent)


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


def survey_token(secret: str, survey_id: str) -> str:
    """The link token: HMAC-SHA256 of the survey id under the service's secret (256 bits, base64url).

    Deterministic so that a redelivered cause rebuilds the same link without storing it in clear;
    unguessable and revealing nothing without the secret."""
    mac = hmac.new(secret.encode(), b"survey-token\x1f" + survey_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    """The only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def form_field(secret: str, token: str) -> str:
    """The anti-forgery field of a survey form, bound to its token."""
    return hmac.new(secret.encode(), b"survey-form\x1f" + token.encode(), hashlib.sha256).hexdigest()


def form_field_ok(secret: str, token: str, value: str) -> bool:
    return hmac.compare_digest(form_field(secret, token).encode(), value.encode())


_NUMBER = re.compile(r"\d+")


def sms_score(text: str) -> int | None:
    """The first number of an SMS reply when it is 1–5, else None (the reply does not count)."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = int(match.group()) if len(match.group()) <= 2 else 0
    return value if 1 <= value <= 5 else None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)(\+|00)?\d(?:[\s.\-]?\d){7,14}(?!\w)")


def redact(comment: str | None) -> str | None:
    """A comment with phone numbers and e-mail addresses replaced, for alerts and their event."""
    if comment is None:
        return None
    return _PHONE.sub("[téléphone masqué]", _EMAIL.sub("[e-mail masqué]", comment))


def is_detractor(score: int) -> bool:
    return score <= DETRACTOR_MAX_SCORE


def answer_key(office: str, survey_id: str | None, request_id: str | None) -> str:
    """One answer per survey; an office rating without a survey counts once per request."""
    if survey_id is not None:
        return f"survey|{survey_id}"
    return f"request|{office}|{request_id}"


def alert_id_for(answer: str) -> str:
    return "ALR-" + derived_id("feedback.alert", answer)
