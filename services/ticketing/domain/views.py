"""A request folded and evaluated at a moment, and what follows from it: the summary kept for lists,
filters and the sweeper, and the ``sla.*`` alerts to record (each exactly once, under its key).

Live or history: an alert about a threshold crossed longer ago than the office's horizon when it is
found (``Office.is_history``: a backfill, a replay, a fresh database, a long stop) is recorded as
*historical*. Its event still goes on the bus, with the instant the threshold was crossed as its
``time``, so that every consumer applying the same horizon acts on it towards nobody.

Pure: the store turns these records into its documents and back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.ticketing.domain.requests import Fact, RequestState, fold
from services.ticketing.domain.sla import Alert, AlertKind, Evaluation, evaluate
from shared.calendar import office_calendar
from shared.events import SlaAtRisk, SlaBreached, service_event
from shared.offices import Office

SERVICE = "ticketing"


def request_key(office: str, request_id: str) -> str:
    return f"{office}|{request_id}"


def split_request_key(key: str) -> tuple[str, str]:
    """``office|request_id`` → (office, request_id)."""
    office, request_id = key.split("|", 1)
    return office, request_id


def alert_key(office: str, request_id: str, stage: str, kind: str) -> str:
    return f"{office}|{request_id}|{stage}|{kind}"


@dataclass(frozen=True)
class View:
    """A request folded and evaluated at a moment."""

    office: str
    request_id: str
    request: RequestState
    evaluation: Evaluation


def project(office: Office, request_id: str, facts: Iterable[Fact], now: datetime) -> View:
    """Fold the request's known events and evaluate its SLA clocks on the office's calendar."""
    request = fold(facts)
    return View(office.id, request_id, request, evaluate(request, office.sla, office_calendar(office), now))


@dataclass(frozen=True)
class ClockSummary:
    stage: str
    policy: str
    status: str
    due_at: datetime | None
    paused: bool
    #: the clock's current alert (at risk or breached) was found after the office's horizon and
    #: recorded as historical: nobody was alerted
    historical: bool = False


@dataclass(frozen=True)
class RequestSummary:
    """What is kept of a request besides its events, for lists, filters and the sweeper."""

    office: str
    request_id: str
    n_events: int
    state: str
    placeholder: bool
    category: str | None
    urgency: str | None
    channel: str | None
    opened_at: datetime | None
    last_event_at: datetime | None
    flagged: int
    breached: bool
    at_risk: bool
    clocks: tuple[ClockSummary, ...]
    #: when the sweeper must look at the request again (None: no threshold ahead)
    next_check_at: datetime | None
    updated_at: datetime | None

    @property
    def key(self) -> str:
        return request_key(self.office, self.request_id)


def summarize(view: View, now: datetime, historical: frozenset[str] | set[str] = frozenset()) -> RequestSummary:
    """The summary of ``view``; ``historical``: the keys of the alerts recorded as historical."""
    r = view.request

    def historical_clock(stage: str) -> bool:
        return any(alert_key(view.office, view.request_id, stage, kind) in historical for kind in AlertKind)

    return RequestSummary(
        office=view.office,
        request_id=view.request_id,
        n_events=len(r.timeline),
        state=r.state.value,
        placeholder=not r.opened,
        category=r.category,
        urgency=r.urgency,
        channel=r.channel,
        opened_at=r.opened_at,
        last_event_at=r.timeline[-1].fact.time if r.timeline else None,
        flagged=r.flagged,
        breached=view.evaluation.breached,
        at_risk=view.evaluation.at_risk,
        clocks=tuple(
            ClockSummary(c.stage.value, c.policy, c.status.value, c.due_at, c.paused, historical_clock(c.stage.value))
            for c in view.evaluation.clocks
        ),
        next_check_at=view.evaluation.next_check_at,
        updated_at=now,
    )


@dataclass(frozen=True)
class RequestFilter:
    office: str | None = None
    state: str | None = None
    breached: bool | None = None
    category: str | None = None


@dataclass(frozen=True)
class AlertRecord:
    office: str
    request_id: str
    stage: str
    policy: str
    kind: str
    #: the CloudEvent to publish, as JSON text (stored so every retry publishes the same event)
    event: str
    #: found after the office's horizon (``Office.is_history``): recorded and published, acted on
    #: towards nobody
    historical: bool = False

    @property
    def key(self) -> str:
        return alert_key(self.office, self.request_id, self.stage, self.kind)

    @property
    def at(self) -> datetime:
        """When the threshold was crossed (the event's ``time``)."""
        return datetime.fromisoformat(json.loads(self.event)["time"])

    @property
    def due_at(self) -> datetime | None:
        due = json.loads(self.event).get("data", {}).get("due_at")
        return None if due is None else datetime.fromisoformat(due)


def is_historical(office: Office, alert: Alert, now: datetime) -> bool:
    """Whether an alert found at ``now`` is history: its threshold was crossed before the horizon."""
    return office.is_history(alert.at, now)


def alert_records(view: View, office: Office, now: datetime) -> list[AlertRecord]:
    """The ``sla.at_risk`` / ``sla.breached`` events the view's clocks call for, each under its
    unique key, marked historical when found after the office's horizon; the event id is derived
    from the same key, so a repeated publish carries it too, and its time is the instant the
    threshold was crossed (never the moment it was found)."""
    records = []
    for alert in view.evaluation.alerts:
        cls = SlaBreached if alert.kind == AlertKind.BREACHED else SlaAtRisk
        event = service_event(
            cls,
            service=SERVICE,
            officeid=view.office,
            subject=view.request_id,
            time=alert.at,
            data={
                "request_id": view.request_id,
                "stage": alert.stage.value,
                "policy": alert.policy,
                "due_at": alert.due_at.isoformat(),
                "category": view.request.category,
                **({"urgency": view.request.urgency} if view.request.urgency else {}),
            },
            cause=[view.office, view.request_id, alert.stage.value],
        )
        records.append(
            AlertRecord(
                office=view.office,
                request_id=view.request_id,
                stage=alert.stage.value,
                policy=alert.policy,
                kind=alert.kind.value,
                event=event.to_json().decode(),
                historical=is_historical(office, alert, now),
            )
        )
    return records
