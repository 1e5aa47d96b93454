"""The request lifecycle as a pure fold over the set of known events.

A request's state is the result of all its known events, deduplicated by ``id`` and ordered by
``(time, id)``: whatever order they arrived in, and however often, the result is the same. An event
that makes no sense for the state it meets is kept in the timeline with a flag saying why, and
otherwise ignored. Events of a request whose ``request.opened`` is not known yet build a placeholder
that the opening later fills in. The rules are those of docs/DOMAIN.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.events import CloudEvent, short_type


class State(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    SCHEDULED = "scheduled"
    DONE = "done"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    REOPENED = "reopened"


#: states in which work is still expected (``reopened`` behaves as ``assigned``)
ACTIVE = frozenset({State.OPEN, State.ASSIGNED, State.SCHEDULED, State.REOPENED})

#: the event types of office.requests this service applies (short names)
REQUEST_TYPES = (
    "request.opened",
    "request.assigned",
    "appointment.scheduled",
    "appointment.missed",
    "request.on_hold",
    "request.resumed",
    "repair.done",
    "request.closed",
    "request.reopened",
)

# Fields copied from an event's data into the timeline. Free text (summary, reopening reason) is
# left out: it may carry personal data, which this service has no need to keep.
_KEPT_FIELDS = {
    "request.opened": ("tenant_ref", "housing_ref", "category", "urgency", "channel"),
    "request.assigned": ("assignee_kind", "assignee_ref", "assignee_name"),
    "appointment.scheduled": ("appointment_id", "slot_start", "slot_end", "contractor_name"),
    "appointment.missed": ("appointment_id", "missed_by"),
    "request.on_hold": ("reason",),
    "request.resumed": (),
    "repair.done": ("completed_by", "first_visit"),
    "request.closed": ("resolution",),
    "request.reopened": (),
}


@dataclass(frozen=True)
class Fact:
    """One known event of a request, reduced to what the lifecycle and the timeline need."""

    id: str
    type: str
    time: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.time, self.id)

    @classmethod
    def from_event(cls, event: CloudEvent) -> Fact:
        kind = short_type(event.type)
        raw = event.data.model_dump(mode="json", exclude_none=True)
        data = {k: raw[k] for k in _KEPT_FIELDS.get(kind, ()) if k in raw}
        return cls(id=event.id, type=kind, time=event.time.astimezone(UTC), data=data)


@dataclass(frozen=True)
class TimelineEntry:
    fact: Fact
    #: why the event made no sense when it was applied (None: applied normally)
    flag: str | None = None


@dataclass
class RequestState:
    """Where a request stands after all its known events."""

    state: State = State.OPEN
    #: False while no ``request.opened`` is known (a placeholder)
    opened: bool = False
    opened_at: datetime | None = None
    category: str | None = None
    urgency: str | None = None
    channel: str | None = None
    tenant_ref: str | None = None
    resolution: str | None = None
    #: the state a ``request.resumed`` returns to
    resume_to: State | None = None
    #: on-hold periods (end None: still on hold)
    pauses: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    first_response_at: datetime | None = None
    repair_done_at: datetime | None = None
    closed_at: datetime | None = None
    #: first assignment or closing (the "first answer" of a transfer request)
    first_answer_at: datetime | None = None
    appointments: set[str] = field(default_factory=set)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for entry in self.timeline if entry.flag)

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None


def unique_facts(facts: Iterable[Fact]) -> list[Fact]:
    """Deduplicate by id and sort by ``(time, id)``. Should two facts share an id but differ, the
    choice between them does not depend on the order they came in."""
    chosen: dict[str, Fact] = {}
    for fact in facts:
        other = chosen.get(fact.id)
        if other is None or _tiebreak(fact) < _tiebreak(other):
            chosen[fact.id] = fact
    return sorted(chosen.values(), key=lambda f: f.key)


def _tiebreak(fact: Fact) -> tuple[datetime, str, str]:
    return (fact.time, fact.type, json.dumps(fact.data, sort_keys=True))


def fold(facts: Iterable[Fact]) -> RequestState:
    """The state of one request from the set of its known events."""
    request = RequestState()
    for fact in unique_facts(facts):
        flag = _apply(request, fact)
        if flag is None and not request.opened:
            flag = "request not opened yet"
        request.timeline.append(TimelineEntry(fact, flag))
    return request


def _end_pause(request: RequestState, at: datetime) -> None:
    if request.paused:
        start, _ = request.pauses[-1]
        request.pauses[-1] = (start, at)


def _apply(r: RequestState, fact: Fact) -> str | None:
    """Apply one fact; return why it makes no sense (and leave the state as it was), or None."""
    kind, data, at = fact.type, fact.data, fact.time
    state = r.state

    if kind == "request.opened":
        if r.opened:
            return "request already opened"
        r.opened = True
        r.opened_at = at
        r.category = data.get("category")
        r.urgency = data.get("urgency")
        r.channel = data.get("channel")
        r.tenant_ref = data.get("tenant_ref")
        return None

    if kind in ("request.assigned", "appointment.scheduled"):
        target = State.ASSIGNED if kind == "request.assigned" else State.SCHEDULED
        if state in (State.DONE, State.CLOSED):
            return f"{kind} after the request was {state.value}"
        if kind == "appointment.scheduled":
            r.appointments.add(str(data.get("appointment_id")))
        if state == State.ON_HOLD:
            r.resume_to = target  # work organised while on hold: resuming goes there
        else:
            r.state = target
        r.first_response_at = r.first_response_at or at
        if kind == "request.assigned":
            r.first_answer_at = r.first_answer_at or at
        return None

    if kind == "appointment.missed":
        if str(data.get("appointment_id")) not in r.appointments:
            return "appointment.missed for an appointment never scheduled"
        if state == State.SCHEDULED:
            r.state = State.ASSIGNED  # a new slot is needed
        elif state == State.ON_HOLD and r.resume_to == State.SCHEDULED:
            r.resume_to = State.ASSIGNED
        return None

    if kind == "request.on_hold":
        if state == State.ON_HOLD:
            return "request already on hold"
        if state not in ACTIVE:
            return f"request.on_hold while the request is {state.value}"
        r.resume_to = State.ASSIGNED if state == State.REOPENED else state
        r.state = State.ON_HOLD
        r.pauses.append((at, None))
        return None

    if kind == "request.resumed":
        if state != State.ON_HOLD:
            return "request.resumed while the request is not on hold"
        r.state = r.resume_to or State.OPEN
        r.resume_to = None
        _end_pause(r, at)
        return None

    if kind == "repair.done":
        if state in (State.DONE, State.CLOSED):
            return f"repair.done while the request is {state.value}"
        _end_pause(r, at)  # the repair settled whatever the request was waiting for
        r.state = State.DONE
        r.resume_to = None
        r.repair_done_at = r.repair_done_at or at
        return None

    if kind == "request.closed":
        if state == State.CLOSED:
            return "request already closed"
        _end_pause(r, at)
        r.state = State.CLOSED
        r.resume_to = None
        r.resolution = data.get("resolution")
        r.closed_at = r.closed_at or at
        r.first_response_at = r.first_response_at or at
        r.first_answer_at = r.first_answer_at or at
        return None

    if kind == "request.reopened":
        if state not in (State.DONE, State.CLOSED):
            return f"request.reopened while the request is {state.value}"
        r.state = State.REOPENED
        r.resolution = None
        return None

    return f"unknown event type {kind}"
