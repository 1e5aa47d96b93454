"""The records analytics keeps, as the handlers and the store exchange them (docs/analytics.md).

``StoredEvent``: what is kept of one consumed event. ``Fact``: one request, survey, detractor
alert or notification (``RequestFact`` …) folded from all its events
(``services.analytics.domain.facts``).
``Net``: an office-day's open-interval balance (its ``Rollup`` is in
``services.analytics.domain.rollups``). How they are stored is the store's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal, TypeAlias

FactKind = Literal["request", "survey", "alert", "notification"]


def day_key(office: str, day: date) -> str:
    """``office|YYYY-MM-DD``: the key of an office-day (its rollup, net and dirty marker)."""
    return f"{office}|{day.isoformat()}"


def split_day_key(key: str) -> tuple[str, date]:
    """``office|YYYY-MM-DD`` → (office, day)."""
    office, day = key.rsplit("|", 1)
    return office, date.fromisoformat(day)


@dataclass(frozen=True)
class StoredEvent:
    """An event analytics keeps: its id, the key of its fact and only the fields indicators need
    (``data``: enums as their values, absent fields left out)."""

    id: str
    key: str
    office: str
    type: str
    time: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> Any:
        """The channel the event names, if any."""
        return self.data.get("channel")


@dataclass(frozen=True, kw_only=True)
class FactBase:
    """What every fact has: its key (``r|``, ``s|``, ``a|`` or ``n|`` + office + id), the number of
    events it was folded from and the office-local days (ISO dates) it contributes to."""

    key: str
    office: str
    n_events: int
    days: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interval:
    """A request open from ``s`` to ``e`` (None: still open)."""

    s: datetime
    e: datetime | None


@dataclass(frozen=True)
class Appointment:
    id: str
    at: datetime


@dataclass(frozen=True)
class Missed:
    at: datetime
    by: str


@dataclass(frozen=True, kw_only=True)
class RequestFact(FactBase):
    """A request; a placeholder when its ``request.opened`` has not been kept (yet)."""

    kind: ClassVar[Literal["request"]] = "request"
    placeholder: bool
    opened_at: datetime | None = None
    opened_event: str | None = None
    category: str | None = None
    urgency: str | None = None
    channel: str | None = None
    first_response_at: datetime | None = None
    first_response_seconds: float | None = None
    repair_done_at: datetime | None = None
    repair_seconds: float | None = None
    within_target: bool | None = None
    open_intervals: tuple[Interval, ...] = ()
    first_closed_at: datetime | None = None
    resolution: str | None = None
    reopened: bool = False
    assignees: int = 0
    appointments: tuple[Appointment, ...] = ()
    missed: tuple[Missed, ...] = ()
    #: the first breach of each stage
    breaches: Mapping[str, datetime] = field(default_factory=dict)
    #: a transfer request answered in time (True), answered late or overdue (False), or neither
    #: yet / not a transfer (None: not counted)
    transfer_in_time: bool | None = None
    #: the contractor the repair is attributed to (``services.analytics.domain.contractors``):
    #: the ``assignee_ref`` of a contractor assignment, or ``name:`` + the appointment's
    #: contractor name when no contractor was assigned; None: no contractor
    contractor: str | None = None
    contractor_name: str | None = None
    #: ``first_visit`` of the first ``repair.done`` (None: not said)
    first_visit: bool | None = None
    #: a digest of the ``housing_ref`` (office-scoped; the reference itself is not kept)
    housing: str | None = None
    #: opened as a complaint (``complaint: true``)
    complaint: bool = False
    #: a complaint answered (first response) within its deadline (True), later (False), or not
    #: answered yet / not a complaint (None)
    complaint_answered_in_time: bool | None = None


@dataclass(frozen=True)
class Rating:
    at: datetime
    score: int
    nps: int | None
    channel: str | None


@dataclass(frozen=True)
class CampaignAnswer:
    at: datetime
    axes: Mapping[str, int]
    nps: int | None


@dataclass(frozen=True, kw_only=True)
class SurveyFact(FactBase):
    """A survey: sent (first non-reminder invitation), rated (first rating), answered (campaign)."""

    kind: ClassVar[Literal["survey"]] = "survey"
    sent_at: datetime | None
    #: ``request`` (a repair survey) or ``campaign``
    origin: str
    campaign_id: str | None
    rating: Rating | None
    campaign_answer: CampaignAnswer | None
    #: the request a repair survey is about (None for a campaign)
    request_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlertFact(FactBase):
    """A detractor alert."""

    kind: ClassVar[Literal["alert"]] = "alert"
    raised_at: datetime
    score: int | None
    due_at: datetime | None
    #: when a manager acknowledged it (``feedback.alert_acknowledged``), and whether within 48 hours
    acknowledged_at: datetime | None = None
    within_deadline: bool | None = None
    #: its deadline passed unacknowledged (``feedback.alert_overdue``)
    overdue: bool = False


@dataclass(frozen=True, kw_only=True)
class NotificationFact(FactBase):
    """A notification: its first event's fields and the highest outcome it reached."""

    kind: ClassVar[Literal["notification"]] = "notification"
    first_at: datetime
    channel: str | None
    template: str | None
    recipient: str | None
    #: the id of the event the notification was sent for
    cause_id: str | None
    outcome: str
    outcomes: tuple[str, ...]
    sms_segments: int


Fact: TypeAlias = RequestFact | SurveyFact | AlertFact | NotificationFact


@dataclass(frozen=True)
class Net:
    """An office-day's balance of open intervals (starts − ends), with its rollup's ``gen``."""

    office: str
    day: date
    net: int
    gen: str | None = None

    @property
    def key(self) -> str:
        return day_key(self.office, self.day)
