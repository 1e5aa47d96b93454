"""Pure rules of the feedback service: when a survey is due, tokens, SMS scores, redaction,
campaign questions and results.

No I/O here: handlers pass in what the store knows and the current time.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shared.events import Axis, derived_id

#: at most one survey per tenant in this period
CAP = timedelta(days=7)
#: a survey link is valid this long
VALIDITY = timedelta(days=14)
#: one reminder after this long without an answer
REMINDER_AFTER = timedelta(days=3)
#: a manager must call a detractor back within this delay
FOLLOW_UP = timedelta(hours=48)
DETRACTOR_MAX_SCORE = 2
#: bytes of randomness of a survey token (192 bits; the rule asks for at least 128)
TOKEN_BYTES = 24
COMMENT_MAX = 1000

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
    has_phone: bool = False
    has_email: bool = False

    @property
    def reachable(self) -> bool:
        """May be surveyed after a request: unknown contact details count as reachable
        (notifications knows them and applies its own consent rules)."""
        return not self.erased and not self.preferred_none and (self.sms_consent or self.email_consent)

    @property
    def known_consented_channel(self) -> bool:
        """A channel known from tenant events and consented: a campaign's "all tenants" selection."""
        if self.erased or self.preferred_none:
            return False
        return (self.has_phone and self.sms_consent) or (self.has_email and self.email_consent)


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


def campaign_survey_id(campaign_id: str, office: str, tenant_ref: str) -> str:
    """One survey per tenant and campaign, whichever instance or retry creates it."""
    return "SRC-" + derived_id("feedback.campaign-survey", campaign_id, office, tenant_ref)


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


def form_field(secret: str, token: str, nonce: str) -> str:
    """The anti-forgery field of a survey form, bound to its token and to the browser's cookie nonce."""
    message = b"survey-form\x1f" + token.encode() + b"\x1f" + nonce.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def form_field_ok(secret: str, token: str, nonce: str, value: str) -> bool:
    if not nonce or not value:
        return False
    return hmac.compare_digest(form_field(secret, token, nonce).encode(), value.encode())


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


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


# --- campaigns ---------------------------------------------------------------------------------


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Selection(StrEnum):
    #: every tenant with a channel known from tenant events and consented
    CONSENTED = "consented"
    #: tenants with a request opened in a period
    REQUESTS = "requests"


@dataclass(frozen=True)
class Questions:
    """What a campaign asks: a 1–5 rating per listed axis, optionally the 0–10 recommendation and a comment."""

    axes: tuple[Axis, ...] = tuple(AXIS_QUESTIONS)
    nps: bool = True
    comment: bool = True


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


@dataclass
class AxisResult:
    answers: int = 0
    total: int = 0
    distribution: dict[int, int] = field(default_factory=lambda: {s: 0 for s in range(1, 6)})

    @property
    def mean(self) -> float | None:
        return round(self.total / self.answers, 3) if self.answers else None

    @property
    def satisfied_share(self) -> float | None:
        """Share of 4–5 answers (the CSAT definition)."""
        if not self.answers:
            return None
        return round((self.distribution[4] + self.distribution[5]) / self.answers, 4)


@dataclass
class OfficeResult:
    office: str
    invited: int = 0
    answered: int = 0
    axes: dict[str, AxisResult] = field(default_factory=dict)
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0

    @property
    def response_rate(self) -> float | None:
        return round(self.answered / self.invited, 4) if self.invited else None

    @property
    def nps(self) -> float | None:
        if not self.nps_answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.nps_answers, 1)


def campaign_results(
    offices: Iterable[str],
    axes: Iterable[str],
    invited: Mapping[str, int],
    answers: Iterable[Mapping[str, object]],
) -> list[OfficeResult]:
    """Results per office and axis; ``answers`` are stored campaign answers (``office``, ``axes``
    mapping axis → 1–5, ``nps``). Offices in the given order, plus a ``network`` total last."""
    axis_names = list(axes)
    by_office = {o: OfficeResult(o, axes={a: AxisResult() for a in axis_names}) for o in offices}
    network = OfficeResult("network", axes={a: AxisResult() for a in axis_names})
    for office, count in invited.items():
        if office in by_office:
            by_office[office].invited += count
            network.invited += count
    for answer in answers:
        office = str(answer.get("office"))
        if office not in by_office:
            continue
        scores = answer.get("axes")
        nps = answer.get("nps")
        for result in (by_office[office], network):
            result.answered += 1
            if isinstance(scores, Mapping):
                for axis, value in scores.items():
                    if axis in result.axes and isinstance(value, int) and 1 <= value <= 5:
                        bucket = result.axes[axis]
                        bucket.answers += 1
                        bucket.total += value
                        bucket.distribution[value] += 1
            if isinstance(nps, int):
                result.nps_answers += 1
                result.promoters += nps >= 9
                result.detractors += nps <= 6
    return [*by_office.values(), network]


def results_json(results: list[OfficeResult]) -> list[dict[str, object]]:
    return [
        {
            "office": r.office,
            "invited": r.invited,
            "answered": r.answered,
            "response_rate": r.response_rate,
            "nps": r.nps,
            "nps_answers": r.nps_answers,
            "axes": {
                axis: {
                    "answers": a.answers,
                    "mean": a.mean,
                    "satisfied_share": a.satisfied_share,
                    "distribution": {str(k): v for k, v in a.distribution.items()},
                }
                for axis, a in r.axes.items()
            },
        }
        for r in results
    ]


CSV_COLUMNS = (
    "office",
    "axis",
    "invited",
    "answered",
    "response_rate",
    "axis_answers",
    "mean",
    "satisfied_share",
    "score_1",
    "score_2",
    "score_3",
    "score_4",
    "score_5",
)


def results_csv(results: list[OfficeResult]) -> str:
    """One row per office and axis (RFC 4180, comma separated, dot decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        for axis, a in r.axes.items():
            writer.writerow(
                [
                    r.office,
                    axis,
                    r.invited,
                    r.answered,
                    "" if r.response_rate is None else r.response_rate,
                    a.answers,
                    "" if a.mean is None else a.mean,
                    "" if a.satisfied_share is None else a.satisfied_share,
                    *(a.distribution[s] for s in range(1, 6)),
                ]
            )
    return out.getvalue()
