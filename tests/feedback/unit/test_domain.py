"""The pure rules: when a survey is sent, tokens, SMS scores, redaction, answer keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback import domain, export, forms, page
from services.feedback.domain import CampaignStatus, Decision, Questions, TenantState
from shared.events import Axis

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


def test_tokens_are_random_long_and_stored_hashed() -> None:
    tokens = {domain.new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) == 32  # 24 random bytes = 192 bits in base64url
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert domain.token_hash(token) != token and len(domain.token_hash(token)) == 64
    assert domain.token_of_url(f"https://x.example/s/{token}") == token


def test_form_field_is_bound_to_the_token_and_the_cookie_nonce() -> None:
    field = forms.form_field(SECRET, "tok-a", "nonce-1")
    assert forms.form_field_ok(SECRET, "tok-a", "nonce-1", field)
    assert not forms.form_field_ok(SECRET, "tok-b", "nonce-1", field)
    assert not forms.form_field_ok(SECRET, "tok-a", "nonce-2", field)
    assert not forms.form_field_ok(SECRET, "tok-a", "", field)
    assert not forms.form_field_ok("t" * 40, "tok-a", "nonce-1", field)
    assert not forms.form_field_ok(SECRET, "tok-a", "nonce-1", "")


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


def test_a_campaign_selects_tenants_with_a_known_consented_channel() -> None:
    assert TenantState(has_phone=True).known_consented_channel
    assert TenantState(has_email=True, sms_consent=False).known_consented_channel
    assert not TenantState().known_consented_channel  # nothing known
    assert not TenantState(has_phone=True, sms_consent=False).known_consented_channel
    assert not TenantState(has_phone=True, preferred_none=True).known_consented_channel
    assert not TenantState(has_phone=True, erased=True).known_consented_channel


def test_campaign_transitions() -> None:
    assert domain.transition(CampaignStatus.DRAFT, "open") is CampaignStatus.OPEN
    assert domain.transition(CampaignStatus.OPEN, "open") is CampaignStatus.OPEN
    assert domain.transition(CampaignStatus.OPEN, "close") is CampaignStatus.CLOSED
    assert domain.transition(CampaignStatus.CLOSED, "open") is None
    assert domain.campaign_accepts("open", NOW + timedelta(days=1), NOW)
    assert not domain.campaign_accepts("open", NOW, NOW)
    assert not domain.campaign_accepts("closed", NOW + timedelta(days=1), NOW)


def test_campaign_survey_ids_are_one_per_tenant_and_campaign() -> None:
    a = domain.campaign_survey_id("CMP-1", "demo-nord", "T-1")
    assert a == domain.campaign_survey_id("CMP-1", "demo-nord", "T-1")
    assert a != domain.campaign_survey_id("CMP-2", "demo-nord", "T-1")
    assert a != domain.campaign_survey_id("CMP-1", "demo-sud", "T-1")
    assert len(a) <= 64


def test_campaign_results_per_office_and_axis_with_response_rates() -> None:
    answers = [
        {"office": "demo-nord", "axes": {"keys": 5, "posture": 4}, "nps": 10},
        {"office": "demo-nord", "axes": {"keys": 3, "posture": 2}, "nps": 5},
        {"office": "demo-sud", "axes": {"keys": 1}, "nps": None},
        {"office": "demo-est", "axes": {"keys": 5}},  # not in the campaign: ignored
    ]
    results = domain.campaign_results(
        ["demo-nord", "demo-sud"], ["keys", "posture"], {"demo-nord": 4, "demo-sud": 2}, answers
    )
    nord, sud, network = results
    assert (nord.office, nord.invited, nord.answered, nord.response_rate) == ("demo-nord", 4, 2, 0.5)
    assert nord.axes["keys"].mean == 4.0 and nord.axes["posture"].mean == 3.0
    assert nord.axes["keys"].distribution == {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}
    assert nord.axes["keys"].satisfied_share == 0.5
    assert nord.nps == 0.0  # one promoter, one detractor
    assert sud.axes["posture"].answers == 0 and sud.axes["posture"].mean is None and sud.nps is None
    assert (network.office, network.invited, network.answered) == ("network", 6, 3)
    assert network.axes["keys"].total == 9
    csv_text = export.results_csv(results)
    lines = csv_text.strip().split("\r\n")
    assert lines[0].startswith("office,axis,invited,answered,response_rate")
    assert "demo-nord,keys,4,2,0.5,2,4.0,0.5,0,0,1,0,1" in lines
    assert len(lines) == 1 + 3 * 2
    body = export.results_json(results)
    assert body[0]["axes"]["keys"]["mean"] == 4.0  # type: ignore[index]


def test_the_campaign_form_asks_one_question_per_axis() -> None:
    html = page.campaign_page("tok", "field", "Enquête 2026", Questions(axes=(Axis.KEYS, Axis.MISSION), nps=False))
    assert html.count("<fieldset>") == 2 and html.count("<legend>") == 2
    assert 'name="axis_keys" value="1" required' in html and 'name="axis_mission"' in html
    assert 'name="axis_team"' not in html and 'name="nps"' not in html
    assert 'maxlength="1000"' in html and "<script" not in html and "Enquête 2026" in html
