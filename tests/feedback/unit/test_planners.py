"""The pure planners of the feedback domain: what a use case decides from a loaded context."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.feedback.domain import (
    ANONYMOUS,
    Answer,
    Campaign,
    CampaignAnswer,
    CampaignAnswerPlan,
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
    UnparsedReply,
    invitation,
    invitation_id,
    page_outcome,
    plan_answer,
    plan_answers,
    plan_campaign_answer,
    plan_campaign_answers,
    plan_survey,
    reminders_to_send,
    sms_answer,
    survey_id_for,
    targets,
)
from shared.events import Axis, full_type
from shared.offices import Office

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
READY = Request("demo-nord", "REQ-1", "T-1", trigger=True)
NORD = Office(id="demo-nord", name="Nord")  # the default horizon: 48 hours
HORIZON = timedelta(hours=48)


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
        assert plan_survey(SurveyContext(request), NOW, NORD) == SurveyPlan()


def test_a_redelivery_invites_the_existing_survey_again() -> None:
    existing = survey()
    plan = plan_survey(SurveyContext(READY, existing), NOW, NORD)
    assert plan.invite == existing and plan.create is None and plan.decision is None


def test_a_due_survey_is_planned_with_its_validity_and_reminder() -> None:
    plan = plan_survey(SurveyContext(READY), NOW, NORD)
    assert plan.decision is Decision.SEND and plan.invite is None and plan.create is not None
    created = plan.create
    assert created.id == survey_id_for("demo-nord", "REQ-1")
    assert (created.invited_at, created.expires_at) == (NOW, NOW + timedelta(days=14))
    assert created.reminder_due_at == NOW + timedelta(days=3) and created.pending_reminder
    assert plan.week == int(NOW.timestamp()) // (7 * 86400)


def test_capped_and_unreachable_tenants_are_only_counted() -> None:
    capped = plan_survey(SurveyContext(READY, last_survey_at=NOW - timedelta(days=2)), NOW, NORD)
    assert (capped.decision, capped.create) == (Decision.CAPPED, None)
    # once per request: a later closing of the capped request is neither sent nor counted again
    later = SurveyContext(READY, last_survey_at=NOW - timedelta(days=2), completed=False)
    assert plan_survey(later, NOW, NORD) == SurveyPlan()
    # unless the cap has passed meanwhile
    passed = SurveyContext(READY, last_survey_at=NOW - timedelta(days=8), completed=False)
    assert plan_survey(passed, NOW, NORD).decision is Decision.SEND
    gone = plan_survey(SurveyContext(READY, tenant=TenantState(preferred_none=True)), NOW, NORD)
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
    plan = plan_answer(answer, at=NOW, now=NOW, office=NORD, publish=True)
    assert plan.id == "survey|SRV-1" and plan.at == NOW
    assert [e.type for e in plan.events] == [full_type("satisfaction.rated"), full_type("feedback.detractor_alert")]
    assert plan.alert is not None and plan.alert.comment == "[e-mail masqué]"
    assert plan.alert.follow_up_due_at == NOW + timedelta(hours=48) and not plan.alert.historical
    quiet = plan_answer(answer, at=NOW, now=NOW, office=NORD, publish=False)
    assert [e.type for e in quiet.events] == [full_type("feedback.detractor_alert")]
    happy = plan_answer(
        Answer("demo-nord", "T-1", 4, "sms", survey_id="SRV-1"), at=NOW, now=NOW, office=NORD, publish=False
    )
    assert happy.events == () and happy.alert is None


def test_a_run_of_ratings_is_planned_first_per_survey_or_request_in_order_as_one_by_one() -> None:
    short = Office(id="demo-sud", name="Sud", history_horizon_hours=1)
    offices = {"demo-nord": NORD, "demo-sud": short}
    r1 = Answer("demo-nord", "T-1", 1, "phone", request_id="REQ-1", comment="rappelez-moi")
    r1_again = replace(r1, score=5)  # the same request: the first of the run wins
    s1 = Answer("demo-nord", "T-2", 4, "web", survey_id="SRV-1", request_id="REQ-2")
    s1_other = Answer("demo-nord", "T-2", 2, "sms", survey_id="SRV-1")  # the same survey, another request
    sud = Answer("demo-sud", "T-3", 2, "phone", request_id="REQ-1")  # the same request id, another office
    earlier = NOW - timedelta(hours=2)
    run = [(r1, NOW), (s1, NOW), (r1_again, NOW), (sud, earlier), (s1_other, NOW)]
    plans = plan_answers(run, now=NOW, office=offices.__getitem__)
    assert [p.id for p in plans] == ["request|demo-nord|REQ-1", "survey|SRV-1", "request|demo-sud|REQ-1"]
    one_by_one = [
        plan_answer(a, at=at, now=NOW, office=offices[a.office], publish=False) for a, at in (run[0], run[1], run[3])
    ]
    assert plans == one_by_one
    # never published again; the other office's horizon decides its alert
    assert [e.type for p in plans for e in p.events] == [full_type("feedback.detractor_alert")] * 2
    assert plans[2].alert is not None and plans[2].alert.historical
    assert plan_answers([], now=NOW, office=offices.__getitem__) == []


def test_a_run_of_campaign_answers_is_planned_first_per_survey_as_one_by_one() -> None:
    low = CampaignAnswer("demo-nord", "T-1", "CMP-1", "SRC-1", {"keys": 2, "team": 5}, channel="paper")
    again = replace(low, axes={"keys": 5})
    happy = CampaignAnswer("demo-nord", "T-2", "CMP-1", "SRC-2", {"team": 4})
    run = [(low, NOW), (happy, NOW), (again, NOW)]
    plans = plan_campaign_answers(run, now=NOW, office=lambda _: NORD)
    assert [p.id for p in plans] == ["survey|SRC-1", "survey|SRC-2"]
    assert plans == [plan_campaign_answer(a, at=at, now=NOW, office=NORD, publish=False) for a, at in run[:2]]
    assert [e.type for p in plans for e in p.events] == [full_type("feedback.detractor_alert")]


def test_a_campaign_answer_is_published_from_our_page_only() -> None:
    answer = CampaignAnswer("demo-nord", "T-1", "CMP-1", "SRC-1", {"keys": 4})
    published = plan_campaign_answer(answer, at=NOW, now=NOW, office=NORD, publish=True)
    assert [e.type for e in published.events] == [full_type("campaign.answered")]
    assert plan_campaign_answer(answer, at=NOW, now=NOW, office=NORD, publish=False).events == ()


# --- live or history ------------------------------------------------------------------------------


def test_a_request_that_ended_before_the_horizon_gets_no_survey_the_cut_off_included() -> None:
    at_horizon = replace(READY, ended_at=NOW - HORIZON)
    assert plan_survey(SurveyContext(at_horizon), NOW, NORD).decision is Decision.SEND
    older = replace(READY, ended_at=NOW - HORIZON - timedelta(microseconds=1))
    assert plan_survey(SurveyContext(older), NOW, NORD) == SurveyPlan(decision=Decision.HISTORY)
    # the horizon is the office's: six hours here
    short = Office(id="demo-nord", name="Nord", history_horizon_hours=6)
    assert plan_survey(SurveyContext(replace(READY, ended_at=NOW - timedelta(hours=7))), NOW, short).decision is (
        Decision.HISTORY
    )
    # history before consent and cap: nothing is decided about the tenant
    capped = SurveyContext(older, last_survey_at=NOW - timedelta(days=1))
    assert plan_survey(capped, NOW, NORD).decision is Decision.HISTORY
    # counted once per request: by the event that completed it, not by a later closing
    assert plan_survey(SurveyContext(older, completed=False), NOW, NORD) == SurveyPlan()
    # a survey already made (a redelivery) is still made sure of: its invitation keeps its own time
    existing = survey()
    assert plan_survey(SurveyContext(older, existing), NOW, NORD) == SurveyPlan(invite=existing)


def test_an_alert_carries_the_ratings_time_and_is_historical_past_the_horizon() -> None:
    answer = Answer("demo-nord", "T-1", 1, "phone", request_id="REQ-1")
    rated = NOW - HORIZON
    live = plan_answer(answer, at=rated, now=NOW, office=NORD, publish=False)
    assert live.alert is not None and not live.alert.historical
    [event] = live.events
    assert event.time == rated and live.at == rated
    assert live.alert.created_at == rated and live.alert.follow_up_due_at == rated + timedelta(hours=48)
    assert event.data.follow_up_due_at == rated + timedelta(hours=48)  # type: ignore[attr-defined]
    older = rated - timedelta(microseconds=1)
    old = plan_answer(answer, at=older, now=NOW, office=NORD, publish=True)
    # still recorded and emitted (analytics counts it; notifications sees its time and sends nothing)
    assert old.alert is not None and old.alert.historical
    assert [(e.type, e.time) for e in old.events] == [
        (full_type("satisfaction.rated"), older),
        (full_type("feedback.detractor_alert"), older),
    ]


def test_a_campaign_axis_of_two_or_less_raises_one_alert_with_the_lowest_axis() -> None:
    low = CampaignAnswer(
        "demo-nord", "T-1", "CMP-1", "SRC-1", {"keys": 4, "team": 1, "mission": 2}, comment="06 12 34 56 78"
    )
    plan = plan_campaign_answer(low, at=NOW, now=NOW, office=NORD, publish=True)
    assert [e.type for e in plan.events] == [full_type("campaign.answered"), full_type("feedback.detractor_alert")]
    alert, raised = plan.alert, plan.events[1]
    assert alert is not None and (alert.score, alert.survey_id, alert.request_id) == (1, "SRC-1", None)
    assert alert.campaign_id == "CMP-1" and alert.comment == "[téléphone masqué]"
    assert alert.follow_up_due_at == NOW + timedelta(hours=48) and not alert.historical
    assert raised.subject == "SRC-1" and raised.data.score == 1 and raised.data.survey_id == "SRC-1"  # type: ignore[attr-defined]
    # the same answer planned again (a redelivery) names the same alert and event
    again = plan_campaign_answer(low, at=NOW, now=NOW + timedelta(minutes=5), office=NORD, publish=False)
    assert again.alert is not None and again.alert.id == alert.id and again.events[0].id == raised.id
    fine = CampaignAnswer("demo-nord", "T-1", "CMP-1", "SRC-2", {"keys": 3, "team": 5})
    assert plan_campaign_answer(fine, at=NOW, now=NOW, office=NORD, publish=False) == CampaignAnswerPlan(
        "survey|SRC-2", fine, NOW
    )
    old = plan_campaign_answer(low, at=NOW - timedelta(days=3), now=NOW, office=NORD, publish=False)
    assert old.alert is not None and old.alert.historical and old.events[0].time == NOW - timedelta(days=3)


def test_an_sms_answer_keeps_the_replys_time() -> None:
    sent = NOW - timedelta(hours=3)
    unparsed = sms_answer("EV-1", "demo-nord", "T-1", "merci", None, sent)
    assert isinstance(unparsed, UnparsedReply) and unparsed.at == sent
