"""The pure planners of the feedback domain: what a use case decides from a loaded context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.feedback.domain import (
    ANONYMOUS,
    Answer,
    Campaign,
    CampaignAnswer,
    CampaignStatus,
    Decision,
    PageOutcome,
    Questions,
    Request,
    Selection,
    Survey,
    SurveyContext,
    SurveyPlan,
    TenantState,
    invitation,
    invitation_id,
    page_outcome,
    plan_answer,
    plan_campaign_answer,
    plan_survey,
    reminders_to_send,
    survey_id_for,
    targets,
)
from shared.events import Axis, full_type

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
READY = Request("demo-nord", "REQ-1", "T-1", trigger=True)


def survey(sid: str = "SRV-1", **fields: object) -> Survey:
    base: dict[str, object] = {
        "id": sid,
        "office": "demo-nord",
        "tenant_ref": "T-1",
        "created_at": NOW,
        "expires_at": NOW + timedelta(days=14),
        "request_id": "REQ-1",
        "invited_at": NOW,
        "invited": True,
    }
    return Survey(**(base | fields))  # type: ignore[arg-type]


def campaign(**fields: object) -> Campaign:
    base: dict[str, object] = {
        "id": "CMP-1",
        "title": "Enquête",
        "offices": ("demo-nord",),
        "selection": Selection.CONSENTED,
        "closes_at": NOW + timedelta(days=5),
        "questions": Questions(axes=(Axis.KEYS,)),
        "status": CampaignStatus.OPEN,
        "created_at": NOW,
        "created_by": "admin",
    }
    return Campaign(**(base | fields))  # type: ignore[arg-type]


def test_no_plan_until_the_request_has_its_tenant_and_its_end() -> None:
    for request in (
        Request("demo-nord", "REQ-1", None, trigger=True),
        Request("demo-nord", "REQ-1", "T-1", trigger=False),
        Request("demo-nord", "REQ-1", ANONYMOUS, trigger=True),
    ):
        assert plan_survey(SurveyContext(request), NOW) == SurveyPlan()


def test_a_redelivery_invites_the_existing_survey_again() -> None:
    existing = survey()
    plan = plan_survey(SurveyContext(READY, existing), NOW)
    assert plan.invite == existing and plan.create is None and plan.decision is None


def test_a_due_survey_is_planned_with_its_validity_and_reminder() -> None:
    plan = plan_survey(SurveyContext(READY), NOW)
    assert plan.decision is Decision.SEND and plan.invite is None and plan.create is not None
    created = plan.create
    assert created.id == survey_id_for("demo-nord", "REQ-1")
    assert (created.invited_at, created.expires_at) == (NOW, NOW + timedelta(days=14))
    assert created.reminder_due_at == NOW + timedelta(days=3) and created.pending_reminder
    assert plan.week == int(NOW.timestamp()) // (7 * 86400)


def test_capped_and_unreachable_tenants_are_only_counted() -> None:
    capped = plan_survey(SurveyContext(READY, last_survey_at=NOW - timedelta(days=2)), NOW)
    assert (capped.decision, capped.create) == (Decision.CAPPED, None)
    gone = plan_survey(SurveyContext(READY, tenant=TenantState(preferred_none=True)), NOW)
    assert (gone.decision, gone.create) == (Decision.NO_CONSENT, None)


def test_the_invitation_carries_the_link_and_the_origin() -> None:
    first = invitation(survey(), "https://avis.example", "tok", reminder=False)
    assert first.type == full_type("survey.requested") and first.id == invitation_id("SRV-1", reminder=False)
    assert str(first.data.url) == "https://avis.example/s/tok" and first.data.request_id == "REQ-1"
    reminder = invitation(survey(campaign_id="CMP-1", request_id=None), "https://a.example", "t2", reminder=True)
    assert reminder.time == NOW + timedelta(days=3) and reminder.data.campaign_id == "CMP-1"
    assert reminder.id == invitation_id("SRV-1", reminder=True) != first.id


def test_reminders_go_to_reachable_tenants_and_open_campaigns_only() -> None:
    later = NOW + timedelta(days=3)
    due = [
        survey("A"),
        survey("B", answered=True),
        survey("C", tenant_ref="T-GONE"),
        survey("D", campaign_id="CMP-1", request_id=None),
        survey("E", campaign_id="CMP-CLOSED", request_id=None),
        survey("F", expires_at=later),
        survey("G", tenant_ref=ANONYMOUS),
    ]
    campaigns = {"CMP-1": campaign(), "CMP-CLOSED": campaign(status=CampaignStatus.CLOSED)}
    tenants = {("demo-nord", "T-GONE"): TenantState(erased=True)}
    assert [s.id for s in reminders_to_send(due, campaigns, tenants, later)] == ["A", "D"]


def test_campaign_targets_by_selection() -> None:
    states = {
        "T-PHONE": TenantState(has_phone=True),
        "T-UNKNOWN": TenantState(),
        "T-NONE": TenantState(has_phone=True, preferred_none=True),
        ANONYMOUS: TenantState(),
    }
    assert targets(Selection.CONSENTED, states) == ["T-PHONE"]
    assert targets(Selection.REQUESTS, states) == ["T-PHONE", "T-UNKNOWN"]


def test_page_outcomes() -> None:
    assert page_outcome(None, None, NOW) == (PageOutcome.INVALID, None)
    assert page_outcome(survey(expires_at=NOW), None, NOW)[0] is PageOutcome.INVALID
    assert page_outcome(survey(tenant_ref=ANONYMOUS), None, NOW)[0] is PageOutcome.INVALID
    outcome, opened = page_outcome(survey(), None, NOW)
    assert outcome is PageOutcome.OPEN and opened is not None and opened.questions is None
    assert page_outcome(survey(answered=True), None, NOW)[0] is PageOutcome.ALREADY
    in_campaign = survey(campaign_id="CMP-1", request_id=None)
    assert page_outcome(in_campaign, None, NOW)[0] is PageOutcome.INVALID
    assert page_outcome(in_campaign, campaign(status=CampaignStatus.CLOSED), NOW)[0] is PageOutcome.INVALID
    outcome, opened = page_outcome(in_campaign, campaign(), NOW)
    assert outcome is PageOutcome.OPEN and opened is not None
    assert (opened.title, opened.questions) == ("Enquête", Questions(axes=(Axis.KEYS,)))


def test_an_answer_plans_its_event_and_a_detractor_alert() -> None:
    answer = Answer("demo-nord", "T-1", 1, "web", survey_id="SRV-1", request_id="REQ-1", comment="t1@example.org")
    plan = plan_answer(answer, NOW, publish=True)
    assert plan.id == "survey|SRV-1" and plan.at == NOW
    assert [e.type for e in plan.events] == [full_type("satisfaction.rated"), full_type("feedback.detractor_alert")]
    assert plan.alert is not None and plan.alert.comment == "[e-mail masqué]"
    assert plan.alert.follow_up_due_at == NOW + timedelta(hours=48)
    quiet = plan_answer(answer, NOW, publish=False)
    assert [e.type for e in quiet.events] == [full_type("feedback.detractor_alert")]
    happy = plan_answer(Answer("demo-nord", "T-1", 4, "sms", survey_id="SRV-1"), NOW, publish=False)
    assert happy.events == () and happy.alert is None


def test_a_campaign_answer_is_published_from_our_page_only() -> None:
    answer = CampaignAnswer("demo-nord", "T-1", "CMP-1", "SRC-1", {"keys": 4})
    assert [e.type for e in plan_campaign_answer(answer, NOW, publish=True).events] == [full_type("campaign.answered")]
    assert plan_campaign_answer(answer, NOW, publish=False).events == ()
