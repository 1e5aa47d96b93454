"""One valid event of every type of the contract, as plain JSON-ready dicts (tests build variants)."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from shared.events import full_type

_counter = itertools.count(1)

OFFICE = "demo-nord"
SOURCE = f"/offices/{OFFICE}/ikos"


def _office(type_: str, subject: str, data: dict[str, Any], topic_source: str = SOURCE) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"ikos-{next(_counter):09d}",
        "source": topic_source,
        "type": full_type(type_),
        "subject": subject,
        "time": "2026-11-27T08:14:05+01:00",
        "officeid": OFFICE,
        "datacontenttype": "application/json",
        "data": data,
    }


def _service(type_: str, subject: str, data: dict[str, Any], service: str) -> dict[str, Any]:
    event = _office(type_, subject, data, f"/services/{service}")
    return event


R = "REQ-2026-000042"
T = "T-88412"
S = "SRV-1234"
N = "NTF-9"

SAMPLES: dict[str, dict[str, Any]] = {
    "request.opened": _office(
        "request.opened",
        R,
        {
            "request_id": R,
            "tenant_ref": T,
            "housing_ref": "LOG-12",
            "category": "heating_hot_water",
            "urgency": "U2",
            "channel": "phone",
            "summary": "Plus d'eau chaude depuis hier soir",
        },
    ),
    "request.assigned": _office(
        "request.assigned",
        R,
        {"request_id": R, "assignee_kind": "contractor", "assignee_ref": "C-7", "assignee_name": "Plomberie Martin"},
    ),
    "appointment.scheduled": _office(
        "appointment.scheduled",
        R,
        {
            "request_id": R,
            "appointment_id": "APT-1",
            "slot_start": "2026-11-30T08:00:00+01:00",
            "slot_end": "2026-11-30T10:00:00+01:00",
            "contractor_name": "Plomberie Martin",
        },
    ),
    "appointment.missed": _office(
        "appointment.missed", R, {"request_id": R, "appointment_id": "APT-1", "missed_by": "contractor"}
    ),
    "request.on_hold": _office("request.on_hold", R, {"request_id": R, "reason": "parts_ordered"}),
    "request.resumed": _office("request.resumed", R, {"request_id": R}),
    "repair.done": _office(
        "repair.done", R, {"request_id": R, "completed_by": "Plomberie Martin", "first_visit": True}
    ),
    "request.closed": _office("request.closed", R, {"request_id": R, "resolution": "resolved"}),
    "request.reopened": _office("request.reopened", R, {"request_id": R, "reason": "La fuite a repris"}),
    "satisfaction.rated": _office(
        "satisfaction.rated",
        S,
        {"request_id": R, "survey_id": S, "tenant_ref": T, "score": 4, "nps": 9, "comment": "Rapide", "channel": "web"},
    ),
    "tenant.contact_updated": _office(
        "tenant.contact_updated",
        T,
        {
            "tenant_ref": T,
            "phone": "+33612345678",
            "email": "locataire@example.org",
            "preferred_channel": "sms",
            "language": "fr",
        },
    ),
    "tenant.consent_changed": _office(
        "tenant.consent_changed", T, {"tenant_ref": T, "channel": "sms", "granted": False, "via": "office"}
    ),
    "tenant.erased": _office("tenant.erased", T, {"tenant_ref": T}),
    "sla.at_risk": _service(
        "sla.at_risk",
        R,
        {
            "request_id": R,
            "stage": "intervention",
            "policy": "U2",
            "due_at": "2026-11-28T08:14:05+01:00",
            "category": "heating_hot_water",
            "urgency": "U2",
        },
        "ticketing",
    ),
    "sla.breached": _service(
        "sla.breached",
        R,
        {
            "request_id": R,
            "stage": "first_response",
            "policy": "first_response",
            "due_at": "2026-11-28T08:14:05+01:00",
            "category": "repair",
        },
        "ticketing",
    ),
    "survey.requested": _service(
        "survey.requested",
        S,
        {
            "survey_id": S,
            "request_id": R,
            "tenant_ref": T,
            "url": "https://avis.example.org/s/abc",
            "expires_at": "2026-12-11T08:14:05+01:00",
            "reminder": False,
        },
        "feedback",
    ),
    "campaign.answered": _service(
        "campaign.answered",
        S,
        {
            "campaign_id": "CMP-1",
            "survey_id": S,
            "tenant_ref": T,
            "axes": {"keys": 4, "team": 2},
            "nps": 7,
            "channel": "web",
        },
        "feedback",
    ),
    "feedback.detractor_alert": _service(
        "feedback.detractor_alert",
        S,
        {
            "survey_id": S,
            "request_id": R,
            "tenant_ref": T,
            "score": 1,
            "comment": "Personne n'est venu",
            "follow_up_due_at": "2026-11-29T08:14:05+01:00",
        },
        "feedback",
    ),
    "feedback.alert_acknowledged": _service(
        "feedback.alert_acknowledged",
        S,
        {
            "alert_id": "5b0c7f4e-2a51-5d43-9a1e-0c3b7f1d2e4a",
            "survey_id": S,
            "request_id": R,
            "acknowledged_at": "2026-11-28T10:02:00+01:00",
            "within_deadline": True,
            "action": "Rappelée, nouveau passage du plombier lundi",
        },
        "feedback",
    ),
    "feedback.alert_overdue": _service(
        "feedback.alert_overdue",
        S,
        {
            "alert_id": "5b0c7f4e-2a51-5d43-9a1e-0c3b7f1d2e4a",
            "survey_id": S,
            "request_id": R,
            "follow_up_due_at": "2026-11-29T08:14:05+01:00",
        },
        "feedback",
    ),
    **{
        f"notification.{kind}": _service(
            f"notification.{kind}",
            N,
            {
                "notification_id": N,
                "cause_id": "ikos-000000001",
                "channel": "sms",
                "template": "request_opened",
                "recipient": "tenant",
                "sms_segments": 1,
            },
            "notifications",
        )
        for kind in ("sent", "delivered", "failed", "deferred", "suppressed")
    },
    "sms.replied": _service("sms.replied", T, {"tenant_ref": T, "text": "4 merci"}, "notifications"),
    "followup.done": _service(
        "followup.done",
        "FUP-1",
        {
            "followup_id": "FUP-1",
            "cause_id": "opac-oise-ikos-000000042",
            "request_id": R,
            "channel": "phone",
            "outcome": "reached",
            "done_at": "2026-11-27T10:30:00+01:00",
        },
        "notifications",
    ),
}


def sample(kind: str, **data_changes: Any) -> dict[str, Any]:
    """A fresh copy of the sample of ``kind`` with a new id and ``data`` fields changed."""
    event = copy.deepcopy(SAMPLES[kind])
    event["id"] = f"ikos-{next(_counter):09d}"
    event["data"].update(data_changes)
    return event


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False)
