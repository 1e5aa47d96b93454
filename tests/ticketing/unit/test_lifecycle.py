"""The lifecycle fold: states, on hold, reopen, late/duplicate/nonsense events, placeholders, and
order independence (property-based)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.requests import Fact, State, fold
from services.ticketing.domain.sla import AlertKind, Status, clocks, evaluate
from services.ticketing.store import fact_doc, fact_of
from shared.calendar import WorkingCalendar
from shared.events import Stage, parse_event
from shared.offices import SlaTargets
from tests.support.samples import sample

CAL = WorkingCalendar(ZoneInfo("Europe/Paris"))
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # a Thursday
OPENED = {"category": "repair", "urgency": "U2", "channel": "phone", "tenant_ref": "T-1"}


def fact(n: int, kind: str, minutes: float, **data: object) -> Fact:
    return Fact(f"ev-{n:03d}", kind, T0 + timedelta(minutes=minutes), data)


def test_happy_path_through_every_state() -> None:
    facts = [
        fact(1, "request.opened", 0, **OPENED),
        fact(2, "request.assigned", 10, assignee_kind="contractor", assignee_ref="C-7"),
        fact(3, "appointment.scheduled", 20, appointment_id="A1"),
        fact(4, "repair.done", 60),
        fact(5, "request.closed", 70, resolution="resolved"),
    ]
    states = [fold(facts[: i + 1]).state for i in range(len(facts))]
    assert states == [State.OPEN, State.ASSIGNED, State.SCHEDULED, State.DONE, State.CLOSED]
    request = fold(facts)
    assert request.opened and request.flagged == 0 and request.resolution == "resolved"


def test_on_hold_and_resume_return_to_the_previous_state_and_record_the_pause() -> None:
    request = fold(
        [
            fact(1, "request.opened", 0, **OPENED),
            fact(2, "appointment.scheduled", 5, appointment_id="A1"),
            fact(3, "request.on_hold", 10, reason="parts_ordered"),
        ]
    )
    assert request.state == State.ON_HOLD and request.paused
    request = fold([*_facts_of(request), fact(4, "request.resumed", 100)])
    assert request.state == State.SCHEDULED
    assert request.pauses == [(T0 + timedelta(minutes=10), T0 + timedelta(minutes=100))]


def _facts_of(request: object) -> list[Fact]:
    return [e.fact for e in request.timeline]  # type: ignore[attr-defined]


def test_reopen_after_close_then_behaves_as_assigned() -> None:
    request = fold(
        [
            fact(1, "request.opened", 0, **OPENED),
            fact(2, "repair.done", 30),
            fact(3, "request.closed", 40, resolution="resolved"),
            fact(4, "request.reopened", 50),
            fact(5, "request.on_hold", 60, reason="other"),
            fact(6, "request.resumed", 70),
        ]
    )
    assert request.state == State.ASSIGNED and request.flagged == 0


def test_nonsense_events_are_kept_and_flagged() -> None:
    request = fold(
        [
            fact(1, "request.opened", 0, **OPENED),
            fact(2, "request.resumed", 5),
            fact(3, "appointment.missed", 6, appointment_id="NOPE", missed_by="tenant"),
            fact(4, "request.closed", 10, resolution="resolved"),
            fact(5, "request.assigned", 20, assignee_kind="agent", assignee_ref="A"),
            fact(6, "request.opened", 30, **OPENED),
        ]
    )
    assert request.state == State.CLOSED
    flags = {e.fact.id: e.flag for e in request.timeline}
    assert flags["ev-001"] is None and flags["ev-004"] is None
    assert flags["ev-002"] == "request.resumed while the request is not on hold"
    assert flags["ev-003"] == "appointment.missed for an appointment never scheduled"
    assert flags["ev-005"] == "request.assigned after the request was closed"
    assert flags["ev-006"] == "request already opened"
    assert len(request.timeline) == 6


def test_an_unknown_request_is_a_placeholder_that_the_opening_fills_in() -> None:
    done = fact(2, "repair.done", 30)
    placeholder = fold([done])
    assert not placeholder.opened and placeholder.timeline[0].flag == "request not opened yet"
    assert clocks(placeholder, SlaTargets(), CAL, T0) == []
    filled = fold([done, fact(1, "request.opened", 0, **OPENED)])
    assert filled.opened and filled.state == State.DONE and filled.flagged == 0


def test_missed_appointment_needs_a_new_slot() -> None:
    request = fold(
        [
            fact(1, "request.opened", 0, **OPENED),
            fact(2, "appointment.scheduled", 5, appointment_id="A1"),
            fact(3, "appointment.missed", 6, appointment_id="A1", missed_by="contractor"),
        ]
    )
    assert request.state == State.ASSIGNED


def test_fact_from_a_contract_event_leaves_free_text_out() -> None:
    event = parse_event(json.dumps(sample("request.opened")))
    f = Fact.from_event(event)
    assert f.type == "request.opened" and f.id == event.id
    assert "summary" not in f.data and f.data["category"] == "heating_hot_water"
    assert fact_of(fact_doc("demo-nord|R-1", f)) == f


def test_sla_statuses_alerts_and_next_check() -> None:
    sla = SlaTargets()
    request = fold([fact(1, "request.opened", 0, category="repair", urgency="U1")])
    u1 = T0 + timedelta(hours=4)
    early = evaluate(request, sla, CAL, T0 + timedelta(hours=1))
    assert early.alerts == [] and early.next_check_at == T0 + timedelta(hours=3, minutes=12)
    risky = evaluate(request, sla, CAL, T0 + timedelta(hours=3, minutes=30))
    assert [(a.stage, a.kind) for a in risky.alerts] == [(Stage.INTERVENTION, AlertKind.AT_RISK)]
    assert risky.next_check_at == u1
    late = evaluate(request, sla, CAL, u1)
    assert [(a.stage, a.kind, a.at) for a in late.alerts] == [(Stage.INTERVENTION, AlertKind.BREACHED, u1)]
    # the first response (1 working day by default here is 2) is still ahead
    assert late.next_check_at is not None and late.next_check_at > u1
    done = fold([*_facts_of(request), fact(2, "repair.done", 60 * 5)])
    after = evaluate(done, sla, CAL, u1 + timedelta(days=1))
    intervention = next(c for c in after.clocks if c.stage == Stage.INTERVENTION)
    assert intervention.status == Status.BREACHED and intervention.stopped_at is not None
    on_time = fold([*_facts_of(request), fact(2, "repair.done", 60)])
    intervention = next(c for c in evaluate(on_time, sla, CAL, u1).clocks if c.stage == Stage.INTERVENTION)
    assert intervention.status == Status.MET and intervention.elapsed == timedelta(hours=1)


def test_resolution_clocks_by_category() -> None:
    sla = SlaTargets()
    transfer = fold(
        [
            fact(1, "request.opened", 0, category="transfer"),
            fact(2, "request.assigned", 10, assignee_kind="agent", assignee_ref="A"),
        ]
    )
    resolution = next(c for c in clocks(transfer, sla, CAL, T0 + timedelta(hours=1)) if c.stage == Stage.RESOLUTION)
    assert resolution.policy == "transfer" and resolution.target.amount == 30 and resolution.status == Status.MET
    rent = fold([fact(1, "request.opened", 0, category="rent_charges")])
    (_first, resolution) = clocks(rent, sla, CAL, T0)
    assert resolution.policy == "rent_charges" and resolution.target.amount == 10 and resolution.status == Status.OK
    assert [c.stage for c in clocks(fold([fact(1, "request.opened", 0, category="other")]), sla, CAL, T0)] == [
        Stage.FIRST_RESPONSE
    ]


# --- order independence -----------------------------------------------------------------------

_KINDS = [
    ("request.assigned", {"assignee_kind": "agent", "assignee_ref": "A"}),
    ("appointment.scheduled", {"appointment_id": "A1"}),
    ("appointment.missed", {"appointment_id": "A1", "missed_by": "tenant"}),
    ("request.on_hold", {"reason": "other"}),
    ("request.resumed", {}),
    ("repair.done", {}),
    ("request.closed", {"resolution": "resolved"}),
    ("request.reopened", {}),
    ("request.opened", OPENED),
]


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    urgency = draw(st.sampled_from(["U1", "U2", "U3", None]))
    category = draw(st.sampled_from(["repair", "neighbourhood", "transfer", "rent_charges"]))
    opened_data = {"category": category, **({"urgency": urgency} if urgency else {})}
    facts = []
    if draw(st.integers(0, 9)) > 0:  # sometimes a placeholder (no opening known)
        facts.append(Fact("ev-open", "request.opened", T0 + timedelta(minutes=draw(st.integers(0, 60))), opened_data))
    for n in range(draw(st.integers(0, 12))):
        kind, data = draw(st.sampled_from(_KINDS))
        # small time range so that equal timestamps (ordered by id) happen often
        minutes = draw(st.integers(0, 60 * 24 * 12))
        facts.append(Fact(f"ev-{n:02d}", kind, T0 + timedelta(minutes=minutes), data))
    return facts


def _outcome(facts: list[Fact], now: datetime) -> tuple[object, ...]:
    request = fold(facts)
    evaluation = evaluate(request, SlaTargets(), CAL, now)
    return (
        request.state,
        request.opened,
        [(e.fact.id, e.flag) for e in request.timeline],
        request.pauses,
        [(c.stage, c.policy, c.status, c.due_at, c.elapsed, c.paused) for c in evaluation.clocks],
        evaluation.alerts,
        evaluation.next_check_at,
    )


@settings(max_examples=300, deadline=None)
@given(history=histories(), data=st.data())
def test_any_permutation_and_duplication_gives_the_same_state_and_sla(history: list[Fact], data: st.DataObject) -> None:
    now = T0 + timedelta(days=data.draw(st.integers(0, 20)), minutes=data.draw(st.integers(0, 1440)))
    reference = _outcome(history, now)
    duplicated = history + data.draw(st.lists(st.sampled_from(history), max_size=10)) if history else history
    shuffled = data.draw(st.permutations(duplicated))
    assert _outcome(list(shuffled), now) == reference
