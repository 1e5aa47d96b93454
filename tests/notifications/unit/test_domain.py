"""Pure rules: SMS encoding, quiet hours, French dates, channel policy, masking, templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.notifications.domain.calendar import french_date, french_datetime, relative_day, reminder_time
from services.notifications.domain.digests import DigestRules, digest_draft, digest_key, goes_in_digest, window_end
from services.notifications.domain.masking import mask_email, mask_phone
from services.notifications.domain.messages import RequestInfo, at_send_time, plans_for
from services.notifications.domain.policy import (
    Contact,
    InvalidContact,
    MessagePlan,
    Policy,
    Reason,
    choose_channels,
    normalise_phone,
)
from services.notifications.domain.records import Draft, Message, Status
from services.notifications.domain.sms import measure, prepare_sms, rewrite_for_gsm7
from services.notifications.templates import TemplateProblem, Templates
from shared.calendar import next_opening
from shared.events import Channel, PreferredChannel, parse_event
from shared.offices import DEMO_OFFICES_FILE, QuietHours, load_offices
from tests.support.samples import sample

PARIS = ZoneInfo("Europe/Paris")
OFFICES = load_offices(DEMO_OFFICES_FILE)
NORD = OFFICES.get("demo-nord")
assert NORD is not None


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


# --- SMS encoding --------------------------------------------------------------------------------


def test_gsm7_single_and_multipart_segments() -> None:
    assert measure("a" * 160).segments == 1
    assert measure("a" * 161).segments == 2
    assert measure("a" * 306).segments == 2
    assert measure("a" * 307).segments == 3
    assert measure("a" * 10).encoding == "GSM-7"


def test_extension_characters_count_twice() -> None:
    text = "€" * 80
    assert measure(text).units == 160 and measure(text).segments == 1
    assert measure(text + "a").segments == 2


def test_ucs2_when_a_letter_is_outside_gsm7() -> None:
    assert measure("ê" * 70).encoding == "UCS-2"
    assert measure("ê" * 70).segments == 1
    assert measure("ê" * 71).segments == 2
    assert measure("ê" * 134).segments == 2
    assert measure("ê" * 135).segments == 3


def test_rewrite_keeps_gsm7_accents_and_replaces_the_others() -> None:
    assert rewrite_for_gsm7("été à où è ù É Ç") == "été à où è ù É Ç"
    assert rewrite_for_gsm7("fenêtre, reçu, âge, île, hôtel, sûr, Noël, cœur") == (
        "fenetre, recu, age, ile, hotel, sur, Noel, coeur"
    )
    assert rewrite_for_gsm7("l’accès «ici» …") == 'l\'accès "ici" ...'
    prepared = prepare_sms("Votre fenêtre sera réparée à 8 h, reçu.")
    assert prepared.encoding == "GSM-7" and prepared.text == "Votre fenetre sera réparée à 8 h, recu."
    assert prepare_sms("fenêtre", rewrite=False).encoding == "UCS-2"


# --- quiet hours ---------------------------------------------------------------------------------

WINDOW = QuietHours()


def test_inside_the_window_is_now() -> None:
    when = paris(2026, 11, 27, 10, 0)  # a Friday
    assert next_opening(when, WINDOW, PARIS) == when


def test_saturday_evening_goes_to_monday_morning() -> None:
    saturday = paris(2026, 11, 28, 20, 30)
    assert next_opening(saturday, WINDOW, PARIS) == paris(2026, 11, 30, 8, 0)


def test_early_morning_waits_for_eight() -> None:
    assert next_opening(paris(2026, 11, 27, 6, 15), WINDOW, PARIS) == paris(2026, 11, 27, 8, 0)


def test_public_holiday_is_skipped() -> None:
    # Saturday 2026-11-07 20:30 → Sunday → Monday 9 is not a holiday; use Armistice: Wed 11 Nov 2026
    tuesday_night = paris(2026, 11, 10, 21, 0)
    assert next_opening(tuesday_night, WINDOW, PARIS) == paris(2026, 11, 12, 8, 0)
    # Saturday before Easter Monday 2027 (29 March): deferred to Tuesday
    assert next_opening(paris(2027, 3, 27, 20, 30), WINDOW, PARIS) == paris(2027, 3, 30, 8, 0)


def test_window_is_configurable_per_office() -> None:
    sud = OFFICES.get("demo-sud")
    assert sud is not None
    assert next_opening(paris(2026, 11, 27, 8, 30), sud.quiet_hours, PARIS) == paris(2026, 11, 27, 9, 0)
    sundays = QuietHours(days=(1, 2, 3, 4, 5, 6, 7), public_holidays=True)
    assert next_opening(paris(2026, 11, 29, 12, 0), sundays, PARIS) == paris(2026, 11, 29, 12, 0)


def test_french_dates() -> None:
    assert french_date(paris(2026, 11, 30, 8, 0), PARIS) == "lundi 30 novembre 2026"
    assert french_date(datetime(2026, 7, 31, 23, 30, tzinfo=UTC), PARIS) == "samedi 1er août 2026"
    assert french_datetime(paris(2026, 2, 3, 14, 30), PARIS) == "mardi 3 février 2026 à 14 h 30"


def test_reminder_is_the_day_before_at_the_set_hour() -> None:
    at = reminder_time(paris(2026, 11, 30, 8, 0), PARIS, 18)
    assert at == paris(2026, 11, 29, 18, 0)


# --- channels ------------------------------------------------------------------------------------


def test_preferred_channel_then_fallback() -> None:
    both = Contact(phone="+33612345678", email="a@example.org", preferred=PreferredChannel.EMAIL)
    assert choose_channels(both, Policy.PREFERRED).channels == (Channel.EMAIL, Channel.SMS)
    assert choose_channels(both, Policy.SMS_FIRST).channels == (Channel.SMS, Channel.EMAIL)
    phone_only = Contact(phone="+33612345678", preferred=PreferredChannel.EMAIL)
    assert choose_channels(phone_only, Policy.PREFERRED).channels == (Channel.SMS,)


def test_suppression_reasons() -> None:
    assert choose_channels(None, Policy.PREFERRED).suppressed is Reason.NO_CONTACT
    none = Contact(phone="+33612345678", preferred=PreferredChannel.NONE)
    assert choose_channels(none, Policy.PREFERRED).suppressed is Reason.PREFERENCE_NONE
    stopped = Contact(phone="+33612345678", sms_consent=False)
    choice = choose_channels(stopped, Policy.PREFERRED)
    assert choice.suppressed is Reason.CONSENT_WITHDRAWN and choice.nominal is Channel.SMS
    with_email = Contact(phone="+33612345678", email="a@example.org", sms_consent=False)
    assert choose_channels(with_email, Policy.PREFERRED).channels == (Channel.EMAIL,)


def test_phone_normalisation() -> None:
    assert normalise_phone("06 12 34 56 78") == "+33612345678"
    assert normalise_phone("+33 6 12 34 56 78") == "+33612345678"
    with pytest.raises(InvalidContact):
        normalise_phone("+33 1")


def test_masking() -> None:
    assert mask_phone("+33612345678") == "+33 6 •• •• •• 78"
    assert mask_email("locataire@example.org") == "l•••@example.org"


# --- plans and templates -------------------------------------------------------------------------


def _event(kind: str, **data: object) -> object:
    return parse_event(json.dumps(sample(kind, **data)))


def test_appointment_plans_a_reminder_the_day_before() -> None:
    event = _event("appointment.scheduled")
    now = paris(2026, 11, 27, 10, 0)
    plans = plans_for(event, NORD, request=RequestInfo("T-1", "repair"), appointment=None, now=now, reminder_hour=18)  # type: ignore[arg-type]
    assert [p.template for p in plans.messages] == ["appointment_scheduled", "appointment_reminder"]
    assert plans.messages[1].scheduled_at == paris(2026, 11, 29, 18, 0)
    assert plans.messages[0].context["slot_date"] == "lundi 30 novembre 2026"
    late = plans_for(event, NORD, request=None, appointment=None, now=paris(2026, 11, 29, 19, 0), reminder_hour=18)  # type: ignore[arg-type]
    assert [p.template for p in late.messages] == ["appointment_scheduled"] and late.tenant_ref is None


def test_tenant_responsibility_links_the_tutorial() -> None:
    event = _event("request.closed", resolution="tenant_responsibility")
    plans = plans_for(
        event,
        NORD,
        request=RequestInfo("T-1", "heating_hot_water"),
        appointment=None,
        now=paris(2026, 11, 27, 10, 0),
        reminder_hour=18,
    )  # type: ignore[arg-type]
    ctx = plans.messages[0].context
    assert ctx["tutorial_url"] == "https://videos.demo-nord.example.org/tutoriels/purger-un-radiateur"
    text = Templates().render("demo-nord", "request_closed", Channel.SMS, ctx).text
    assert "à la charge du locataire" in text and "purger-un-radiateur" in text


def test_campaign_survey_uses_the_campaign_template() -> None:
    event = _event("survey.requested", request_id=None, campaign_id="CMP-1", reminder=True)
    plans = plans_for(event, NORD, request=None, appointment=None, now=paris(2026, 11, 27, 10, 0), reminder_hour=18)  # type: ignore[arg-type]
    assert plans.messages[0].template == "campaign_reminder" and plans.messages[0].policy is Policy.PREFERRED


def test_every_template_renders_in_both_channels() -> None:
    now = paris(2026, 11, 27, 10, 0)
    templates = Templates()
    events = [
        _event("request.opened"),
        _event("appointment.scheduled"),
        _event("appointment.missed"),
        _event("request.closed"),
        _event("survey.requested"),
        _event("survey.requested", reminder=True),
        _event("survey.requested", request_id=None, campaign_id="CMP-1"),
        _event("sla.at_risk"),
        _event("sla.breached"),
        _event("feedback.detractor_alert"),
        _event("feedback.alert_overdue"),
    ]
    for event in events:
        plans = plans_for(
            event, NORD, request=RequestInfo("T-1", "repair"), appointment=None, now=now, reminder_hour=18
        )  # type: ignore[arg-type]
        assert plans.messages
        for plan in plans.messages:
            mail = templates.render("demo-nord", plan.template, Channel.EMAIL, plan.context)
            assert mail.subject and mail.text and mail.html and "{{" not in mail.text
            if plan.recipient.value == "tenant":
                assert templates.render("demo-nord", plan.template, Channel.SMS, plan.context).text


def test_unknown_variable_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "demo-nord").mkdir()
    (tmp_path / "demo-nord" / "request_opened.sms.j2").write_text("{{ sender_name }} : {{ not_provided }}")
    templates = Templates(tmp_path)
    with pytest.raises(TemplateProblem, match="not_provided"):
        templates.render("demo-nord", "request_opened", Channel.SMS, {"sender_name": "X"})
    # other offices keep the default template
    ok = templates.render(
        "demo-sud",
        "request_opened",
        Channel.SMS,
        {"sender_name": "S", "request_id": "R", "category_label": "c", "urgent": False},
    )
    assert ok.text.startswith("S : nous avons bien reçu")


def test_office_override_replaces_the_text(tmp_path: Path) -> None:
    (tmp_path / "demo-nord").mkdir()
    (tmp_path / "demo-nord" / "request_opened.sms.j2").write_text("{{ sender_name }} : demande {{ request_id }} reçue.")
    text = (
        Templates(tmp_path)
        .render("demo-nord", "request_opened", Channel.SMS, {"sender_name": "N", "request_id": "R"})
        .text
    )
    assert text == "N : demande R reçue."


# --- wording that stays true -----------------------------------------------------------------------


def test_a_day_is_named_from_the_time_the_message_goes_out() -> None:
    monday = paris(2026, 11, 30, 9, 0)
    assert relative_day(monday, paris(2026, 11, 29, 18, 0), PARIS) == "demain"
    assert relative_day(monday, paris(2026, 11, 30, 8, 0), PARIS) == "aujourd'hui"
    assert relative_day(monday, paris(2026, 11, 28, 18, 0), PARIS) is None
    # late evening UTC is already the next day in Paris
    assert relative_day(monday, datetime(2026, 11, 29, 23, 30, tzinfo=UTC), PARIS) == "aujourd'hui"


def test_a_sunday_evening_reminder_deferred_to_monday_never_says_demain() -> None:
    """The reminder of a Monday appointment is due on Sunday at 18:00; no SMS on Sundays, so it
    goes out on Monday at the opening: it says "aujourd'hui", never "demain"."""
    event = _event(
        "appointment.scheduled", slot_start="2026-11-30T09:00:00+01:00", slot_end="2026-11-30T12:00:00+01:00"
    )
    now = paris(2026, 11, 27, 10, 0)
    plans = plans_for(event, NORD, request=RequestInfo("T-1", "repair"), appointment=None, now=now, reminder_hour=18)  # type: ignore[arg-type]
    reminder = plans.messages[1]
    assert reminder.scheduled_at == paris(2026, 11, 29, 18, 0)
    opening = next_opening(reminder.scheduled_at, NORD.quiet_hours, PARIS)
    assert opening == paris(2026, 11, 30, 8, 0)
    templates = Templates()
    sms = templates.render(
        "demo-nord", "appointment_reminder", Channel.SMS, at_send_time(reminder.context, opening, NORD)
    )
    mail = templates.render(
        "demo-nord", "appointment_reminder", Channel.EMAIL, at_send_time(reminder.context, opening, NORD)
    )
    for text in (sms.text, mail.text, mail.subject or "", mail.html or ""):
        assert "demain" not in text
    assert "rendez-vous aujourd'hui, lundi 30 novembre 2026, entre 9 h et 12 h" in sms.text
    # sent on Sunday evening (an e-mail, no quiet hours): "demain" is true
    on_time = templates.render(
        "demo-nord", "appointment_reminder", Channel.SMS, at_send_time(reminder.context, reminder.scheduled_at, NORD)
    )
    assert "rendez-vous demain, lundi 30 novembre 2026" in on_time.text
    # two days before (e.g. an office whose reminder hour falls on a holiday eve): the date alone
    early = templates.render(
        "demo-nord",
        "appointment_reminder",
        Channel.SMS,
        at_send_time(reminder.context, paris(2026, 11, 28, 18, 0), NORD),
    )
    assert "rendez-vous le lundi 30 novembre 2026" in early.text and "demain" not in early.text


def test_the_confirmation_promises_a_reminder_only_when_one_is_planned() -> None:
    event = _event(
        "appointment.scheduled", slot_start="2026-11-28T09:00:00+01:00", slot_end="2026-11-28T12:00:00+01:00"
    )
    late = plans_for(
        event,
        NORD,
        request=RequestInfo("T-1", "repair"),
        appointment=None,
        now=paris(2026, 11, 27, 19, 0),
        reminder_hour=18,
    )  # type: ignore[arg-type]
    [confirmation] = late.messages
    text = Templates().render("demo-nord", "appointment_scheduled", Channel.EMAIL, confirmation.context).text
    assert "rappel" not in text
    early = plans_for(
        event,
        NORD,
        request=RequestInfo("T-1", "repair"),
        appointment=None,
        now=paris(2026, 11, 26, 10, 0),
        reminder_hour=18,
    )  # type: ignore[arg-type]
    text = Templates().render("demo-nord", "appointment_scheduled", Channel.EMAIL, early.messages[0].context).text
    assert "Nous vous enverrons un rappel avant le rendez-vous." in text


def _survey_texts(category: str | None) -> list[str]:
    request = RequestInfo("T-1", category) if category else None
    texts = []
    for reminder in (False, True):
        event = _event("survey.requested", reminder=reminder)
        [plan] = plans_for(
            event, NORD, request=request, appointment=None, now=paris(2026, 11, 27, 10, 0), reminder_hour=18
        ).messages  # type: ignore[arg-type]
        templates = Templates()
        mail = templates.render("demo-nord", plan.template, Channel.EMAIL, plan.context)
        sms = templates.render("demo-nord", plan.template, Channel.SMS, plan.context)
        texts += [sms.text, mail.text, mail.subject or "", mail.html or ""]
    return texts


def test_survey_wording_fits_what_happened() -> None:
    """A neighbourhood or administrative request is not "une intervention"."""
    for category in ("neighbourhood", "administrative", "rent_charges", "transfer", None):
        texts = _survey_texts(category)
        assert all("intervention" not in t for t in texts), category
        assert "a-t-elle été bien traitée ?" in texts[0]
    repair = _survey_texts("repair")
    assert "l'intervention pour votre demande" in repair[0] and all("intervention" in t for t in repair)


def test_tenant_messages_give_the_offices_phone_and_opening_hours() -> None:
    event = _event("request.opened", category="neighbourhood", urgency=None)
    [plan] = plans_for(
        event, NORD, request=None, appointment=None, now=paris(2026, 11, 27, 10, 0), reminder_hour=18
    ).messages  # type: ignore[arg-type]
    templates = Templates()
    sms = templates.render("demo-nord", "request_opened", Channel.SMS, plan.context).text
    mail = templates.render("demo-nord", "request_opened", Channel.EMAIL, plan.context)
    hours = "du lundi au vendredi, 8 h 30 – 12 h et 13 h 30 – 17 h"
    assert f"Pour joindre un conseiller : 01 99 00 10 01, {hours}." in sms
    assert f"Pour joindre un conseiller : 01 99 00 10 01 ({hours})." in mail.text
    assert 'href="tel:0199001001"' in (mail.html or "")
    assert "intervention" not in mail.text  # a neighbourhood request: "jusqu'à la clôture"
    # an office whose file gives no phone: no such line
    bare = NORD.model_copy(update={"phone": None, "opening_hours": None})
    [plan] = plans_for(
        event, bare, request=None, appointment=None, now=paris(2026, 11, 27, 10, 0), reminder_hour=18
    ).messages  # type: ignore[arg-type]
    assert "Pour joindre" not in templates.render("demo-nord", "request_opened", Channel.SMS, plan.context).text


# --- office alerts as digests ----------------------------------------------------------------------


def _alert_plan(kind: str, **data: object) -> MessagePlan:
    event = sample(kind, **data)
    if kind.startswith("sla."):
        event["subject"] = event["data"]["request_id"]  # the contract: an SLA alert is about its request
    [plan] = plans_for(
        parse_event(json.dumps(event)),
        NORD,
        request=None,
        appointment=None,
        now=paris(2026, 11, 27, 10, 0),
        reminder_hour=18,
    ).messages
    return plan


def test_which_office_alerts_wait_for_the_digest() -> None:
    rules = DigestRules(minutes=15, immediate_score=1)
    assert goes_in_digest(_alert_plan("sla.at_risk"), rules)
    assert goes_in_digest(_alert_plan("sla.breached"), rules)
    assert not goes_in_digest(_alert_plan("sla.breached", urgency="U1", policy="U1", stage="intervention"), rules)
    assert not goes_in_digest(_alert_plan("sla.breached", urgency="U1"), rules)  # any breach of a U1 request
    assert goes_in_digest(_alert_plan("sla.at_risk", urgency="U1", policy="U1"), rules)  # at risk: digest
    assert not goes_in_digest(_alert_plan("feedback.detractor_alert", score=1), rules)
    assert goes_in_digest(_alert_plan("feedback.detractor_alert", score=2), rules)
    assert not goes_in_digest(_alert_plan("feedback.detractor_alert", score=2), DigestRules(15, immediate_score=2))
    assert not goes_in_digest(_alert_plan("sla.at_risk"), DigestRules(minutes=0))  # digests off
    assert not goes_in_digest(_tenant_plan(), rules)


def _tenant_plan() -> MessagePlan:
    [plan] = plans_for(
        _event("request.opened"), NORD, request=None, appointment=None, now=paris(2026, 11, 27, 10, 0), reminder_hour=18
    ).messages  # type: ignore[arg-type]
    return plan


def test_windows_are_aligned_on_the_clock() -> None:
    assert window_end(paris(2026, 11, 27, 10, 0), 15) == paris(2026, 11, 27, 10, 15)
    assert window_end(paris(2026, 11, 27, 10, 14, 59), 15) == paris(2026, 11, 27, 10, 15)
    assert window_end(paris(2026, 11, 27, 10, 15), 15) == paris(2026, 11, 27, 10, 30)
    end = window_end(paris(2026, 11, 27, 10, 7), 15)
    assert digest_key("demo-nord", "sla_digest", end) == "digest/demo-nord/sla_digest/2026-11-27T09:15Z"


def _member(n: int, kind: str, **data: object) -> Message:
    plan = _alert_plan(kind, request_id=f"REQ-{n}", **data)
    draft = Draft(
        "demo-nord",
        f"c-{n}",
        kind,
        paris(2026, 11, 27, 10, 0),
        f"REQ-{n}",
        None,
        f"REQ-{n}",
        None,
        plan.template,
        plan.recipient,
        plan.policy,
        plan.context,
    )
    return Message(
        f"n-{n}", draft, Channel.EMAIL, Status.GROUPED, paris(2026, 11, 27, 10, 15), paris(2026, 11, 27, 10, 1)
    )


def test_a_digest_lists_its_alerts_breaches_first_in_french() -> None:
    members = [_member(1, "sla.at_risk"), _member(2, "sla.breached"), _member(3, "sla.at_risk")]
    end = paris(2026, 11, 27, 10, 15)
    draft = digest_draft(NORD, digest_key("demo-nord", "sla_digest", end), "sla_digest", end, 15, members)
    assert (draft.recipient.value, draft.audience, draft.context["count"]) == ("office", "alert", 3)
    assert [i["request_id"] for i in draft.context["items"]] == ["REQ-2", "REQ-1", "REQ-3"]
    mail = Templates().render("demo-nord", "sla_digest", Channel.EMAIL, draft.context)
    assert mail.subject == "[Office démo Nord] Délais : 1 dépassé, 2 bientôt dépassés (10 h – 10 h 15)"
    assert "Alertes de délai du vendredi 27 novembre 2026, entre 10 h et 10 h 15 : 3 demandes." in mail.text
    assert "- Demande REQ-2 : délai dépassé" in mail.text and "Échéance : samedi 28 novembre 2026 à 8 h 14" in mail.text
    assert mail.html is not None and mail.html.count("<tr>") == 4
    managers = [
        _member(4, "feedback.detractor_alert", score=2),
        _member(5, "feedback.detractor_alert", score=2, comment=None),
    ]
    draft = digest_draft(NORD, digest_key("demo-nord", "detractor_digest", end), "detractor_digest", end, 15, managers)
    assert draft.audience == "manager"
    mail = Templates().render("demo-nord", "detractor_digest", Channel.EMAIL, draft.context)
    assert mail.subject == "[Office démo Nord] 2 locataires mécontents à recontacter (10 h – 10 h 15)"
    assert "- Note 2/5 pour la demande REQ-4 : à recontacter avant le" in mail.text
    assert mail.text.count("Commentaire") == 1


def test_an_overdue_alert_goes_to_the_managers_at_once_and_an_acknowledgement_sends_nothing() -> None:
    plan = _alert_plan("feedback.alert_overdue")
    assert plan.template == "detractor_overdue" and plan.recipient.value == "office"
    assert plan.context["audience"] == "manager" and plan.context["request_id"] == "REQ-2026-000042"
    assert not goes_in_digest(plan, DigestRules(15, immediate_score=0))  # the deadline has passed: at once
    mail = Templates().render("demo-nord", "detractor_overdue", Channel.EMAIL, plan.context)
    assert "48 heures" in mail.text and "REQ-2026-000042" in mail.text and mail.subject
    acknowledged = plans_for(
        _event("feedback.alert_acknowledged"),
        NORD,
        request=None,
        appointment=None,
        now=paris(2026, 11, 28, 10, 0),
        reminder_hour=18,
    )  # type: ignore[arg-type]
    assert acknowledged.messages == ()
