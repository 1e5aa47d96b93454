"""What the gateway accepts: the pure rules applied to a posted body, before anything is produced.

Every item of a request is checked on its own (JSON object, the caller's office, an office event
type, the contract) and gets its own result; the batch policy then decides the HTTP status.
No I/O here: the route reads the body, calls these functions, and produces what they accepted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.events import EVENT_TYPES, CloudEvent, InvalidEvent, parse_event

#: media types of the CloudEvents HTTP binding (structured and batch) and plain JSON
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
ACCEPTED_MEDIA_TYPES = (JSON, SINGLE, BATCH)

ACCEPTED = 202
FORBIDDEN = 403
INVALID = 422


class BodyError(Exception):
    """The request as a whole cannot be processed: answered with ``status`` and no item results."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one posted event; ``event``/``raw`` are set only when it is accepted."""

    index: int
    id: str | None
    status: int
    errors: tuple[FieldError, ...] = ()
    event: CloudEvent | None = field(default=None, compare=False, repr=False)
    raw: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.event is not None:
            body["type"] = self.event.type
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header (parameters such as charset dropped), or a 415."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value not in ACCEPTED_MEDIA_TYPES:
        raise BodyError(
            415,
            "Unsupported Media Type",
            f"Content-Type must be one of {', '.join(ACCEPTED_MEDIA_TYPES)}",
        )
    return value


def parse_body(body: bytes, media: str, max_events: int) -> tuple[list[Any], bool]:
    """The posted items and whether the body was a batch (a JSON array); 400/413/422 otherwise."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise BodyError(400, "Bad Request", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, "Bad Request", f"the body is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise BodyError(400, "Bad Request", "the body is not JSON the gateway can read: too deeply nested") from None
    if isinstance(document, list):
        if media == SINGLE:
            raise BodyError(400, "Bad Request", f"{SINGLE} carries one event; send a batch as {BATCH}")
        if not document:
            raise BodyError(422, "Invalid request", "the batch is empty")
        if len(document) > max_events:
            raise BodyError(413, "Content Too Large", f"{len(document)} events in one request; at most {max_events}")
        return document, True
    if media == BATCH:
        raise BodyError(400, "Bad Request", f"{BATCH} carries a JSON array of events")
    if not isinstance(document, dict):
        raise BodyError(422, "Invalid request", "the body must be a CloudEvent (JSON object) or an array of them")
    return [document], False


def _errors(reason: str) -> tuple[FieldError, ...]:
    out = []
    for part in reason.split("; "):
        where, sep, message = part.partition(": ")
        if sep and " " not in where:
            out.append(FieldError(where, message))
        else:
            out.append(FieldError("", part))
    return tuple(out)


def _office_in_source(source: str) -> str | None:
    if not source.startswith("/offices/"):
        return None
    return source[len("/offices/") :].split("/", 1)[0]


def check_item(index: int, item: Any, office: str) -> ItemResult:
    """One posted item against the caller's office and the contract (strict JSON validation)."""
    if not isinstance(item, dict):
        return ItemResult(index, None, INVALID, (FieldError("", "an event must be a JSON object"),))
    raw_id = item.get("id")
    event_id = raw_id if isinstance(raw_id, str) else None
    officeid = item.get("officeid")
    if isinstance(officeid, str) and officeid != office:
        return ItemResult(index, event_id, FORBIDDEN, (FieldError("officeid", "not the office of this key"),))
    source = item.get("source")
    if isinstance(source, str):
        if source.startswith("/services/"):
            return ItemResult(index, event_id, FORBIDDEN, (FieldError("source", "only services emit /services/…"),))
        source_office = _office_in_source(source)
        if source_office is not None and source_office != office:
            return ItemResult(index, event_id, FORBIDDEN, (FieldError("source", "not the office of this key"),))
    type_name = item.get("type")
    cls = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is not None and cls.service_only:
        return ItemResult(
            index, event_id, FORBIDDEN, (FieldError("type", f"{type_name} is emitted by the services, not offices"),)
        )
    # validate JSON text, not the decoded dict: strict mode reads RFC 3339 strings only from JSON
    try:
        raw = json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return ItemResult(index, event_id, INVALID, (FieldError("", "NaN and Infinity are not JSON"),))
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        return ItemResult(index, event_id, INVALID, _errors(exc.reason))
    if event.officeid != office:  # unreachable after the checks above; kept as the last guard
        return ItemResult(index, event.id, FORBIDDEN, (FieldError("officeid", "not the office of this key"),))
    return ItemResult(index, event.id, ACCEPTED, event=event, raw=raw)


def check_items(items: Sequence[Any], office: str) -> list[ItemResult]:
    return [check_item(i, item, office) for i, item in enumerate(items)]


@dataclass(frozen=True)
class Decision:
    """What to produce and which status to answer, given every item's result."""

    status: int
    to_produce: tuple[ItemResult, ...]


def decide(results: Sequence[ItemResult], all_or_nothing: bool = False) -> Decision:
    """The batch policy.

    - Every item accepted: 202, all produced.
    - Some accepted (default): 202, exactly the accepted ones produced, the others listed with
      their status (403/422) and fields; the caller fixes and re-posts only those.
    - Some refused with ``all_or_nothing``, or none accepted: nothing produced; 403 when every
      refusal is about the office, else 422.
    """
    accepted = tuple(r for r in results if r.accepted)
    refused = [r for r in results if not r.accepted]
    if accepted and (not refused or not all_or_nothing):
        return Decision(ACCEPTED, accepted)
    status = FORBIDDEN if refused and all(r.status == FORBIDDEN for r in refused) else INVALID
    return Decision(status, ())
