"""A consumed batch's ratings in bulk (``handlers.apply`` → ``answers.on_ratings``) on the real
MongoDB-wire store and outbox: the same documents, metrics, alerts and events as the same batch
applied event by event (``HANDLERS``), with duplicates inside the batch, answers stored before it
and a redelivery of the whole batch; and a batch re-applied after a crash between the answer's
insert and the rest completes what is missing. The same for campaign answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from bson import ObjectId
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from services.feedback.domain import Answer, CampaignAnswer, Survey, survey_id_for
from services.feedback.handlers import HANDLERS, answers, apply
from services.feedback.metrics import FeedbackMetrics
from services.feedback.ports import Deps
from services.feedback.store import INDEXES, TOKENS, FeedbackMongoStore
from shared.events import CloudEvent, full_type, short_type
from shared.outbox import MongoOutboxStore, Outbox
from shared.store import Document, ensure_indexes, make_client
from tests.feedback.support import ManualClock, event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NORD = "demo-nord"


class Publisher:
    """Records what the outbox publishes (the broker is not what these tests are about)."""

    def __init__(self) -> None:
        self.published: list[CloudEvent] = []

    async def publish(self, events: Iterable[CloudEvent]) -> None:
        self.published.extend(events)


@dataclass
class World:
    db: AsyncDatabase[Document]
    deps: Deps
    publisher: Publisher
    registry: CollectorRegistry


@pytest_asyncio.fixture
async def worlds(infra: dict[str, str]) -> AsyncIterator[tuple[World, World]]:
    """Two services on two databases of the real store, one clock."""
    client = make_client(infra["mongo"])
    clock = ManualClock(T0 + timedelta(hours=2))
    names = [f"t{uuid.uuid4().hex[:10]}_feedback_bulk_{k}" for k in (1, 2)]
    built = []
    try:
        for name in names:
            db = client[name]
            await ensure_indexes(db, INDEXES)
            publisher, registry = Publisher(), CollectorRegistry()
            deps = Deps(
                store=FeedbackMongoStore(db),
                outbox=Outbox(MongoOutboxStore(db), publisher, clock),
                metrics=FeedbackMetrics.create(registry),
                clock=clock,
                url_base="https://avis.example",
            )
            built.append(World(db, deps, publisher, registry))
        yield built[0], built[1]
    finally:
        for name in names:
            await client.drop_database(name)
        await client.close()


async def one_by_one(deps: Deps, events: Sequence[CloudEvent]) -> None:
    """The batch event by event, each through its handler (the path before bulk runs)."""
    for e in events:
        await HANDLERS[short_type(e.type)](deps, e)


async def contents(db: AsyncDatabase[Document]) -> dict[str, list[Document]]:
    """Every document of every collection (the links' token hashes are random: left out; so are
    generated ``ObjectId`` keys)."""
    found: dict[str, list[Document]] = {}
    for name in sorted(n for n in await db.list_collection_names() if n != TOKENS):
        docs = [d async for d in db[name].find({})]
        docs = [d | {"_id": None} if isinstance(d["_id"], ObjectId) else d for d in docs]
        found[name] = sorted(docs, key=repr)
    return found


def counted(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def published(publisher: Publisher) -> list[tuple[str, str, str]]:
    """What was published (a survey's link carries a random token: its data is left out)."""
    return sorted(
        (e.id, e.type, "" if e.type == full_type("survey.requested") else e.model_dump_json())
        for e in publisher.published
    )


def rating(rid: str, tenant: str, score: int, at: datetime, **data: Any) -> CloudEvent:
    fields: dict[str, Any] = {"request_id": rid, "tenant_ref": tenant, "score": score, "channel": "phone"}
    fields |= {"survey_id": None, "nps": None, "comment": None} | data
    return event("satisfaction.rated", fields["survey_id"] or rid, at, **fields)


def repair(rid: str, tenant: str) -> list[CloudEvent]:
    return [
        event("request.opened", rid, T0, request_id=rid, tenant_ref=tenant),
        event("repair.done", rid, T0 + timedelta(hours=1), request_id=rid),
    ]


async def test_a_batch_in_bulk_writes_and_publishes_what_it_would_event_by_event(worlds: tuple[World, World]) -> None:
    bulk, single = worlds
    at = T0 + timedelta(hours=1, minutes=30)
    before = repair("REQ-B", "T-B")
    # answered on the page before the batch (then read back from the topic with another score)
    page = Answer(NORD, "T-B", 2, "web", survey_id=survey_id_for(NORD, "REQ-B"), request_id="REQ-B", comment="bof")
    batch = [
        # the repair comes first in the batch: the rating after it finds and answers its survey
        *repair("REQ-A", "T-A"),
        rating("REQ-A", "T-A", 1, at, comment="toujours en panne, rappelez-moi"),
        rating("REQ-B", "T-B", 5, at, survey_id=survey_id_for(NORD, "REQ-B")),
        rating("REQ-C", "T-C", 2, at),  # an office rating without a survey: a detractor
        rating("REQ-C", "T-C", 4, at),  # twice in the run: the first wins
        rating("REQ-D", "T-D", 5, at, comment="parfait"),
        event("tenant.contact_updated", "T-E", at, tenant_ref="T-E"),
        rating("REQ-A", "T-A", 5, at),  # in another run of the batch: the first still wins
        rating("REQ-E", "T-E", 1, T0 - timedelta(days=5)),  # older than the horizon: a historical alert
        # a rating before its repair: answers the request (its survey does not exist yet)
        rating("REQ-F", "T-F", 3, at),
        *repair("REQ-F", "T-F"),
    ]
    for world, run in ((bulk, apply), (single, one_by_one)):
        await run(world.deps, before)
        assert await answers.record_answer(world.deps, page, publish=True, at=at)
        await run(world.deps, batch)
    assert await contents(bulk.db) == await contents(single.db)
    assert counted(bulk.registry) == counted(single.registry)
    assert published(bulk.publisher) == published(single.publisher)

    stored = await contents(bulk.db)
    assert sorted(a["_id"] for a in stored["answers"]) == [
        f"request|{NORD}|REQ-C",
        f"request|{NORD}|REQ-D",
        f"request|{NORD}|REQ-E",
        f"request|{NORD}|REQ-F",
        f"survey|{survey_id_for(NORD, 'REQ-A')}",
        f"survey|{survey_id_for(NORD, 'REQ-B')}",
    ]
    assert {a["_id"]: a["score"] for a in stored["answers"]}[f"request|{NORD}|REQ-C"] == 2
    assert {a["_id"]: a["score"] for a in stored["answers"]}[f"survey|{survey_id_for(NORD, 'REQ-B')}"] == 2
    assert {s["_id"]: s["answered"] for s in stored["surveys"]} == {
        survey_id_for(NORD, "REQ-A"): True,
        survey_id_for(NORD, "REQ-B"): True,
        survey_id_for(NORD, "REQ-F"): False,
    }
    assert len(stored["alerts"]) == 4  # A, the page's B, C, E (historical)
    assert sorted(v["request_id"] for v in stored["voice"]) == ["REQ-A", "REQ-B", "REQ-D"]

    # the batch again (a redelivery): nothing changes, nothing is counted or published again
    again = [e for e in batch if e.subject != "REQ-F" or e.type != full_type("satisfaction.rated")]
    marks = [(len(w.publisher.published), counted(w.registry), await contents(w.db)) for w in (bulk, single)]
    await apply(bulk.deps, again)
    await one_by_one(single.deps, again)
    assert [(len(w.publisher.published), counted(w.registry), await contents(w.db)) for w in (bulk, single)] == marks
    # with the rating read before its survey existed: that rating now finds the survey, and is
    # still the answer stored under its request (not a second answer under the survey's key)
    await apply(bulk.deps, batch)
    await one_by_one(single.deps, batch)
    assert [(len(w.publisher.published), counted(w.registry), await contents(w.db)) for w in (bulk, single)] == marks


async def test_a_batch_re_applied_after_a_crash_completes_the_survey_the_words_and_the_alert(
    worlds: tuple[World, World],
) -> None:
    world, _ = worlds
    await apply(world.deps, repair("REQ-A", "T-A"))
    sid = survey_id_for(NORD, "REQ-A")
    at = T0 + timedelta(hours=1, minutes=30)
    rated = rating("REQ-A", "T-A", 1, at, survey_id=sid, comment="toujours en panne")
    # a crash right after the answer's insert: no survey mark, no words, no alert, nothing counted
    # or published
    stored = Answer(NORD, "T-A", 1, "phone", survey_id=sid, request_id="REQ-A", comment="toujours en panne")
    assert await world.deps.store.add_answer(f"survey|{sid}", stored, at)
    await apply(world.deps, [rated])
    survey = await world.deps.store.survey(sid)
    assert survey is not None and survey.answered and not survey.pending_reminder
    [words] = (await contents(world.db))["voice"]
    assert (words["survey_id"], words["text"], words["at"]) == (sid, "toujours en panne", at)
    [alert] = await world.deps.store.alerts(NORD, open_only=True)
    assert alert.survey_id == sid and alert.created_at == at
    assert [e.type for e in world.publisher.published if e.type != full_type("survey.requested")] == [
        full_type("feedback.detractor_alert")
    ]
    metrics = counted(world.registry)
    raised = (
        "canopee_feedback_detractor_alerts_total",
        (("office", NORD), ("origin", "rating"), ("outcome", "raised")),
    )
    assert metrics[raised] == 1
    assert metrics[("canopee_feedback_voice_entries_total", (("kind", "survey"), ("office", NORD)))] == 1
    assert not any(name == "canopee_feedback_answers_total" for name, _ in metrics)  # not counted again
    # once more: nothing more
    before = (len(world.publisher.published), metrics, await contents(world.db))
    await apply(world.deps, [rated])
    assert (len(world.publisher.published), counted(world.registry), await contents(world.db)) == before
    # the tenant erased, then the batch again: nothing of the tenant comes back
    await world.deps.store.erase_tenant(NORD, "T-A")
    erased = (len(world.publisher.published), counted(world.registry), await contents(world.db))
    assert erased[2]["voice"] == []
    await apply(world.deps, [rated])
    assert (len(world.publisher.published), counted(world.registry), await contents(world.db)) == erased


def answered(sid: str, tenant: str, axes: dict[str, int], at: datetime, **data: Any) -> CloudEvent:
    fields: dict[str, Any] = {"campaign_id": "CMP-1", "survey_id": sid, "tenant_ref": tenant, "axes": axes}
    fields |= {"nps": None, "comment": None, "channel": "paper"} | data
    return event("campaign.answered", sid, at, **fields)


def campaign_survey(sid: str, tenant: str) -> Survey:
    return Survey(sid, NORD, tenant, T0, T0 + timedelta(days=30), campaign_id="CMP-1", invited=True)


async def test_campaign_answers_in_bulk_as_event_by_event_and_completed_after_a_crash(
    worlds: tuple[World, World],
) -> None:
    bulk, single = worlds
    at = T0 + timedelta(hours=1)
    page = CampaignAnswer(NORD, "T-2", "CMP-1", "SRC-2", {"keys": 1}, comment="bof")
    crashed = CampaignAnswer(NORD, "T-5", "CMP-1", "SRC-5", {"team": 2}, channel="paper", comment="toujours rien")
    batch = [
        answered("SRC-1", "T-1", {"keys": 2, "team": 5}, at, comment="pas de nouvelles depuis"),
        answered("SRC-2", "T-2", {"keys": 5}, at),  # answered on our page before the batch
        answered("SRC-3", "T-3", {"mission": 4}, at),
        answered("SRC-1", "T-1", {"keys": 5}, at),  # twice in the run: the first wins
        rating("REQ-X", "T-9", 4, at),
        answered("SRC-3", "T-3", {"mission": 1}, at),  # in another run: the first still wins
        answered("SRC-4", "T-4", {"posture": 1}, T0 - timedelta(days=5)),  # historical alert
        answered("SRC-5", "T-5", {"team": 2}, at, comment="toujours rien"),
    ]
    for world, run in ((bulk, apply), (single, one_by_one)):
        await world.deps.store.add_surveys([campaign_survey(f"SRC-{k}", f"T-{k}") for k in range(1, 6)])
        assert await answers.record_campaign_answer(world.deps, page, publish=True, at=at)
        await run(world.deps, batch)
    assert await contents(bulk.db) == await contents(single.db)
    assert counted(bulk.registry) == counted(single.registry)
    assert published(bulk.publisher) == published(single.publisher)
    stored = await contents(bulk.db)
    assert {a["_id"]: a.get("axes") for a in stored["answers"]} == {
        "survey|SRC-1": {"keys": 2, "team": 5},
        "survey|SRC-2": {"keys": 1},
        "survey|SRC-3": {"mission": 4},
        "survey|SRC-4": {"posture": 1},
        "survey|SRC-5": {"team": 2},
        f"request|{NORD}|REQ-X": None,
    }
    assert all(s["answered"] for s in stored["surveys"])
    assert len(stored["alerts"]) == 4 and len(stored["voice"]) == 3

    # a redelivery changes nothing
    marks = (len(bulk.publisher.published), counted(bulk.registry), stored)
    await apply(bulk.deps, batch)
    assert (len(bulk.publisher.published), counted(bulk.registry), await contents(bulk.db)) == marks

    # a crash after the insert of SRC-6's answer: the batch again completes the rest, once
    await single.deps.store.add_surveys([campaign_survey("SRC-6", "T-6")])
    assert await single.deps.store.add_campaign_answer("survey|SRC-6", replace(crashed, survey_id="SRC-6"), at)
    late = answered("SRC-6", "T-6", {"team": 2}, at, comment="toujours rien")
    alerts_before = len(await single.deps.store.alerts(NORD, open_only=False))
    await apply(single.deps, [late])
    survey = await single.deps.store.survey("SRC-6")
    assert survey is not None and survey.answered
    assert len(await single.deps.store.alerts(NORD, open_only=False)) == alerts_before + 1
    assert [v for v in (await contents(single.db))["voice"] if v["survey_id"] == "SRC-6"] != []
    after = (len(single.publisher.published), counted(single.registry), await contents(single.db))
    await apply(single.deps, [late])
    assert (len(single.publisher.published), counted(single.registry), await contents(single.db)) == after
