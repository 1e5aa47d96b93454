"""The feedback use cases on the in-memory twins (store and outbox): fast checks of the paths the
integration tests drive through Kafka and the real store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.feedback.domain import (
    Answer,
    CampaignSpec,
    CampaignStatus,
    PageOutcome,
    Selection,
    invitation_id,
    survey_id_for,
    token_hash,
    token_of_url,
)
from services.feedback.domain.voice import VoiceKind, voice_entry, voice_id
from services.feedback.handlers import CONSUMED_TYPES, HANDLERS, answers, apply, campaigns, reminders, retention
from services.feedback.metrics import FeedbackMetrics
from services.feedback.ports import Deps
from services.feedback.store_memory import MemoryFeedbackStore
from shared.events import CloudEvent, full_type
from shared.outbox import MemoryOutboxStore, Outbox
from tests.feedback.support import ManualClock, event

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
URL = "https://avis.example"


class Publisher:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.fail = False

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.extend(events)

    def of(self, short: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type == full_type(short)]


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0 + timedelta(hours=2))
        self.store = MemoryFeedbackStore()
        self.outbox = MemoryOutboxStore()
        self.publisher = Publisher()
        self.registry = CollectorRegistry()
        self.deps = Deps(
            store=self.store,
            outbox=Outbox(self.outbox, self.publisher, self.clock),
            metrics=FeedbackMetrics.create(self.registry),
            clock=self.clock,
            url_base=URL,
        )

    def count(self, outcome: str) -> float:
        value: float = self.deps.metrics.surveys.labels("demo-nord", outcome)._value.get()
        return value

    def alerts(self, origin: str, outcome: str) -> float:
        value: float = self.deps.metrics.alerts.labels("demo-nord", origin, outcome)._value.get()
        return value


def repair(rid: str, tenant: str) -> list[CloudEvent]:
    return [
        event("request.opened", rid, T0, request_id=rid, tenant_ref=tenant),
        event("repair.done", rid, T0 + timedelta(hours=1), request_id=rid),
    ]


@pytest.fixture
def world() -> World:
    return World()


def test_the_table_covers_every_consumed_type() -> None:
    assert set(HANDLERS) == {
        "request.opened",
        "repair.done",
        "request.closed",
        "tenant.consent_changed",
        "tenant.contact_updated",
        "tenant.erased",
        "satisfaction.rated",
        "campaign.answered",
        "sms.replied",
    }
    assert [full_type(t) for t in HANDLERS] == CONSUMED_TYPES


async def test_repair_done_sends_one_survey_whose_link_resolves_and_whose_body_is_dropped(world: World) -> None:
    events = repair("REQ-1", "T-1")
    await apply(world.deps, events)
    await apply(world.deps, [*events, event("request.closed", "REQ-1", T0, request_id="REQ-1")])
    [sent] = world.publisher.of("survey.requested")
    survey_id = survey_id_for("demo-nord", "REQ-1")
    assert sent.subject == survey_id and sent.data.reminder is False  # type: ignore[attr-defined]
    token = token_of_url(str(sent.data.url))  # type: ignore[attr-defined]
    found = await world.store.survey_by_token_hash(token_hash(token))
    assert found is not None and found.id == survey_id
    # published: the outbox keeps the id, not the event (the token's plaintext)
    assert await world.outbox.lookup([sent.id]) == {sent.id: None}
    assert world.count("sent") == 1


async def test_a_redelivery_after_a_failed_publish_sends_the_recorded_link(world: World) -> None:
    events = repair("REQ-1", "T-1")
    world.publisher.fail = True
    with pytest.raises(ConnectionError):
        await apply(world.deps, events)
    event_id = invitation_id(survey_id_for("demo-nord", "REQ-1"), reminder=False)
    recorded = (await world.outbox.lookup([event_id]))[event_id]
    assert recorded is not None
    world.publisher.fail = False
    await apply(world.deps, events)
    assert world.publisher.published == [recorded]


async def test_cap_and_consent_are_counted_not_sent(world: World) -> None:
    withdrawn = [
        event("tenant.consent_changed", "T-NO", T0, tenant_ref="T-NO", channel=ch, granted=False, via="office")
        for ch in ("sms", "email")
    ]
    await apply(world.deps, withdrawn + repair("REQ-1", "T-1") + repair("REQ-2", "T-1") + repair("REQ-3", "T-NO"))
    assert [e.data.request_id for e in world.publisher.of("survey.requested")] == ["REQ-1"]  # type: ignore[attr-defined]
    assert (world.count("sent"), world.count("capped"), world.count("no_consent")) == (1, 1, 1)


async def test_one_reminder_with_a_fresh_link_after_three_days(world: World) -> None:
    await apply(world.deps, repair("REQ-1", "T-1"))
    world.clock.now += timedelta(days=3, minutes=1)
    await reminders.sweep(world.deps)
    await reminders.sweep(world.deps)
    first, reminder = world.publisher.of("survey.requested")
    assert reminder.subject == first.subject and reminder.data.reminder is True  # type: ignore[attr-defined]
    assert reminder.data.url != first.data.url  # type: ignore[attr-defined]
    outcome, _ = await answers.open_survey(world.deps, token_of_url(str(reminder.data.url)))  # type: ignore[attr-defined]
    assert outcome is PageOutcome.OPEN


async def test_sms_and_page_answers_once_and_a_detractor_raises_one_alert(world: World) -> None:
    await apply(world.deps, repair("REQ-1", "T-1") + repair("REQ-2", "T-2"))
    tokens = {e.data.tenant_ref: token_of_url(str(e.data.url)) for e in world.publisher.of("survey.requested")}  # type: ignore[attr-defined]
    replies = [
        event("sms.replied", "T-1", T0, tenant_ref="T-1", text="1 toujours en panne, 06 12 34 56 78"),
        event("sms.replied", "T-2", T0, tenant_ref="T-2", text="merci"),
    ]
    await apply(world.deps, replies + replies)
    [rated] = world.publisher.of("satisfaction.rated")
    assert rated.data.score == 1 and rated.data.channel.value == "sms"  # type: ignore[attr-defined]
    [alert] = world.publisher.of("feedback.detractor_alert")
    assert "06 12" not in str(alert.data.comment)  # type: ignore[attr-defined]
    # the rating and its alert keep the time the tenant replied, not the time it was read
    assert rated.time == alert.time == T0
    # "merci" has no score; the redelivered "1 …" finds its survey answered
    assert sorted(u.reason for u in world.store.unparsed.values()) == ["no_open_survey", "no_score"]
    # our own rating read back from the topic records nothing more
    await apply(world.deps, [rated])
    assert len(world.store.answers) == 1 and len(world.store.alert_records) == 1
    assert await answers.web_answer(world.deps, tokens["T-1"], 5, None, None) is PageOutcome.ALREADY
    assert await answers.web_answer(world.deps, tokens["T-2"], 4, 9, "bien") is PageOutcome.THANKS
    assert await answers.web_answer(world.deps, tokens["T-2"], 4, 9, "bien") is PageOutcome.ALREADY
    assert await answers.web_answer(world.deps, "A" * 43, 4, None, None) is PageOutcome.INVALID
    assert len(world.publisher.of("satisfaction.rated")) == 2


async def test_each_run_of_ratings_is_written_at_once_in_the_batchs_order(world: World) -> None:
    calls: list[list[str]] = []
    add_answers = world.store.add_answers

    async def spy(answers_: Sequence[tuple[str, Answer, datetime]]) -> set[str]:
        calls.append([a[0] for a in answers_])
        return await add_answers(answers_)

    world.store.add_answers = spy  # type: ignore[method-assign,assignment]

    def rated(rid: str, score: int) -> CloudEvent:
        fields: dict[str, Any] = {"request_id": rid, "survey_id": None, "tenant_ref": "T-1", "score": score}
        fields["channel"] = "phone"
        return event("satisfaction.rated", rid, T0 + timedelta(hours=1), **fields)

    batch = [rated("REQ-1", 4), rated("REQ-2", 5), rated("REQ-1", 1), *repair("REQ-3", "T-3"), rated("REQ-3", 2)]
    await apply(world.deps, batch)
    sid = survey_id_for("demo-nord", "REQ-3")
    # two runs: the repair between them made the survey the second run's rating answers
    assert calls == [["request|demo-nord|REQ-1", "request|demo-nord|REQ-2"], [f"survey|{sid}"]]
    assert world.store.surveys[sid].answered
    assert [a.score for a in world.store.answers.values() if isinstance(a, Answer)] == [4, 5, 2]
    assert world.alerts("rating", "raised") == 1


# --- live or history ------------------------------------------------------------------------------

OLD = T0 - timedelta(days=3)


async def test_an_old_repair_is_recorded_and_counted_as_history_and_surveys_nobody(world: World) -> None:
    old = [
        event("request.opened", "REQ-OLD", OLD, request_id="REQ-OLD", tenant_ref="T-1"),
        event("repair.done", "REQ-OLD", OLD + timedelta(hours=1), request_id="REQ-OLD"),
    ]
    # the end arrives first, the opening later: the request's end decides, whatever the order
    await apply(world.deps, [old[1], old[0]])
    assert world.publisher.of("survey.requested") == [] and world.count("history") == 1
    request, _ = world.store.requests["demo-nord", "REQ-OLD"]
    assert request.wants_survey and request.ended_at == OLD + timedelta(hours=1)
    # a resolved closing read now does not make it live: the earliest end counts
    closed = event("request.closed", "REQ-OLD", world.clock.now, request_id="REQ-OLD")
    await apply(world.deps, [closed])
    assert world.publisher.of("survey.requested") == [] and world.count("sent") == 0
    assert world.count("history") == 1  # counted once per request, also after a redelivery
    await apply(world.deps, old)
    assert world.count("history") == 1
    # a fresh repair of the same tenant is surveyed (the history decision held no week)
    await apply(world.deps, repair("REQ-NEW", "T-1"))
    [sent] = world.publisher.of("survey.requested")
    assert sent.data.request_id == "REQ-NEW" and world.count("sent") == 1  # type: ignore[attr-defined]


async def test_an_old_office_rating_is_recorded_and_its_alert_is_historical(world: World) -> None:
    rating = event(
        "satisfaction.rated",
        "REQ-9",
        OLD,
        request_id="REQ-9",
        survey_id=None,
        tenant_ref="T-9",
        score=1,
        channel="phone",
    )
    await apply(world.deps, [rating, rating])
    assert len(world.store.answers) == 1
    [raised] = world.publisher.of("feedback.detractor_alert")
    assert raised.time == OLD and raised.data.follow_up_due_at == OLD + timedelta(hours=48)  # type: ignore[attr-defined]
    [alert] = world.store.alert_records.values()
    assert alert.historical and alert.open and alert.created_at == OLD
    assert (world.alerts("rating", "history"), world.alerts("rating", "raised")) == (1, 0)
    assert await world.store.open_alert_counts() == {}  # the gauge counts live alerts


async def test_a_campaign_answer_with_a_low_axis_raises_one_alert_also_when_redelivered(world: World) -> None:
    answered = event(
        "campaign.answered",
        "SRC-1",
        T0,
        campaign_id="CMP-1",
        survey_id="SRC-1",
        tenant_ref="T-1",
        axes={"keys": 4, "posture": 1},
        comment="Personne ne rappelle : 06 12 34 56 78",
    )
    await apply(world.deps, [answered, answered])
    [raised] = world.publisher.of("feedback.detractor_alert")
    assert raised.subject == "SRC-1" and raised.time == T0
    assert (raised.data.survey_id, raised.data.score) == ("SRC-1", 1)  # type: ignore[attr-defined]
    assert "06 12" not in str(raised.data.comment)  # type: ignore[attr-defined]
    [alert] = await world.store.alerts("demo-nord", open_only=True)
    assert alert.campaign_id == "CMP-1" and not alert.historical
    assert alert.follow_up_due_at == T0 + timedelta(hours=48)
    assert world.alerts("campaign", "raised") == 1
    fine = event("campaign.answered", "SRC-2", T0, campaign_id="CMP-1", survey_id="SRC-2", axes={"keys": 3})
    await apply(world.deps, [fine])
    assert len(world.publisher.of("feedback.detractor_alert")) == 1


async def test_a_campaign_past_its_closing_date_is_closed_at_that_date(world: World) -> None:
    closes = world.clock.now + timedelta(days=1)
    spec = CampaignSpec("Enquête", ("demo-nord",), Selection.CONSENTED, closes)
    created = await campaigns.create_campaign(world.deps, spec, "admin")
    await campaigns.open_campaign(world.deps, created)
    world.clock.now = closes + timedelta(days=2)  # the pacing loop was down meanwhile
    await campaigns.send_campaigns(world.deps)
    closed = await world.store.campaign(created.id)
    assert closed is not None and closed.status is CampaignStatus.CLOSED and closed.closed_at == closes


async def test_the_retention_purge_deletes_voice_entries_by_their_own_retention(world: World) -> None:
    now = world.clock.now
    for cause, age in (("EV-OLD", 31), ("EV-YOUNG", 29)):
        entry = voice_entry(
            cause,
            office="demo-nord",
            tenant_ref="T-1",
            kind=VoiceKind.SMS,
            channel="sms",
            text="toujours en panne",
            at=now - timedelta(days=age),
        )
        assert await world.store.add_voice(entry)
    # comments are kept a year here; voice entries 30 days
    assert await retention.purge(world.deps, 365, 30) == 1
    assert list(world.store.voice_records) == [voice_id("EV-YOUNG")]
