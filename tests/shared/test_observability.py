"""JSON logs carry the event id and correlation, and never personal data."""

from __future__ import annotations

import json
import logging

from shared.observability import JsonFormatter, correlation_var, event_id_var, mask_personal_data


def format_record(message: str, *args: object) -> dict[str, object]:
    record = logging.LogRecord("canopee.test", logging.WARNING, __file__, 1, message, args, None)
    return json.loads(JsonFormatter("ticketing").format(record))


def test_a_log_line_is_json_with_event_id_and_correlation() -> None:
    event_token, correlation_token = event_id_var.set("ikos-000000042"), correlation_var.set("REQ-2026-000042")
    try:
        entry = format_record("applied %d events", 3)
    finally:
        event_id_var.reset(event_token)
        correlation_var.reset(correlation_token)
    assert entry["message"] == "applied 3 events"
    assert entry["event_id"] == "ikos-000000042"
    assert entry["correlation"] == "REQ-2026-000042"
    assert entry["service"] == "ticketing"
    assert entry["level"] == "WARNING"


def test_phone_numbers_and_email_addresses_are_masked() -> None:
    entry = format_record("sent to %s and %s", "+33612345678", "jeanne.dupont@example.org")
    assert "+33612345678" not in str(entry["message"])
    assert "jeanne.dupont" not in str(entry["message"])
    assert mask_personal_data("appelez le 06 12 34 56 78") == "appelez le [phone]"
    assert mask_personal_data("request REQ-2026-000042 at 2026-11-27") == "request REQ-2026-000042 at 2026-11-27"
