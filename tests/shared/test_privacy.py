"""Dead letters keep no personal data: fields replaced, phones and e-mails masked, keys too."""

from __future__ import annotations

import json

from shared.privacy import REDACTED, redact_record, redact_value
from tests.support.samples import sample

PHONE, EMAIL = "+33612345678", "lea.martin@example.org"


def test_a_contact_event_keeps_its_shape_but_no_personal_value() -> None:
    event = sample("tenant.contact_updated", phone=PHONE, email=EMAIL)
    tenant = event["data"]["tenant_ref"]
    key, value = redact_record(tenant.encode(), json.dumps(event).encode())
    assert value is not None
    text = value.decode()
    for secret in (PHONE, EMAIL, tenant):
        assert secret not in text
    doc = json.loads(text)
    assert doc["data"]["phone"] == doc["data"]["email"] == doc["data"]["tenant_ref"] == REDACTED
    assert doc["data"]["preferred_channel"] == event["data"]["preferred_channel"]
    assert doc["id"] == event["id"] and doc["type"] == event["type"]
    assert key == REDACTED.encode()


def test_words_and_links_are_replaced_and_enums_kept() -> None:
    rated = sample("satisfaction.rated", comment=f"rappelez-moi au 06 12 34 56 78 ou {EMAIL}")
    value, removed = redact_value(json.dumps(rated).encode())
    assert value is not None and "06 12" not in value.decode() and EMAIL not in value.decode()
    assert json.loads(value)["data"]["score"] == rated["data"]["score"]
    assert rated["data"]["tenant_ref"] in removed
    on_hold = sample("request.on_hold")
    same, _ = redact_value(json.dumps(on_hold).encode())
    assert json.loads(same or b"")["data"]["reason"] == on_hold["data"]["reason"]  # an enum, not words
    reopened = sample("request.reopened", reason="le voisin M. Dupont fait du bruit")
    redacted, _ = redact_value(json.dumps(reopened).encode())
    assert "Dupont" not in (redacted or b"").decode()


def test_a_record_without_personal_data_is_kept_byte_for_byte() -> None:
    raw = json.dumps(sample("repair.done")).encode()
    assert redact_value(raw) == (raw, set())
    assert redact_value(b"{not json") == (b"{not json", set())


def test_a_broken_record_still_loses_its_personal_fields() -> None:
    truncated = b'{"type":"fr.canopee.tenant.contact_updated.v1","data":{"tenant_ref":"T-1","phone":"+3361234'
    value, _ = redact_value(truncated)
    assert value is not None
    assert b"T-1" not in value and b"+3361234" not in value
    assert b'"tenant_ref":"[redacted]"' in value
    assert redact_value("0612345678 \xff".encode("latin-1"))[0] == "[phone] \ufffd".encode()
