"""The pure rules: when a survey is sent, tokens, SMS scores, redaction, answer keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback import domain, page
from services.feedback.domain import Decision, TenantState

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SECRET = "s" * 40


def test_a_reachable_tenant_without_recent_survey_gets_one() -> None:
    assert domain.decide(TenantState(), None, NOW) is Decision.SEND


def test_at_most_one_survey_per_tenant_per_seven_days() -> None:
    assert domain.decide(TenantState(), NOW - timedelta(days=6, hours=23), NOW) is Decision.CAPPED
    assert domain.decide(TenantState(), NOW - timedelta(days=7), NOW) is Decision.SEND


@pytest.mark.parametrize(
    "tenant",
    [
        TenantState(sms_consent=False, email_consent=False),
        TenantState(preferred_none=True),
        TenantState(erased=True),
    ],
)
def test_no_survey_without_any_consented_channel(tenant: TenantState) -> None:
    assert domain.decide(tenant, None, NOW) is Decision.NO_CONSENT


def test_one_withdrawn_channel_still_leaves_the_other() -> None:
    assert domain.decide(TenantState(sms_consent=False), None, NOW) is Decision.SEND


def test_survey_id_is_derived_from_its_request() -> None:
    a = domain.survey_id_for("demo-nord", "REQ-1")
    assert a == domain.survey_id_for("demo-nord", "REQ-1")
    assert a != domain.survey_id_for("demo-sud", "REQ-1")
    assert len(a) <= 64


def test_token_is_stable_long_and_depends_on_the_secret() -> None:
    token = domain.survey_token(SECRET, "SRV-1")
    assert token == domain.survey_token(SECRET, "SRV-1")
    assert token != domain.survey_token("t" * 40, "SRV-1")
    assert token != domain.survey_token(SECRET, "SRV-2")
    assert len(token) >= 43  # 256 bits in base64url
    assert "SRV" not in token
    assert domain.token_hash(token) != token and len(domain.token_hash(token)) == 64


def test_form_field_is_bound_to_the_token() -> None:
    field = domain.form_field(SECRET, "tok-a")
    assert domain.form_field_ok(SECRET, "tok-a", field)
    assert not domain.form_field_ok(SECRET, "tok-b", field)
    assert not domain.form_field_ok(SECRET, "tok-a", "")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4 merci, rapide", 4),
        ("Note: 5/5", 5),
        ("1", 1),
        ("merci", None),
        ("0", None),
        ("6 super", None),
        ("10 sur 10", None),
        ("2024 était mieux", None),
        ("nul, 2", 2),
    ],
)
def test_sms_score_is_the_first_number_when_it_is_one_to_five(text: str, score: int | None) -> None:
    assert domain.sms_score(text) == score


def test_redaction_masks_phones_and_emails() -> None:
    text = "Rappelez-moi au 06 12 34 56 78 ou +33612345678, ou jean.dupont@example.fr. Note 2."
    redacted = domain.redact(text)
    assert redacted is not None
    assert "12 34" not in redacted and "+336" not in redacted and "dupont" not in redacted
    assert "Note 2." in redacted
    assert domain.redact(None) is None


def test_detractor_threshold() -> None:
    assert domain.is_detractor(1) and domain.is_detractor(2)
    assert not domain.is_detractor(3)


def test_answer_keys_one_per_survey_or_request() -> None:
    assert domain.answer_key("o", "SRV-1", "REQ-1") == domain.answer_key("x", "SRV-1", None)
    assert domain.answer_key("o", None, "REQ-1") != domain.answer_key("p", None, "REQ-1")


def test_the_form_is_accessible_french_html() -> None:
    html = page.form_page("tok", "field")
    assert '<html lang="fr">' in html
    assert html.count("<fieldset>") == 2 and html.count("<legend>") == 2
    assert 'name="score" value="1" required' in html
    assert 'maxlength="1000"' in html and '<label for="comment">' in html
    assert "<script" not in html
    assert 'name="form" value="field"' in html
