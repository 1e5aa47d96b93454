"""The chaos tool's own checks (``tools.chaos_check``, ``tools.chaos_kpis``): a consistent recording
passes; a lost event, a duplicate SMS, a wrong indicator or an unexpected dead letter fails it; a
same-reference provider retry is reported apart. Plus hand-computed indicators of a tiny history."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.events import full_type
from tools.chaos_check import check, expected_keys
from tools.chaos_kpis import expected_totals
from tools.simulator import SimulatorConfig, generate

OFFICES = ["demo-nord", "demo-sud", "demo-est", "demo-ouest"]
START = datetime(2026, 3, 2, tzinfo=UTC)


def _note(n: int, cause: dict[str, Any], outcome: str = "sent", nid: str | None = None) -> dict[str, Any]:
    nid = nid or f"N-{n:05d}"
    return {
        "id": f"{nid}-{outcome}",
        "type": full_type(f"notification.{outcome}"),
        "source": "/services/notifications",
        "subject": nid,
        "time": cause["time"],
        "officeid": cause["officeid"],
        "data": {
            "notification_id": nid,
            "cause_id": cause["id"],
            "channel": "sms",
            "template": "request_opened",
            "recipient": "tenant",
            "sms_segments": 1,
        },
    }


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    """Three days of the four offices, all older than the horizon when "the traffic started" (no
    survey due); an acknowledgement SMS for one opened request in three, each received once."""
    config = SimulatorConfig(seed=5, offices=tuple(OFFICES), start=START, requests_per_day=25)
    end = START + timedelta(days=3)
    sent = list(itertools.takewhile(lambda e: datetime.fromisoformat(e["time"]) < end, generate(config)))
    opened = [e for e in sent if e["type"] == full_type("request.opened")][::3]
    notes = [_note(n, e) for n, e in enumerate(opened)]
    totals = expected_totals(sent, notes, OFFICES)
    return {
        "offices": OFFICES,
        "traffic_started": (START + timedelta(days=10)).isoformat(),
        "horizon_hours": 48,
        "sent": sent,
        "stored": {service: sorted(keys) for service, keys in expected_keys(sent).items()},
        "sms": [{"reference": n["data"]["notification_id"]} for n in notes],
        "mails": [],
        "service_events": notes,
        "dead_letters": [],
        "expected_dead_letters": 0,
        "kpis": {"offices": {o: {"total": totals[o]} for o in OFFICES}, "network": {"total": totals["network"]}},
    }


def test_a_consistent_recording_passes(recording: dict[str, Any]) -> None:
    verdict = check(recording)
    assert verdict.ok, verdict.problems
    assert len(recording["sent"]) > 1000
    assert any("indicators:" in line and ", 0 differ" in line for line in verdict.lines)


@pytest.mark.parametrize("service", ["ticketing", "analytics", "notifications", "feedback"])
def test_a_lost_event_fails(recording: dict[str, Any], service: str) -> None:
    rec = copy.deepcopy(recording)
    rec["stored"][service] = rec["stored"][service][1:]
    verdict = check(rec)
    assert not verdict.ok
    assert any(p.startswith(f"{service} lost 1 records") for p in verdict.problems), verdict.problems


def test_a_duplicate_sms_for_one_cause_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    cause = next(e for e in rec["sent"] if e["type"] == full_type("request.opened"))
    extra = _note(0, cause, nid="N-AGAIN")
    rec["service_events"].append(extra)
    rec["sms"].append({"reference": "N-AGAIN"})
    verdict = check(rec)
    assert any("sent under 2 references" in p for p in verdict.problems), verdict.problems


def test_an_sms_no_notification_explains_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["sms"].append({"reference": "N-UNKNOWN"})
    assert any("no notification event explains" in p for p in check(rec).problems)


def test_a_same_reference_retry_is_reported_apart(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["sms"].append(dict(rec["sms"][0]))
    verdict = check(rec)
    assert verdict.ok, verdict.problems
    assert verdict.retries == [f"sms {rec['sms'][0]['reference']}: received 2 times (same reference)"]


def test_a_message_sent_but_never_received_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["sms"] = rec["sms"][1:]
    assert any("never received" in p for p in check(rec).problems)


def test_a_wrong_indicator_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["kpis"]["offices"]["demo-sud"]["total"]["volume"]["opened"] += 1
    rec["kpis"]["network"]["total"]["csat"]["mean"] = 1.0
    problems = check(rec).problems
    assert any(p.startswith("indicator demo-sud.volume.opened: expected") for p in problems), problems
    assert any(p.startswith("indicator network.csat.mean") for p in problems), problems


def test_an_indicator_the_tool_does_not_compute_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["kpis"]["network"]["total"]["new_indicator"] = 3
    assert any("does not compute" in p for p in check(rec).problems)


def test_an_unexpected_dead_letter_fails(recording: dict[str, Any]) -> None:
    rec = copy.deepcopy(recording)
    rec["dead_letters"] = [{"group": "analytics", "reason": "invalid event"}]
    assert any("unexpected dead letter in analytics" in p for p in check(rec).problems)
    rec["dead_letters"] = [{"group": "analytics", "reason": "fuzz", "expected": True}]
    rec["expected_dead_letters"] = 1
    assert check(rec).ok


def _event(n: int, kind: str, at: datetime, office: str = "demo-nord", **data: Any) -> dict[str, Any]:
    return {
        "id": f"E-{n}",
        "type": full_type(kind),
        "time": at.isoformat(),
        "officeid": office,
        "subject": data.get("request_id", "x"),
        "data": data,
    }


def test_indicators_of_a_tiny_history_computed_by_hand() -> None:
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
    h = timedelta(hours=1)
    events = [
        _event(1, "request.opened", t, request_id="A", tenant_ref="T1", category="repair", urgency="U1", channel="web"),
        _event(2, "request.assigned", t + h, request_id="A", assignee_kind="contractor", assignee_ref="C1"),
        _event(3, "request.on_hold", t + 2 * h, request_id="A", reason="parts_ordered"),
        _event(4, "request.resumed", t + 3 * h, request_id="A"),
        _event(5, "repair.done", t + 5 * h, request_id="A"),  # 5 h elapsed, 4 h without the hold: within U1
        _event(6, "request.closed", t + 6 * h, request_id="A", resolution="resolved"),
        _event(7, "request.reopened", t + 30 * h, request_id="A"),
        _event(8, "request.opened", t, request_id="B", tenant_ref="T2", category="administrative", channel="phone"),
        _event(9, "request.assigned", t + 3 * h, request_id="B", assignee_kind="agent", assignee_ref="A1"),
        _event(10, "request.assigned", t + 4 * h, request_id="B", assignee_kind="agent", assignee_ref="A2"),
        _event(11, "satisfaction.rated", t + 8 * h, request_id="A", tenant_ref="T1", score=5, nps=10, channel="phone"),
        _event(12, "satisfaction.rated", t + 9 * h, request_id="A", tenant_ref="T1", score=1, nps=0, channel="phone"),
        _event(13, "satisfaction.rated", t + 9 * h, request_id="B", tenant_ref="T2", score=2, nps=7, channel="phone"),
    ]
    breach = {
        "id": "S-1",
        "type": full_type("sla.breached"),
        "time": (t + 50 * h).isoformat(),
        "officeid": "demo-nord",
        "subject": "B",
        "data": {"request_id": "B", "stage": "first_response"},
    }
    total = expected_totals(events + events[:3], [breach], ["demo-nord"])["demo-nord"]
    assert total["volume"]["opened"] == 2
    assert total["volume"]["by_urgency"] == {"U1": 1, "none": 1}
    assert total["digital_share_pct"] == 50.0
    assert total["backlog"] == 2  # A reopened, B never closed
    assert total["reassigned"] == {"count": 1, "pct": 50.0}
    assert total["first_response"] == {"n": 2, "median_hours": 1.0, "p90_hours": 3.0}
    assert total["repair_time"]["U1"] == {"n": 1, "median_hours": 4.0, "p90_hours": 4.0}
    assert total["within_target"]["emergency"] == {"repairs": 1, "within": 1, "pct": 100.0}
    assert total["reopen"] == {"closed": 1, "reopened": 1, "rate_pct": 100.0}
    assert total["sla_breaches"]["first_response"] == {"count": 1, "applicable": 2, "rate_pct": 50.0}
    assert total["sla_breaches"]["resolution"] == {"count": 0, "applicable": 1, "rate_pct": 0.0}
    # the first rating per request counts: 5 (nps 10) for A, 2 (nps 7) for B
    assert total["csat"] == {"ratings": 2, "satisfied": 1, "pct": 50.0, "mean": 3.5}
    assert total["nps"] == {"answers": 2, "promoters": 1, "detractors": 0, "score": 50.0}


def _surveys_recording(*sent: dict[str, Any], surveyed: bool = False) -> dict[str, Any]:
    """One office's live events (the traffic started an hour after the last), and feedback's survey
    for REQ-1 when ``surveyed``."""
    started = max(datetime.fromisoformat(e["time"]) for e in sent) + timedelta(hours=1)
    notes = []
    if surveyed:
        done = next(e for e in sent if e["type"] == full_type("repair.done"))
        notes.append(
            {
                "id": "S-1",
                "type": full_type("survey.requested"),
                "time": done["time"],
                "officeid": "demo-nord",
                "subject": "REQ-1",
                "data": {"request_id": "REQ-1", "survey_id": "SRV-1"},
            }
        )
    totals = expected_totals(list(sent), notes, ["demo-nord"])
    return {
        "offices": ["demo-nord"],
        "traffic_started": started.isoformat(),
        "horizon_hours": 48,
        "sent": list(sent),
        "stored": {service: sorted(keys) for service, keys in expected_keys(list(sent)).items()},
        "sms": [],
        "mails": [],
        "service_events": notes,
        "dead_letters": [],
        "expected_dead_letters": 0,
        "kpis": {"offices": {"demo-nord": {"total": totals["demo-nord"]}}, "network": {"total": totals["network"]}},
    }


def _survey_problems(rec: dict[str, Any]) -> list[str]:
    return [p for p in check(rec).problems if p.startswith("surveys")]


def test_a_repair_of_a_reachable_tenant_without_survey_fails_and_one_of_an_unreachable_tenant_does_not() -> None:
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    contact = _event(1, "tenant.contact_updated", t, tenant_ref="T-1", preferred_channel="email")
    opened = _event(
        2,
        "request.opened",
        t + timedelta(minutes=5),
        request_id="REQ-1",
        tenant_ref="T-1",
        category="repair",
        channel="web",
        urgency="U3",
    )
    done = _event(3, "repair.done", t + timedelta(hours=3), request_id="REQ-1", first_visit=True)
    assert _survey_problems(_surveys_recording(contact, opened, done)) == ["surveys: 1 eligible repairs got no survey"]
    assert _survey_problems(_surveys_recording(contact, opened, done, surveyed=True)) == []
    # the tenant wanted nothing when the repair ended, and chose e-mail afterwards: nothing was due
    none = _event(1, "tenant.contact_updated", t, tenant_ref="T-1", preferred_channel="none")
    later = _event(4, "tenant.contact_updated", t + timedelta(hours=5), tenant_ref="T-1", preferred_channel="email")
    assert _survey_problems(_surveys_recording(none, opened, done, later)) == []
    # ... but e-mail chosen before the ending, accepted in order: the survey was due
    before = _event(4, "tenant.contact_updated", t + timedelta(hours=1), tenant_ref="T-1", preferred_channel="email")
    assert _survey_problems(_surveys_recording(none, opened, before, done)) == [
        "surveys: 1 eligible repairs got no survey"
    ]
    # chosen before the ending but accepted after it (out-of-order delivery): reported apart
    rec = _surveys_recording(none, opened, done, before)
    assert _survey_problems(rec) == []
    assert any("arrived after the repair's ending" in line for line in check(rec).lines)


def _service(n: int, kind: str, at: datetime, subject: str, **data: Any) -> dict[str, Any]:
    return {"id": f"S-{n}", "type": full_type(kind), "time": at.isoformat(), "officeid": "demo-nord"} | {
        "subject": subject,
        "data": data,
    }


def test_closed_loop_complaints_follow_ups_tracker_and_per_1000_homes_computed_by_hand() -> None:
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
    h = timedelta(hours=1)
    office = [
        # a complaint answered (assigned) 2 h after, closed a day after; another never answered
        _event(
            1, "request.opened", t, request_id="A", tenant_ref="T1", category="repair", channel="web", complaint=True
        ),
        _event(2, "request.assigned", t + 2 * h, request_id="A", assignee_kind="agent", assignee_ref="A1"),
        _event(3, "request.closed", t + 24 * h, request_id="A", resolution="resolved"),
        _event(
            4, "request.opened", t, request_id="B", tenant_ref="T2", category="repair", channel="phone", complaint=True
        ),
        _event(5, "request.opened", t, request_id="C", tenant_ref="T3", category="repair", channel="phone"),
    ]
    acknowledgement = _note(1, office[0]) | {"id": "N-1-sent"}
    acknowledgement["data"] = acknowledgement["data"] | {"template": "request_opened_tracker"}
    service = [
        acknowledgement,
        # three alerts: one acknowledged in time, one overdue, one still within its 48 hours
        _service(10, "feedback.detractor_alert", t + h, "SRV-1", score=1),
        _service(11, "feedback.detractor_alert", t + h, "SRV-2", score=2),
        _service(12, "feedback.detractor_alert", t + h, "SRV-3", score=1),
        _service(13, "feedback.alert_acknowledged", t + 5 * h, "SRV-1", alert_id="S-10", within_deadline=True),
        _service(14, "feedback.alert_overdue", t + 49 * h, "SRV-2", alert_id="S-11"),
        # follow-ups in person: one task done twice (counted once), another by letter
        _service(20, "followup.done", t + 3 * h, "F-1", followup_id="F-1", channel="phone", outcome="reached"),
        _service(21, "followup.done", t + 3 * h, "F-1", followup_id="F-1", channel="phone", outcome="reached"),
        _service(22, "followup.done", t + 4 * h, "F-2", followup_id="F-2", channel="letter", outcome="unreachable"),
    ]
    totals = expected_totals(office, service, ["demo-nord"], {"demo-nord": 2_000})
    total = totals["demo-nord"]
    assert total["closed_loop"] == {
        "alerts": 3,
        "due": 2,
        "acknowledged_within_48h": 1,
        "acknowledged_within_48h_pct": 50.0,
    }
    complaints = total["complaints"]
    assert (complaints["opened"], complaints["answered"], complaints["answered_in_time"]) == (2, 1, 1)
    assert (complaints["unanswered"], complaints["resolved"]) == (1, 1)
    assert complaints["first_answer"] == {"n": 1, "median_hours": 2.0, "p90_hours": 2.0}
    assert complaints["resolution"] == {"n": 1, "median_hours": 24.0, "p90_hours": 24.0}
    assert total["follow_ups_in_person"] == {
        "done": 2,
        "reached": 1,
        "by_channel": {"phone": 1, "counter": 0, "visit": 0, "letter": 1},
    }
    assert total["status_available_pct"] == round(100 / 3, 2)  # A's acknowledgement carried the link
    assert total["per_1000_homes"] == {
        "homes": 2000,
        "opened": 1.5,
        "breaches": 0.0,
        "complaints": 1.0,
        "detractors": 1.5,
    }
    assert totals["network"]["per_1000_homes"]["homes"] == 2000
