"""Pure rules of the closed loop (acknowledgement and overdue events) and of the tenants' words
(masking, which replies count, which request a reply names, the list's days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback.domain.alerts import (
    FOLLOW_UP,
    Alert,
    alert_event_id,
    is_overdue,
    plan_acknowledgement,
    plan_alert,
    plan_overdue,
)
from services.feedback.domain.voice import VoiceKind, VoiceQuery, has_words, mask, mentioned_request, voice_entry
from shared.events import full_type

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def raised(**fields: object) -> Alert:
    alert, _ = plan_alert(
        "survey|S-1",
        office="demo-nord",
        tenant_ref="T-1",
        score=1,
        survey_id="S-1",
        request_id="R-1",
        comment=None,
        at=T0,
        historical=bool(fields.get("historical", False)),
    )
    return alert


def test_the_acknowledgement_names_the_alert_event_and_says_if_it_was_in_time() -> None:
    alert, event = plan_alert(
        "survey|S-1",
        office="demo-nord",
        tenant_ref="T-1",
        score=1,
        survey_id="S-1",
        request_id="R-1",
        comment=None,
        at=T0,
        historical=False,
    )
    assert alert_event_id(alert.id) == event.id
    acked, ack = plan_acknowledgement(alert, T0 + FOLLOW_UP, "Appelé au 06 12 34 56 78, écrit à a@b.fr")
    assert ack.type == full_type("feedback.alert_acknowledged") and ack.subject == "S-1"
    assert ack.data.alert_id == event.id and ack.data.within_deadline is True
    assert "06 12 34 56 78" not in (ack.data.action or "") and "a@b.fr" not in (ack.data.action or "")
    assert acked.open is False and acked.acknowledged_at == T0 + FOLLOW_UP and acked.action == ack.data.action
    _, late = plan_acknowledgement(alert, T0 + FOLLOW_UP + timedelta(seconds=1), None)
    assert late.data.within_deadline is False and late.data.action is None
    assert late.id == ack.id  # one acknowledgement per alert: the outbox keeps the first
    _, long = plan_acknowledgement(alert, T0, "x" * 400)
    assert long.data.action == "x" * 300


def test_an_alert_is_overdue_once_its_deadline_passed_unless_history_or_closed() -> None:
    alert = raised()
    assert not is_overdue(alert, T0 + FOLLOW_UP - timedelta(seconds=1))
    assert is_overdue(alert, T0 + FOLLOW_UP)
    assert not is_overdue(raised(historical=True), T0 + FOLLOW_UP * 2)
    acked, _ = plan_acknowledgement(alert, T0, None)
    assert not is_overdue(acked, T0 + FOLLOW_UP * 2)
    overdue = plan_overdue(alert)
    assert overdue.time == T0 + FOLLOW_UP and overdue.data.follow_up_due_at == T0 + FOLLOW_UP
    assert overdue.data.alert_id == alert_event_id(alert.id) and overdue.id == plan_overdue(alert).id


def test_words_are_masked_and_a_bare_score_is_not_words() -> None:
    text = "Appelez-moi au 06.12.34.56.78 ou +33 6 12 34 56 78, moi@exemple.fr ; demande REQ-2026-000042"
    masked = mask(text)
    assert "06.12.34.56.78" not in masked and "+33 6 12" not in masked and "moi@exemple.fr" not in masked
    assert masked.count("[téléphone masqué]") == 2 and "[e-mail masqué]" in masked
    assert "REQ-2026-000042" in masked  # a request reference is not a phone number
    assert not has_words("4") and not has_words(" 5 ! ") and not has_words(None)
    assert has_words("4 merci") and has_words("STOP pub")


def test_a_reply_is_linked_to_the_request_in_progress_it_names() -> None:
    in_progress = {"REQ-2026-000042": "repair", "REQ-2026-000043": None}
    assert mentioned_request("pour la req-2026-000042 rien", in_progress) == "REQ-2026-000042"
    assert mentioned_request("REQ-2026-000043 puis REQ-2026-000042", in_progress) == "REQ-2026-000043"
    assert mentioned_request("REQ-2026-0000421 n'existe pas", in_progress) is None
    assert mentioned_request("toujours en panne", in_progress) is None
    entry = voice_entry(
        "EV-1", office="demo-nord", tenant_ref="T-1", kind=VoiceKind.SMS, channel="sms", text="ok", at=T0
    )
    assert (
        entry.id
        == voice_entry("EV-1", office="x", tenant_ref="y", kind=VoiceKind.SMS, channel="sms", text="", at=T0).id
    )


def test_a_list_looks_up_every_utc_day_of_its_period() -> None:
    query = VoiceQuery(since=T0, until=T0 + timedelta(days=2))
    assert query.days() == ["2026-11-26", "2026-11-27", "2026-11-28"]
    exact = VoiceQuery(since=T0.replace(hour=0), until=T0.replace(hour=0) + timedelta(days=1))
    assert exact.days() == ["2026-11-26"]
