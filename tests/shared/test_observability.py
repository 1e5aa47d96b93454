"""JSON logs carry the event id and correlation, and never personal data."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

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


_NOTATIONS = [
    lambda d: f"0{d[0]}{d[1:]}",
    lambda d: "0" + d[0] + " " + " ".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "0" + d[0] + "." + ".".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "0" + d[0] + "-" + "-".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: f"+33{d}",
    lambda d: "+33 " + d[0] + " " + " ".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "+33 (0)" + d[0] + " " + " ".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: f"+33(0){d}",
    lambda d: f"0033{d}",
    lambda d: "0033 " + d[0] + " " + " ".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "00 33 " + d[0] + " " + " ".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "+33." + d[0] + "." + ".".join(d[i : i + 2] for i in range(1, 9, 2)),
    lambda d: "+33 " + d[0] + "\u00a0" + "\u00a0".join(d[i : i + 2] for i in range(1, 9, 2)),
]


@given(
    digits=st.text("0123456789", min_size=8, max_size=8),
    first=st.sampled_from("123456789"),
    notation=st.sampled_from(range(len(_NOTATIONS))),
    before=st.sampled_from(["", "tél. ", "appelez le ", "(", "numéro:"]),
    after=st.sampled_from(["", " merci", ")", ", svp", "."]),
)
def test_every_french_phone_notation_is_masked(digits: str, first: str, notation: int, before: str, after: str) -> None:
    number = _NOTATIONS[notation](first + digits)
    masked = mask_personal_data(f"{before}{number}{after}")
    assert masked == f"{before}[phone]{after}", number


@given(
    local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,15}(\.[a-z0-9-]{1,10}){0,2}\.[a-z]{2,6}", fullmatch=True),
)
def test_email_addresses_are_masked(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert address not in mask_personal_data(f"écrire à {address} pour le suivi")
    assert "[email]" in mask_personal_data(f"écrire à {address} pour le suivi")


def test_references_dates_and_amounts_are_not_taken_for_phone_numbers() -> None:
    for text in ("REQ-2026-000042", "2026-11-27T08:00:00Z", "ticket 0612 ok", "montant 1234,56 €", "v1.20.3"):
        assert mask_personal_data(text) == text
