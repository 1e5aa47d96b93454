"""Personal data out of records kept for operators: what a dead letter may hold.

A record goes to a dead-letter topic because it could not be processed; it is kept there for an
operator to read (``canopee dlq show``) and possibly replay. The original value is **not** kept: its
personal fields are replaced at write time (``redact_value``), and phone numbers and e-mail addresses
anywhere else in it are masked as in the logs. Personal fields are those of the contract that name or
reach a tenant, carry their words, or name a person: ``tenant_ref``, ``housing_ref``, ``phone``,
``email``, ``summary``, ``comment``, ``text``, ``url`` (a survey link), ``action``, ``assignee_name``
and a reopened request's ``reason``; an event's ``subject`` and the record key are replaced too when
they are one of those values (tenant events are keyed by ``tenant_ref``).

The price: a dead letter that carried personal data cannot be replayed as it was (its redacted fields
fail validation again); the office sends the fact again, which the dead letter's reason tells it to.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from shared.observability import mask_personal_data

REDACTED = "[redacted]"

#: ``data`` fields holding personal data, in every event type that has them
PERSONAL_FIELDS = frozenset(
    {"tenant_ref", "housing_ref", "phone", "email", "summary", "comment", "text", "url", "action", "assignee_name"}
)
#: free-text fields that are personal only in some types (elsewhere the same name is an enum)
PERSONAL_BY_TYPE = {"request.reopened": frozenset({"reason"})}

# the same fields found in a value that is not valid JSON (truncated, broken): "name": "…"
_RAW_FIELD = re.compile(
    r'("(?:' + "|".join(sorted(PERSONAL_FIELDS)) + r')"\s*:\s*)"(?:[^"\\]|\\.)*("?)',
)


def _mask_strings(node: Any) -> Any:
    if isinstance(node, str):
        return mask_personal_data(node)
    if isinstance(node, dict):
        return {k: _mask_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_strings(v) for v in node]
    return node


def _redact_event(doc: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The event with its personal fields replaced, and the values replaced."""
    removed: set[str] = set()
    data = doc.get("data")
    if isinstance(data, dict):
        kind = str(doc.get("type", ""))
        short = kind.removeprefix("fr.canopee.").rsplit(".", 1)[0]
        fields = PERSONAL_FIELDS | PERSONAL_BY_TYPE.get(short, frozenset())
        for name in fields & data.keys():
            value = data[name]
            if value is not None and value != REDACTED:
                removed.add(str(value))
                data[name] = REDACTED
    if doc.get("subject") in removed:
        doc["subject"] = REDACTED
    return _mask_strings(doc), removed


def redact_value(value: bytes | None) -> tuple[bytes | None, set[str]]:
    """A record value with its personal data replaced; also returns the values it replaced (so that
    a key equal to one of them can be replaced too)."""
    if value is None:
        return None, set()
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: hostile nesting
        text = value.decode("utf-8", errors="replace")
        redacted = mask_personal_data(_RAW_FIELD.sub(lambda m: f'{m.group(1)}"{REDACTED}{m.group(2)}', text))
        return (value if redacted == text else redacted.encode()), set()
    if not isinstance(doc, dict):
        return json.dumps(_mask_strings(doc), ensure_ascii=False).encode(), set()
    redacted_doc, removed = _redact_event(doc)
    if not removed and redacted_doc == doc:
        return value, set()
    return json.dumps(redacted_doc, ensure_ascii=False, separators=(",", ":")).encode(), removed


def redact_record(key: bytes | None, value: bytes | None) -> tuple[bytes | None, bytes | None]:
    """A record's key and value as a dead letter keeps them."""
    redacted, removed = redact_value(value)
    if key is not None and key.decode("utf-8", errors="replace") in removed:
        key = REDACTED.encode()
    return key, redacted


def erasure_key(office: str, tenant_ref: str) -> str:
    """The key under which a service remembers that a tenant was erased, without keeping the
    reference itself: a SHA-256 of (office, tenant_ref). A service that must refuse a tenant's late
    events after their erasure (an event of another topic arriving after ``tenant.erased``) stores
    this key, never the reference."""
    return hashlib.sha256(f"{office}\x1f{tenant_ref}".encode()).hexdigest()
