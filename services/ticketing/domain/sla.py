"""SLA clocks of a request: which deadlines apply, when they fall due, where they stand.

Pure functions of a folded ``RequestState``, the office's ``SlaTargets``, its working calendar and
the current time. Working-day targets count office hours (N working days = N × the length of a
working day, on the office's calendar with its holiday region); U1/U2 intervention targets run
24/7. Time spent on hold never counts.

The intervention clock stops at ``repair.done`` only. A request closed with no repair ends it as
``not_applicable`` (neither met nor breached), unless its target had already passed while the
request was open: then it stays ``breached`` (it ran out before the closing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.ticketing.domain.requests import RequestState
from shared.calendar import WorkingCalendar
from shared.events import Stage
from shared.offices import SlaTargets


class Status(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    #: the intervention clock of a request closed with no repair (before its target passed)
    NOT_APPLICABLE = "not_applicable"


class AlertKind(StrEnum):
    AT_RISK = "at_risk"
    BREACHED = "breached"


#: resolution deadlines by category (policy name = category)
_RESOLUTION_TARGETS = {
    "neighbourhood": "neighbourhood_working_days",
    "administrative": "administrative_working_days",
    "rent_charges": "administrative_working_days",
    "transfer": "transfer_working_days",
}


@dataclass(frozen=True)
class Target:
    """A deadline: ``amount`` of ``unit`` (``working_days`` or ``hours``)."""

    amount: float
    unit: str

    @property
    def working(self) -> bool:
        return self.unit == "working_days"


@dataclass(frozen=True)
class Clock:
    """One SLA clock at a given moment."""

    stage: Stage
    policy: str
    target: Target
    started_at: datetime
    stopped_at: datetime | None
    #: when the target is reached (None: on hold before reaching it, not known yet)
    due_at: datetime | None
    at_risk_at: datetime | None
    elapsed: timedelta
    paused: bool
    status: Status

    @property
    def running(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class Alert:
    """An ``sla.at_risk`` or ``sla.breached`` that is due for a request."""

    stage: Stage
    policy: str
    kind: AlertKind
    #: when the threshold was crossed (the emitted event's time)
    at: datetime
    due_at: datetime


def _segments(
    start: datetime, pauses: Sequence[tuple[datetime, datetime | None]]
) -> list[tuple[datetime, datetime | None]]:
    """Periods from ``start`` during which the clock runs (end None: still running)."""
    segments: list[tuple[datetime, datetime | None]] = []
    cursor = start
    for pause_start, pause_end in pauses:
        if pause_end is not None and pause_end <= cursor:
            continue
        if pause_start > cursor:
            segments.append((cursor, pause_start))
        if pause_end is None:
            return segments
        cursor = max(cursor, pause_end)
    segments.append((cursor, None))
    return segments


class _Measure:
    """Elapsed time and its inverse, on the working calendar or around the clock."""

    def __init__(self, calendar: WorkingCalendar, working: bool) -> None:
        self.between: Callable[[datetime, datetime], timedelta]
        self.add: Callable[[datetime, timedelta], datetime]
        if working:
            self.between, self.add = calendar.working_time_between, calendar.add_working_time
        else:
            self.between = lambda a, b: max(b - a, timedelta(0))
            self.add = lambda a, d: (a + d).astimezone(UTC)

    def reached(self, segments: Sequence[tuple[datetime, datetime | None]], amount: timedelta) -> datetime | None:
        remaining = amount
        for start, end in segments:
            if end is None:
                return self.add(start, remaining)
            available = self.between(start, end)
            if available >= remaining:
                return self.add(start, remaining)
            remaining -= available
        return None

    def elapsed(self, segments: Sequence[tuple[datetime, datetime | None]], until: datetime) -> timedelta:
        total = timedelta(0)
        for start, end in segments:
            if start >= until:
                break
            total += self.between(start, until if end is None else min(end, until))
        return total


@dataclass(frozen=True)
class _Deadline:
    stage: Stage
    policy: str
    target: Target
    stopped_at: datetime | None
    #: stopped by something other than what the clock waits for (a closing with no repair)
    without_its_event: bool = False


def _applicable(request: RequestState, sla: SlaTargets) -> list[_Deadline]:
    """Each deadline that applies to the request, with when (and how) its clock stopped."""
    clocks = [
        _Deadline(
            Stage.FIRST_RESPONSE,
            "first_response",
            Target(sla.first_response_working_days, "working_days"),
            request.first_response_at,
        )
    ]
    interventions = {
        "U1": Target(sla.u1_hours, "hours"),
        "U2": Target(sla.u2_hours, "hours"),
        "U3": Target(sla.u3_working_days, "working_days"),
    }
    target = interventions.get(request.urgency or "")
    if target is not None:
        # only a repair stops the intervention clock; a closing with none ends it unmet
        if request.repair_done_at is not None:
            clocks.append(_Deadline(Stage.INTERVENTION, str(request.urgency), target, request.repair_done_at))
        else:
            clocks.append(
                _Deadline(
                    Stage.INTERVENTION, str(request.urgency), target, request.closed_at, request.closed_at is not None
                )
            )
    field = _RESOLUTION_TARGETS.get(request.category or "")
    if field is not None:
        # a transfer request needs a first answer (closing or assigning); the others a closing
        stop = request.first_answer_at if request.category == "transfer" else request.closed_at
        clocks.append(
            _Deadline(Stage.RESOLUTION, str(request.category), Target(getattr(sla, field), "working_days"), stop)
        )
    return clocks


def clocks(request: RequestState, sla: SlaTargets, calendar: WorkingCalendar, now: datetime) -> list[Clock]:
    """Every SLA clock of the request as of ``now`` (none for a placeholder)."""
    if not request.opened or request.opened_at is None:
        return []
    start = request.opened_at
    result = []
    for deadline in _applicable(request, sla):
        target, stopped_at = deadline.target, deadline.stopped_at
        measure = _Measure(calendar, target.working)
        amount = calendar.working_days(target.amount) if target.working else timedelta(hours=target.amount)
        # pauses after the clock stopped change nothing (the due time is as if it never stopped)
        segments = _segments(start, request.pauses)
        due_at = measure.reached(segments, amount)
        at_risk_at = measure.reached(segments, amount * sla.at_risk_ratio)
        until = now if stopped_at is None else min(stopped_at, now)
        elapsed = measure.elapsed(segments, until)
        paused = stopped_at is None and request.paused
        if stopped_at is not None and stopped_at <= now:
            if due_at is not None and stopped_at > due_at:
                status = Status.BREACHED
            else:
                status = Status.NOT_APPLICABLE if deadline.without_its_event else Status.MET
        elif due_at is not None and now >= due_at:
            status = Status.BREACHED
        elif at_risk_at is not None and now >= at_risk_at:
            status = Status.AT_RISK
        else:
            status = Status.OK
        result.append(
            Clock(
                deadline.stage, deadline.policy, target, start, stopped_at, due_at, at_risk_at, elapsed, paused, status
            )
        )
    return result


def due_alerts(request_clocks: Sequence[Clock]) -> list[Alert]:
    """The alerts the clocks call for now: a breach (even one found after the clock stopped, when
    events came late), or an at-risk warning on a clock still running."""
    alerts = []
    for clock in request_clocks:
        if clock.status == Status.BREACHED and clock.due_at is not None:
            alerts.append(Alert(clock.stage, clock.policy, AlertKind.BREACHED, clock.due_at, clock.due_at))
        elif clock.status == Status.AT_RISK and clock.at_risk_at is not None and clock.due_at is not None:
            alerts.append(Alert(clock.stage, clock.policy, AlertKind.AT_RISK, clock.at_risk_at, clock.due_at))
    return alerts


def next_check(request_clocks: Sequence[Clock], now: datetime) -> datetime | None:
    """The next moment a running clock crosses a threshold (when the sweeper must look again)."""
    upcoming = [
        moment
        for clock in request_clocks
        if clock.stopped_at is None or clock.stopped_at > now
        for moment in (clock.at_risk_at, clock.due_at)
        if moment is not None and moment > now
    ]
    return min(upcoming) if upcoming else None


@dataclass(frozen=True)
class Evaluation:
    """A request's clocks as of a moment, the alerts they call for and when to look again."""

    clocks: list[Clock]
    alerts: list[Alert]
    next_check_at: datetime | None

    @property
    def breached(self) -> bool:
        return any(c.status == Status.BREACHED for c in self.clocks)

    @property
    def at_risk(self) -> bool:
        return any(c.status == Status.AT_RISK for c in self.clocks)


def evaluate(request: RequestState, sla: SlaTargets, calendar: WorkingCalendar, now: datetime) -> Evaluation:
    """Clocks, due alerts and next threshold of ``request`` at ``now``."""
    request_clocks = clocks(request, sla, calendar, now)
    return Evaluation(request_clocks, due_alerts(request_clocks), next_check(request_clocks, now))
