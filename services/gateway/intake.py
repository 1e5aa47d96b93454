"""Pure intake rules: decode a request body into items and check each item (no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.events import CloudEvent, InvalidEvent, parse_event

#: media types accepted on POST /v1/events (parameters such as charset are ignored)
ACCEPTED_MEDIA_TYPES = frozenset(
    {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
)

#: rejection classes, used as a bounded metric label and in the per-item results
INVALID = "invalid"
FORBIDDEN = "forbidden"
SERVICE_ONLY = "service_only"
TOO_LARGE = "too_large"


class BodyError(Exception):
    """The whole request is refused (``status`` is the HTTP status to answer)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class ItemError:
    """Why one item of a request was refused."""

    index: int
    kind: str  # INVALID, FORBIDDEN, SERVICE_ONLY or TOO_LARGE
    reason: str
    id: str | None = None

    @property
    def field(self) -> str | None:
        """The attribute named by the reason (``data.category: …`` → ``data.category``)."""
        head, sep, _ = self.reason.partition(": ")
        return head if sep and " " not in head else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": "rejected", "error": self.kind, "reason": self.reason}
        if self.id is not None:
            out["id"] = self.id
        if self.field is not None:
            out["field"] = self.field
        return out


def media_type(header: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (header or "").split(";", 1)[0].strip().lower()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_body(body: bytes, max_events: int) -> tuple[list[Any], bool]:
    """The items of a body (one event object, or an array of them) and whether it was an array."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BodyError(400, "Not JSON", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, "Not JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        detail = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        raise BodyError(400, "Not JSON", detail) from None
    if isinstance(value, list):
        if not value:
            raise BodyError(400, "Empty batch", "the array holds no event")
        if len(value) > max_events:
            raise BodyError(413, "Too many events", f"{len(value)} events in one request; at most {max_events}")
        return value, True
    if isinstance(value, dict):
        return [value], False
    raise BodyError(400, "Not an event", f"expected a JSON object or array, got {type(value).__name__}")


def check_item(index: int, item: Any, office: str, max_event_bytes: int) -> CloudEvent | ItemError:
    """The validated event, or why ``office`` may not send it."""
    item_id = item.get("id") if isinstance(item, dict) else None
    item_id = item_id if isinstance(item_id, str) and len(item_id) <= 200 else None
    if not isinstance(item, dict):
        return ItemError(index, INVALID, f"the event must be a JSON object (got {type(item).__name__})")
    try:
        text = json.dumps(item, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        return ItemError(index, INVALID, "the event cannot be re-encoded as JSON", item_id)
    if len(text.encode()) > max_event_bytes:
        return ItemError(index, TOO_LARGE, f"the event exceeds {max_event_bytes} bytes", item_id)
    try:
        event = parse_event(text)
    except InvalidEvent as exc:
        reason = exc.reason
        if "emitted by services" in reason:
            return ItemError(index, SERVICE_ONLY, reason, item_id)
        return ItemError(index, INVALID, reason, item_id)
    except (ValueError, RecursionError):  # defensive: the contract must never turn bad input into a 500
        return ItemError(index, INVALID, "the event could not be validated", item_id)
    if event.service_only or not event.office_source:
        return ItemError(
            index, SERVICE_ONLY, f"source: {event.type} may only be sent from /offices/{office}/...", item_id
        )
    if event.officeid != office:
        return ItemError(index, FORBIDDEN, f"officeid: this key may only send events of office {office}", item_id)
    return event
