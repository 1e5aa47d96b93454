"""The feedback store contract: every port of ``ports.FeedbackStore``, run against the in-memory
twin (``store_memory``) and the real store (the local FerretDB), so the twin cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from services.feedback.domain import (
    ANONYMOUS,
    Alert,
    Answer,
    Campaign,
    CampaignAnswer,
    CampaignScores,
    CampaignStatus,
    Link,
    OfficeCounts,
    Questions,
    RequestNote,
    Selection,
    Survey,
    TenantContact,
    TenantState,
    UnparsedReply,
    survey_id_for,
)
from services.feedback.domain.voice import VoiceEntry, VoiceKind, VoiceQuery, VoiceStatus
from services.feedback.ports import FeedbackStore
from services.feedback.store import INDEXES, FeedbackMongoStore
from services.feedback.store_memory import MemoryFeedbackStore
from shared.events import Axis
from shared.store import ensure_indexes, make_client

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NORD = "demo-nord"


@pytest_asyncio.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[FeedbackStore]:
    if request.param == "memory":
        yield MemoryFeedbackStore()
        return
    infra = request.getfixturevalue("infra")
    client = make_client(infra["mongo"])
    name = f"t{uuid.uuid4().hex[:10]}_feedback_contract"
    try:
        db = client[name]
        await ensure_indexes(db, INDEXES)
        yield FeedbackMongoStore(db)
    finally:
        await client.drop_database(name)
        await client.close()


def survey(sid: str, tenant: str = "T-1", at: datetime = T0, **fields: object) -> Survey:
    base: dict[str, object] = {
        "id": sid,
        "office": NORD,
        "tenant_ref": tenant,
        "created_at": at,
        "expires_at": at + timedelta(days=14),
        "request_id": f"REQ-{sid}",
        "invited_at": at,
        "invited": True,
        "reminder_due_at": at + timedelta(days=3),
        "pending_reminder": True,
    }
    return Survey(**(base | fields))  # type: ignore[arg-type]


def campaign(cid: str = "CMP-1", at: datetime = T0, **fields: object) -> Campaign:
    base: dict[str, object] = {
        "id": cid,
        "title": "Enquête",
        "offices": (NORD, "demo-sud"),
        "selection": Selection.CONSENTED,
        "closes_at": at + timedelta(days=30),
        "questions": Questions(axes=(Axis.KEYS, Axis.TEAM), nps=False),
        "status": CampaignStatus.DRAFT,
        "created_at": at,
        "created_by": "admin",
    }
    return Campaign(**(base | fields))  # type: ignore[arg-type]


def alert(aid: str, at: datetime = T0, office: str = NORD, tenant: str = "T-1") -> Alert:
    return Alert(
        id=aid,
        office=office,
        tenant_ref=tenant,
        score=1,
        follow_up_due_at=at + timedelta(hours=48),
        created_at=at,
        request_id="REQ-1",
        comment="appelez-moi",
    )


# --- requests and surveys -------------------------------------------------------------------------


async def test_a_request_wants_its_survey_once_tenant_and_end_are_known_in_any_order(store: FeedbackStore) -> None:
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(trigger=True, repaired=True))
    assert ctx.request.tenant_ref is None and ctx.request.trigger and not ctx.request.wants_survey
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(tenant_ref="T-1", opened_at=T0))
    assert ctx.request.wants_survey and ctx.existing is None
    assert ctx.tenant == TenantState() and ctx.last_survey_at is None
    ctx = await store.survey_context(NORD, "REQ-2", RequestNote(tenant_ref="T-2", opened_at=T0))
    assert not ctx.request.wants_survey and not ctx.request.trigger


async def test_a_request_keeps_its_earliest_end_in_any_order(store: FeedbackStore) -> None:
    later, earlier = T0 + timedelta(hours=5), T0 + timedelta(hours=1)
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(trigger=True, ended_at=later))
    assert ctx.request.ended_at == later
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(trigger=True, repaired=True, ended_at=earlier))
    assert ctx.request.ended_at == earlier
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(trigger=True, ended_at=later))
    assert ctx.request.ended_at == earlier
    ctx = await store.survey_context(NORD, "REQ-1", RequestNote(tenant_ref="T-1", opened_at=T0))
    assert ctx.request.wants_survey and ctx.request.ended_at == earlier
    assert ctx.completed  # this event completed the request
    again = await store.survey_context(NORD, "REQ-1", RequestNote(trigger=True, ended_at=T0 + timedelta(days=1)))
    assert again.request == ctx.request and not again.completed  # a later closing, a redelivery
    opened = await store.survey_context(NORD, "REQ-2", RequestNote(tenant_ref="T-1", opened_at=T0))
    assert opened.request.ended_at is None


async def test_the_context_holds_the_existing_survey_the_tenant_and_the_last_survey_after_a_request(
    store: FeedbackStore,
) -> None:
    await store.set_consent(NORD, "T-1", "sms", False)
    earlier = survey("SRV-OLD", at=T0 - timedelta(days=3))
    assert await store.create_survey(earlier, 1) == (earlier, True)
    await store.add_surveys([survey("SRC-1", at=T0 - timedelta(days=1), request_id=None, campaign_id="C")])
    await store.survey_context(NORD, "REQ-9", RequestNote(tenant_ref="T-1", opened_at=T0))
    ctx = await store.survey_context(NORD, "REQ-9", RequestNote(trigger=True))
    assert ctx.existing is None
    assert ctx.tenant == TenantState(sms_consent=False)
    assert ctx.last_survey_at == earlier.created_at  # the campaign's survey does not count
    mine = survey(survey_id_for(NORD, "REQ-9"), at=T0, request_id="REQ-9")
    assert await store.create_survey(mine, 2) == (mine, True)
    again = await store.survey_context(NORD, "REQ-9", RequestNote(trigger=True))
    assert again.existing == mine


async def test_notes_in_bulk_give_each_note_the_request_before_and_after_as_one_by_one(store: FeedbackStore) -> None:
    later, earlier = T0 + timedelta(hours=5), T0 + timedelta(hours=1)
    notes = [
        RequestNote(trigger=True, ended_at=later, closed=True),
        RequestNote(trigger=True, repaired=True, ended_at=earlier),
        RequestNote(closed=True),
        RequestNote(tenant_ref="T-1", opened_at=T0, category="repair"),
        RequestNote(trigger=True, ended_at=later),
    ]
    await store.survey_context(NORD, "REQ-A", RequestNote(trigger=True, ended_at=T0 + timedelta(days=1)))
    await store.survey_context(NORD, "REQ-B", RequestNote(trigger=True, ended_at=T0 + timedelta(days=1)))
    single = []
    for note in notes:
        if note.closed:
            await store.close_request(NORD, "REQ-B")
        if note != RequestNote(closed=True):
            ctx = await store.survey_context(NORD, "REQ-B", replace(note, closed=False))
            single.append((ctx.completed, replace(ctx.request, request_id="REQ-A")))
    # interleaved with the notes of another request, which change nothing of this one
    mixed = [(NORD, "REQ-A", n) for n in notes]
    mixed.insert(2, (NORD, "REQ-C", RequestNote(tenant_ref="T-2", opened_at=T0)))
    mixed.insert(4, ("demo-sud", "REQ-A", RequestNote(tenant_ref="T-3", opened_at=T0)))
    changes = await store.note_requests(mixed)
    assert len(changes) == len(mixed)
    ours = [c for (office, rid, _), c in zip(mixed, changes, strict=True) if (office, rid) == (NORD, "REQ-A")]
    # a closing without resolution decides nothing: one by one, it is only ``close_request``
    bulk = [(not b.wants_survey, a) for (b, a), n in zip(ours, notes, strict=True) if n != RequestNote(closed=True)]
    assert [b[1] for b in bulk] == [s[1] for s in single]
    # which note completed the request (a context's ``completed`` tells only once it wants a survey)
    assert [c for c, r in bulk if r.wants_survey] == [c for c, r in single if r.wants_survey] == [True, False]
    assert ours[-1][1].ended_at == earlier and ours[-1][1].tenant_ref == "T-1" and ours[-1][1].wants_survey
    assert await store.request_category(NORD, "REQ-A") == "repair"
    assert await store.requests_in_progress(NORD, "T-1") == {}  # closed, both ways
    assert await store.requests_in_progress(NORD, "T-2") == {"REQ-C": None}
    assert await store.requests_in_progress("demo-sud", "T-3") == {"REQ-A": None}
    assert await store.tenants_with_requests(NORD, T0, T0 + timedelta(hours=1)) == {"T-1", "T-2"}
    # again (a redelivery): the same requests, each now wanting what it wanted
    again = await store.note_requests(mixed)
    final = {(office, rid): after for (office, rid, _), (_, after) in zip(mixed, changes, strict=True)}
    assert [(b, a) for b, a in again] == [(final[o, r], final[o, r]) for o, r, _ in mixed]
    assert await store.note_requests([]) == []


async def test_tenant_states_and_last_surveys_in_bulk(store: FeedbackStore) -> None:
    await store.set_consent(NORD, "T-1", "sms", False)
    await store.set_consent(NORD, "T-2", "sms", False)
    await store.erase_tenant(NORD, "T-2")
    keys = [(NORD, "T-1"), (NORD, "T-2"), (NORD, "T-3"), ("demo-sud", "T-1")]
    states = await store.tenant_states(keys)
    assert states == {key: await store.tenant(*key) for key in keys}
    assert states[NORD, "T-1"] == TenantState(sms_consent=False) and states[NORD, "T-2"].erased
    assert states[NORD, "T-3"] == states["demo-sud", "T-1"] == TenantState()
    assert await store.tenant_states([]) == {}
    for sid, tenant, days, week in (("SRV-A", "T-1", 9, 1), ("SRV-B", "T-1", 3, 2), ("SRV-C", "T-4", 1, 3)):
        assert await store.create_survey(survey(sid, tenant=tenant, at=T0 - timedelta(days=days)), week) is not None
    await store.add_surveys([survey("SRC-1", at=T0, request_id=None, campaign_id="C")])  # a campaign's: left out
    other = replace(survey("SRV-S", tenant="T-1", at=T0), office="demo-sud")
    assert await store.create_survey(other, 1) is not None
    wanted = [(NORD, "T-1"), (NORD, "T-4"), (NORD, "T-5")]
    assert await store.last_surveys_at(wanted) == {
        (NORD, "T-1"): T0 - timedelta(days=3),
        (NORD, "T-4"): T0 - timedelta(days=1),
    }
    assert await store.last_surveys_at(wanted, other_than={"SRV-B", "SRV-C"}) == {(NORD, "T-1"): T0 - timedelta(days=9)}
    assert await store.last_surveys_at([("demo-sud", "T-1")]) == {("demo-sud", "T-1"): T0}
    assert await store.last_surveys_at([]) == {}


async def test_surveys_created_in_bulk_once_per_id_and_tenant_week(store: FeedbackStore) -> None:
    held = survey("SRV-HELD", tenant="T-2")
    assert await store.create_survey(held, 7) == (held, True)
    first, second = survey("SRV-1"), survey("SRV-2", tenant="T-2")
    third = survey("SRV-3", tenant="T-3")
    made = await store.create_surveys([(first, 7), (second, 7), (third, 8)])
    assert made == {"SRV-1": (first, True), "SRV-2": None, "SRV-3": (third, True)}
    # again (a redelivery): found, not new; the week still held by the other survey
    changed = replace(first, pending_reminder=False)
    assert await store.create_surveys([(changed, 7), (second, 7)]) == {"SRV-1": (first, False), "SRV-2": None}
    assert await store.surveys_of(["SRV-1", "SRV-2", "SRV-3", "SRV-HELD"]) == {
        "SRV-1": first,
        "SRV-3": third,
        "SRV-HELD": held,
    }
    assert await store.create_survey(survey("SRV-4", tenant="T-3"), 8) is None  # the bulk claim holds
    assert await store.create_surveys([]) == {}


async def test_one_survey_per_tenant_and_week_and_one_per_id(store: FeedbackStore) -> None:
    first = survey("SRV-1")
    assert await store.create_survey(first, 7) == (first, True)
    assert await store.create_survey(first, 7) == (first, False)  # a redelivery finds it
    assert await store.create_survey(survey("SRV-2"), 7) is None  # the week is held
    assert await store.create_survey(survey("SRV-3", tenant="T-OTHER"), 7) is not None
    assert await store.survey("SRV-2") is None
    assert await store.survey("SRV-1") == first


async def test_links_resolve_by_token_hash_keep_the_first_and_can_be_dropped(store: FeedbackStore) -> None:
    s = survey("SRV-1")
    await store.create_survey(s, 1)
    await store.add_links([Link("h1", "SRV-1", NORD, "T-1"), Link("h2", "SRV-1", NORD, "T-1")])
    await store.add_links([Link("h1", "SRV-OTHER", NORD, "T-1")])
    assert await store.survey_by_token_hash("h1") == s
    assert await store.survey_by_token_hash("nope") is None
    await store.drop_links(["h1"])
    assert await store.survey_by_token_hash("h1") is None
    assert await store.survey_by_token_hash("h2") == s


async def test_reminders_due_claimed_once_and_survey_states(store: FeedbackStore) -> None:
    await store.create_survey(survey("SRV-1"), 1)
    await store.create_survey(survey("SRV-2", tenant="T-2", at=T0 + timedelta(days=1)), 1)
    due = await store.reminders_due(T0 + timedelta(days=3))
    assert [s.id for s in due] == ["SRV-1"]
    assert await store.claim_reminders(["SRV-1"], T0) == {"SRV-1"}
    assert await store.claim_reminders(["SRV-1", "SRV-2"], T0) == {"SRV-2"}
    await store.stop_reminders(["SRV-1"])
    assert await store.reminders_due(T0 + timedelta(days=5)) == [await store.survey("SRV-2")]
    await store.mark_answered("SRV-2")
    answered = await store.survey("SRV-2")
    assert answered is not None and answered.answered and not answered.pending_reminder
    assert await store.reminders_due(T0 + timedelta(days=5)) == []


async def test_the_latest_open_survey_after_a_request_answers_an_sms(store: FeedbackStore) -> None:
    older, newer = survey("SRV-1"), survey("SRV-2", at=T0 + timedelta(hours=1))
    for s, week in ((older, 1), (newer, 2)):
        await store.create_survey(s, week)
    await store.add_surveys([survey("SRC-1", at=T0 + timedelta(hours=2), request_id=None, campaign_id="C")])
    assert await store.latest_open_survey(NORD, "T-1", T0 + timedelta(days=1)) == newer
    await store.mark_answered("SRV-2")
    assert await store.latest_open_survey(NORD, "T-1", T0 + timedelta(days=1)) == older
    assert await store.latest_open_survey(NORD, "T-1", T0 + timedelta(days=15)) is None
    assert await store.latest_open_survey("demo-sud", "T-1", T0) is None


# --- tenants --------------------------------------------------------------------------------------


async def test_tenant_state_from_consent_and_contact_events(store: FeedbackStore) -> None:
    assert await store.tenant(NORD, "T-1") == TenantState()
    await store.set_contact(NORD, "T-1", TenantContact(preferred_none=False, has_phone=True, has_email=False))
    await store.set_consent(NORD, "T-1", "email", False)
    await store.set_contact("demo-sud", "T-9", TenantContact(preferred_none=True, has_phone=False, has_email=True))
    expected = TenantState(email_consent=False, has_phone=True)
    assert await store.tenant(NORD, "T-1") == expected
    assert await store.tenants_of(NORD) == {"T-1": expected}


async def test_tenants_with_a_request_opened_in_a_period(store: FeedbackStore) -> None:
    for rid, tenant, at in (("R1", "T-1", T0), ("R2", "T-2", T0 + timedelta(days=1)), ("R3", "T-3", T0 - timedelta(1))):
        await store.survey_context(NORD, rid, RequestNote(tenant_ref=tenant, opened_at=at))
    await store.survey_context(NORD, "R4", RequestNote(trigger=True))  # no tenant, no opening
    assert await store.tenants_with_requests(NORD, T0, T0 + timedelta(days=1)) == {"T-1"}
    assert await store.tenants_with_requests("demo-sud", T0, T0 + timedelta(days=9)) == set()


async def test_erasure_keeps_scores_and_removes_what_identifies_the_tenant(store: FeedbackStore) -> None:
    await store.survey_context(NORD, "R1", RequestNote(tenant_ref="T-1", opened_at=T0))
    await store.create_survey(survey("SRV-1"), 1)
    await store.add_links([Link("h1", "SRV-1", NORD, "T-1")])
    answer = Answer(NORD, "T-1", 1, "sms", survey_id="SRV-1", comment="06 12 34 56 78")
    assert await store.add_answer("survey|SRV-1", answer, T0)
    assert await store.add_alert(alert("ALR-1"))
    await store.add_unparsed(UnparsedReply("EV-1", NORD, "T-1", "bof", "no_score", T0))
    await store.add_alert(alert("ALR-2", tenant="T-2"))
    await store.erase_tenant(NORD, "T-1")
    assert (await store.tenant(NORD, "T-1")).erased
    assert await store.survey_by_token_hash("h1") is None
    erased = await store.survey("SRV-1")
    assert erased is not None and erased.tenant_ref == ANONYMOUS and not erased.pending_reminder
    kept = await store.alert("ALR-1")
    assert kept is not None and kept.tenant_ref == ANONYMOUS and kept.comment is None and kept.score == 1
    other = await store.alert("ALR-2")
    assert other is not None and other.comment == "appelez-moi"
    assert await store.tenants_with_requests(NORD, T0, T0 + timedelta(1)) == {ANONYMOUS}
    assert not await store.add_answer("survey|SRV-1", answer, T0)  # the score is still there


# --- answers and alerts ---------------------------------------------------------------------------


async def test_the_first_answer_wins_and_campaign_scores_are_read_back(store: FeedbackStore) -> None:
    assert await store.add_answer("survey|SRV-1", Answer(NORD, "T-1", 4, "web", survey_id="SRV-1"), T0)
    assert not await store.add_answer("survey|SRV-1", Answer(NORD, "T-1", 1, "sms", survey_id="SRV-1"), T0)
    first = CampaignAnswer(NORD, "T-1", "CMP-1", "SRC-1", {"keys": 5, "team": 3}, nps=9)
    assert await store.add_campaign_answer("survey|SRC-1", first, T0)
    assert not await store.add_campaign_answer("survey|SRC-1", first, T0)
    await store.add_campaign_answer("survey|SRC-2", CampaignAnswer("demo-sud", "T-2", "CMP-1", "SRC-2", {}), T0)
    await store.add_campaign_answer("survey|SRC-3", CampaignAnswer(NORD, "T-3", "CMP-2", "SRC-3", {"keys": 1}), T0)
    scores = sorted(await store.campaign_scores("CMP-1"), key=lambda s: s.office)
    assert scores == [CampaignScores("demo-nord", {"keys": 5, "team": 3}, 9), CampaignScores("demo-sud", {}, None)]


async def test_answers_alerts_and_words_in_bulk_each_once_as_one_by_one(store: FeedbackStore) -> None:
    """The bulk writes of a run of ratings: ``add_*`` of each, the ids recorded by this call."""
    first = Answer(NORD, "T-1", 4, "web", survey_id="SRV-1", request_id="REQ-1", nps=9, comment="bien")
    assert await store.add_answer("survey|SRV-1", first, T0)
    later = T0 + timedelta(hours=1)
    other = Answer(NORD, "T-2", 2, "phone", request_id="REQ-2")
    added = await store.add_answers(
        [("survey|SRV-1", replace(first, score=1), later), (f"request|{NORD}|REQ-2", other, later)]
    )
    assert added == {f"request|{NORD}|REQ-2"}
    assert await store.add_answers([]) == set()
    campaign_answer = CampaignAnswer(NORD, "T-3", "CMP-1", "SRC-1", {"keys": 1})
    assert await store.add_campaign_answer("survey|SRC-1", campaign_answer, T0)
    stored = await store.stored_answers(["survey|SRV-1", f"request|{NORD}|REQ-2", "survey|SRC-1", "survey|404"])
    assert stored == {"survey|SRV-1": (first, T0), f"request|{NORD}|REQ-2": (other, later)}
    assert await store.stored_answers([]) == {}

    assert await store.add_alert(alert("ALR-1"))
    assert await store.add_alerts([alert("ALR-1", tenant="T-9"), alert("ALR-2")]) == {"ALR-2"}
    assert [(a.id, a.tenant_ref) for a in await store.alerts(NORD, open_only=True)] == [
        ("ALR-1", "T-1"),
        ("ALR-2", "T-1"),
    ]
    a, b = words("VOX-A", T0), words("VOX-B", later, score=2)
    assert await store.add_voice(a)
    assert await store.add_voices([replace(a, text="autre"), b]) == {"VOX-B"}
    assert await store.voice("VOX-A") == a and await store.voice("VOX-B") == b


async def test_campaign_answers_in_bulk_each_once_as_one_by_one(store: FeedbackStore) -> None:
    first = CampaignAnswer(NORD, "T-1", "CMP-1", "SRC-1", {"keys": 5, "team": 2}, nps=9, comment="bien")
    assert await store.add_campaign_answer("survey|SRC-1", first, T0)
    later = T0 + timedelta(hours=1)
    other = CampaignAnswer(NORD, "T-2", "CMP-1", "SRC-2", {"keys": 1}, channel="paper")
    added = await store.add_campaign_answers(
        [("survey|SRC-1", replace(first, axes={"keys": 1}), later), ("survey|SRC-2", other, later)]
    )
    assert added == {"survey|SRC-2"}
    assert await store.add_campaign_answers([]) == set()
    assert await store.add_answer("survey|SRV-1", Answer(NORD, "T-3", 4, "web", survey_id="SRV-1"), T0)
    stored = await store.stored_campaign_answers(["survey|SRC-1", "survey|SRC-2", "survey|SRV-1", "survey|404"])
    assert stored == {"survey|SRC-1": (first, T0), "survey|SRC-2": (other, later)}
    assert await store.stored_campaign_answers([]) == {}
    scores = sorted(await store.campaign_scores("CMP-1"), key=lambda s: s.nps or 0)
    assert scores == [CampaignScores(NORD, {"keys": 1}, None), CampaignScores(NORD, {"keys": 5, "team": 2}, 9)]


async def test_surveys_read_and_marked_answered_in_bulk(store: FeedbackStore) -> None:
    for sid in ("SRV-1", "SRV-2", "SRV-3"):
        await store.create_survey(survey(sid, tenant=f"T-{sid}"), week=1)
    found = await store.surveys_of(["SRV-1", "SRV-3", "SRV-404"])
    assert found == {"SRV-1": survey("SRV-1", tenant="T-SRV-1"), "SRV-3": survey("SRV-3", tenant="T-SRV-3")}
    assert await store.surveys_of([]) == {}
    await store.mark_all_answered(["SRV-1", "SRV-2", "SRV-404"])
    await store.mark_all_answered([])
    states = {sid: await store.survey(sid) for sid in ("SRV-1", "SRV-2", "SRV-3")}
    assert {sid: (s.answered, s.pending_reminder) for sid, s in states.items() if s is not None} == {
        "SRV-1": (True, False),
        "SRV-2": (True, False),
        "SRV-3": (False, True),
    }


async def test_alerts_once_per_answer_listed_oldest_first_and_acknowledged(store: FeedbackStore) -> None:
    assert await store.add_alert(alert("ALR-2", T0 + timedelta(minutes=1)))
    assert await store.add_alert(alert("ALR-1", T0))
    assert await store.add_alert(alert("ALR-3", T0 + timedelta(seconds=30), office="demo-sud"))
    assert not await store.add_alert(alert("ALR-1", T0 + timedelta(hours=1)))
    assert [a.id for a in await store.alerts(NORD, open_only=True)] == ["ALR-1", "ALR-2"]
    assert [a.id for a in await store.alerts(None, open_only=True, limit=2)] == ["ALR-1", "ALR-3"]
    assert await store.open_alert_counts() == {NORD: 2, "demo-sud": 1}
    await store.acknowledge("ALR-1", T0 + timedelta(hours=2))
    acked = await store.alert("ALR-1")
    assert acked == replace(alert("ALR-1", T0), open=False, acknowledged_at=T0 + timedelta(hours=2))
    assert [a.id for a in await store.alerts(NORD, open_only=True)] == ["ALR-2"]
    assert [a.id for a in await store.alerts(NORD, open_only=False)] == ["ALR-1", "ALR-2"]
    assert await store.open_alert_counts() == {NORD: 1, "demo-sud": 1}
    assert await store.alert("ALR-404") is None


async def test_alerts_keep_their_campaign_and_history_and_the_gauge_counts_live_ones(store: FeedbackStore) -> None:
    old = replace(alert("ALR-OLD", T0 - timedelta(days=3)), historical=True)
    mine = replace(alert("ALR-CMP", T0), survey_id="SRC-1", request_id=None, campaign_id="CMP-1", score=2)
    assert await store.add_alert(old) and await store.add_alert(mine)
    assert await store.alert("ALR-OLD") == old and await store.alert("ALR-CMP") == mine
    assert [a.id for a in await store.alerts(NORD, open_only=True)] == ["ALR-OLD", "ALR-CMP"]
    assert await store.open_alert_counts() == {NORD: 1}


# --- campaigns ------------------------------------------------------------------------------------


async def test_campaigns_are_stored_listed_and_change_state(store: FeedbackStore) -> None:
    second, first = campaign("CMP-2", T0 + timedelta(hours=1)), campaign("CMP-1", T0)
    await store.add_campaign(second)
    await store.add_campaign(first)
    assert await store.campaign("CMP-1") == first
    assert [c.id for c in await store.campaigns()] == ["CMP-1", "CMP-2"]
    await store.set_campaign_state("CMP-1", CampaignStatus.OPEN, targeted=3, opened_at=T0)
    await store.set_campaign_state("CMP-1", CampaignStatus.OPEN, targeted=4)
    opened = await store.campaign("CMP-1")
    assert opened is not None
    assert (opened.status, opened.targeted, opened.opened_at, opened.closed_at) == (CampaignStatus.OPEN, 4, T0, None)
    assert [c.id for c in await store.campaigns(CampaignStatus.OPEN)] == ["CMP-1"]
    assert await store.campaign("CMP-404") is None


async def test_campaign_surveys_once_each_paced_and_counted(store: FeedbackStore) -> None:
    def sent(sid: str, office: str = NORD) -> Survey:
        return Survey(sid, office, f"T-{sid}", T0, T0 + timedelta(days=30), campaign_id="CMP-1")

    batch = [sent("SRC-1"), sent("SRC-2"), sent("SRC-3", "demo-sud")]
    assert await store.add_surveys(batch) == 3
    assert await store.add_surveys([*batch, sent("SRC-4")]) == 1
    first = await store.uninvited("CMP-1", 3)
    assert len(first) == 3 and all(not s.invited for s in first)
    await store.mark_invited([s.id for s in first], T0, T0 + timedelta(days=3))
    left = await store.uninvited("CMP-1", 10)
    assert len(left) == 1
    invited = await store.survey(first[0].id)
    assert invited is not None and invited.invited and invited.pending_reminder and invited.invited_at == T0
    counts = await store.campaign_counts("CMP-1")
    assert sum(c.targeted for c in counts.values()) == 4 and sum(c.invited for c in counts.values()) == 3
    assert set(counts) == {NORD, "demo-sud"}
    assert counts["demo-sud"] == OfficeCounts(1, int("SRC-3" in {s.id for s in first}))
    assert await store.campaign_counts("CMP-404") == {}


# --- the closed loop: acknowledgement and overdue claims --------------------------------------------


async def test_an_alert_is_acknowledged_once_with_its_action(store: FeedbackStore) -> None:
    assert await store.add_alert(alert("ALR-1", T0))
    assert await store.acknowledge("ALR-1", T0 + timedelta(hours=2), "Rappelée")
    assert not await store.acknowledge("ALR-1", T0 + timedelta(hours=3), "encore")  # the first wins
    acked = await store.alert("ALR-1")
    assert acked == replace(alert("ALR-1", T0), open=False, acknowledged_at=T0 + timedelta(hours=2), action="Rappelée")


async def test_overdue_alerts_are_the_live_open_ones_past_their_deadline_reported_once(store: FeedbackStore) -> None:
    due = T0 + timedelta(hours=48)
    assert await store.add_alert(alert("ALR-LATE", T0))
    assert await store.add_alert(alert("ALR-LATER", T0 + timedelta(hours=1), office="demo-sud"))
    assert await store.add_alert(alert("ALR-SOON", T0 + timedelta(hours=10)))
    assert await store.add_alert(replace(alert("ALR-OLD", T0 - timedelta(days=5)), historical=True))
    assert await store.add_alert(alert("ALR-DONE", T0))
    await store.acknowledge("ALR-DONE", T0 + timedelta(hours=1))
    assert await store.overdue_alerts(due - timedelta(seconds=1)) == []
    now = due + timedelta(hours=2)
    assert [a.id for a in await store.overdue_alerts(now)] == ["ALR-LATE", "ALR-LATER"]
    assert [a.id for a in await store.overdue_alerts(now, limit=1)] == ["ALR-LATE"]
    assert await store.mark_overdue("ALR-LATE", now)
    assert not await store.mark_overdue("ALR-LATE", now + timedelta(minutes=1))
    assert [a.id for a in await store.overdue_alerts(now)] == ["ALR-LATER"]
    late = await store.alert("ALR-LATE")
    assert late is not None and late.overdue and late.open  # overdue is not acknowledged
    assert await store.acknowledge("ALR-LATE", now)  # a late acknowledgement still closes it


# --- tenants' words -----------------------------------------------------------------------------------


def words(vid: str, at: datetime, office: str = NORD, tenant: str = "T-1", **fields: object) -> VoiceEntry:
    base: dict[str, object] = {
        "id": vid,
        "office": office,
        "tenant_ref": tenant,
        "kind": VoiceKind.SMS,
        "channel": "sms",
        "text": "toujours en panne",
        "at": at,
    }
    return VoiceEntry(**(base | fields))  # type: ignore[arg-type]


async def test_words_are_kept_once_listed_newest_first_filtered_and_handled(store: FeedbackStore) -> None:
    a = words("VOX-A", T0, score=1, category="repair", request_id="R1")
    b = words("VOX-B", T0 + timedelta(days=1, hours=1), kind=VoiceKind.SURVEY, channel="web", score=4)
    c = words("VOX-C", T0 + timedelta(hours=2), office="demo-sud")
    d = words("VOX-D", T0 - timedelta(days=40))
    for entry in (a, b, c, d):
        assert await store.add_voice(entry)
    assert not await store.add_voice(replace(a, text="autre"))
    assert await store.voice("VOX-A") == a and await store.voice("VOX-404") is None
    month = VoiceQuery(since=T0 - timedelta(days=1), until=T0 + timedelta(days=5), office=NORD)
    assert [e.id for e in await store.voices(month, [NORD, "demo-sud"])] == ["VOX-B", "VOX-A"]
    every = replace(month, office=None)
    assert [e.id for e in await store.voices(every, [NORD, "demo-sud"])] == ["VOX-B", "VOX-C", "VOX-A"]
    assert [e.id for e in await store.voices(replace(every, limit=1), [NORD, "demo-sud"])] == ["VOX-B"]
    assert [e.id for e in await store.voices(replace(month, score_max=2), [NORD])] == ["VOX-A"]
    assert [e.id for e in await store.voices(replace(month, score_min=3), [NORD])] == ["VOX-B"]
    assert [e.id for e in await store.voices(replace(month, category="repair"), [NORD])] == ["VOX-A"]
    since_b = replace(month, since=T0 + timedelta(days=1))
    assert [e.id for e in await store.voices(since_b, [NORD])] == ["VOX-B"]
    await store.mark_handled("VOX-A", T0 + timedelta(days=2), "Rappel fait")
    assert await store.voice("VOX-A") == replace(
        a, status=VoiceStatus.HANDLED, handled_at=T0 + timedelta(days=2), action="Rappel fait"
    )
    assert [e.id for e in await store.voices(replace(month, status=VoiceStatus.NEW), [NORD])] == ["VOX-B"]
    assert [e.id for e in await store.voices(replace(month, status=VoiceStatus.HANDLED), [NORD])] == ["VOX-A"]


async def test_requests_in_progress_with_their_category_until_closed(store: FeedbackStore) -> None:
    await store.survey_context(NORD, "R1", RequestNote(tenant_ref="T-1", opened_at=T0, category="repair"))
    await store.survey_context(NORD, "R2", RequestNote(tenant_ref="T-1", opened_at=T0))
    await store.survey_context(NORD, "R3", RequestNote(tenant_ref="T-2", opened_at=T0, category="transfer"))
    assert await store.requests_in_progress(NORD, "T-1") == {"R1": "repair", "R2": None}
    assert await store.request_category(NORD, "R1") == "repair"
    assert await store.request_category(NORD, "R404") is None
    await store.close_request(NORD, "R1")
    assert await store.requests_in_progress(NORD, "T-1") == {"R2": None}
    assert await store.request_category(NORD, "R1") == "repair"


async def test_erasure_removes_the_tenants_words(store: FeedbackStore) -> None:
    assert await store.add_voice(words("VOX-1", T0))
    assert await store.add_voice(words("VOX-2", T0, tenant="T-2"))
    assert await store.add_voice(words("VOX-3", T0, office="demo-sud"))
    await store.erase_tenant(NORD, "T-1")
    assert await store.voice("VOX-1") is None
    assert await store.voice("VOX-2") is not None and await store.voice("VOX-3") is not None


async def test_the_retention_purge_drops_old_words_only(store: FeedbackStore) -> None:
    later = T0 + timedelta(days=10)
    assert await store.add_answer(
        "survey|SRV-OLD", Answer(NORD, "T-1", 2, "web", survey_id="SRV-OLD", comment="bof"), T0
    )
    assert await store.add_answer(
        "survey|SRV-NEW", Answer(NORD, "T-2", 2, "web", survey_id="SRV-NEW", comment="x"), later
    )
    assert await store.add_alert(alert("ALR-OLD"))
    assert await store.add_alert(alert("ALR-NEW", at=later))
    await store.add_unparsed(UnparsedReply("EV-OLD", NORD, "T-1", "bof", "no_score", T0))
    assert await store.purge_words(T0 + timedelta(days=1)) == 3  # one answer, one alert, one reply
    old, new = await store.alert("ALR-OLD"), await store.alert("ALR-NEW")
    assert old is not None and old.comment is None and old.score == 1  # the alert itself stays
    assert new is not None and new.comment == "appelez-moi"
    assert await store.purge_words(T0 + timedelta(days=1)) == 0


async def test_the_retention_purge_deletes_old_voice_entries_only(store: FeedbackStore) -> None:
    retention = timedelta(days=365)
    now = T0 + retention + timedelta(days=30)
    assert await store.add_voice(words("VOX-OLD", now - retention - timedelta(hours=1)))
    assert await store.add_voice(words("VOX-OLD-HANDLED", now - retention - timedelta(days=20), office="demo-sud"))
    await store.mark_handled("VOX-OLD-HANDLED", now - retention - timedelta(days=19), "rappelée")
    assert await store.add_voice(words("VOX-YOUNG", now - retention + timedelta(hours=1)))
    assert await store.purge_voice(now - retention) == 2
    assert await store.voice("VOX-OLD") is None and await store.voice("VOX-OLD-HANDLED") is None
    young = await store.voice("VOX-YOUNG")
    assert young is not None and young.text == "toujours en panne"
    assert await store.purge_voice(now - retention) == 0
