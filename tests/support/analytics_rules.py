"""Small hand-made histories for analytics' rules tests: contract events of requests of a few
offices (one in Alsace-Moselle), built from times given in Paris time."""

from __future__ import annotations

import itertools
import json
import tomllib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import CloudEvent, parse_event
from shared.offices import Offices

PARIS = ZoneInfo("Europe/Paris")

#: two offices with the same rules, but Metz has Alsace-Moselle's public holidays (26 December)
OFFICES_TOML = """
[[office]]
id = "demo-lille"
name = "Office démo Lille"

[[office]]
id = "demo-metz"
name = "Office démo Metz"
holiday_region = "Moselle"
"""
OFFICES = Offices.model_validate(tomllib.loads(OFFICES_TOML))

_ids = itertools.count(1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


def event(kind: str, request_id: str, at: datetime, office: str = "demo-lille", **data: Any) -> CloudEvent:
    """A contract event of ``kind`` about ``request_id`` at ``at`` (``sla.*`` come from ticketing)."""
    service = kind.startswith("sla.")
    return parse_event(
        json.dumps(
            {
                "specversion": "1.0",
                "id": f"rules-{next(_ids):07d}",
                "source": "/services/ticketing" if service else f"/offices/{office}/ikos",
                "type": f"fr.canopee.{kind}.v1",
                "subject": request_id,
                "time": at.astimezone(UTC).isoformat(),
                "officeid": office,
                "data": {"request_id": request_id, **data},
            }
        )
    )


def opened(request_id: str, at: datetime, office: str = "demo-lille", **data: Any) -> CloudEvent:
    fields = {"tenant_ref": "T-1", "category": "repair", "channel": "phone", **data}
    return event("request.opened", request_id, at, office, **fields)


def assigned(request_id: str, at: datetime, office: str = "demo-lille") -> CloudEvent:
    return event("request.assigned", request_id, at, office, assignee_kind="agent", assignee_ref="A-1")


def closed(request_id: str, at: datetime, office: str = "demo-lille", resolution: str = "resolved") -> CloudEvent:
    return event("request.closed", request_id, at, office, resolution=resolution)


def breached(request_id: str, stage: str, due: datetime, office: str = "demo-lille", **data: Any) -> CloudEvent:
    """The ``sla.breached`` ticketing states, timed at the due instant."""
    fields = {"stage": stage, "policy": data.pop("policy", stage), "due_at": due.isoformat(), **data}
    return event("sla.breached", request_id, due, office, **fields)
