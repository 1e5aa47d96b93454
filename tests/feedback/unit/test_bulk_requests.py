"""A consumed batch's request events in bulk (``handlers.apply`` → ``surveys.on_request_events``) on
the in-memory twins: the same requests, surveys, claims, outbox, published events and metrics as
the same batch applied event by event (``HANDLERS``), whatever the order of openings, repairs and
closings, with duplicates, two requests of one tenant, a request ended before the history horizon,
a request without tenant, a tenant that may not be surveyed, surveys made before the batch; and a
redelivery of the batch changes nothing."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.feedback.domain import RequestNote, Survey, TenantContact, survey_id_for
from services.feedback.handlers import HANDLERS, apply
from services.feedback.ports import Deps
from shared.events import CloudEvent, full_type, short_type
from tests.feedback.support import event
from tests.feedback.unit.test_use_cases import World as UseCaseWorld

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NORD = "demo-nord"
OLD = T0 - timedelta(days=5)


class World(UseCaseWorld):
    """The use cases' world, its whole state compared between the bulk and the one-by-one runs."""

    def state(self) -> tuple[Any, ...]:
        """Everything stored and published (a link's token is random: links are counted per survey,
        a survey's invitation compared without its data)."""
        s = self.store
        links = sorted(link.survey_id for link in s.links.values())
        outbox = sorted((i, at, e is None) for i, (e, at) in self.outbox.events.items())
        published = sorted(
            (e.id, e.type, "" if e.type == full_type("survey.requested") else e.model_dump_json())
            for e in self.publisher.published
        )
        metrics = {
            (m.name, tuple(sorted(m.labels.items()))): m.value
            for metric in self.registry.collect()
            for m in metric.samples
            if not m.name.endswith("_created")
        }
        return (
            dict(s.requests),
            dict(s.request_info),
            dict(s.surveys),
            dict(s.cap_claims),
            links,
            outbox,
            published,
            metrics,
        )


async def one_by_one(deps: Deps, events: Sequence[CloudEvent]) -> None:
    for e in events:
        await HANDLERS[short_type(e.type)](deps, e)


def opened(rid: str, tenant: str, at: datetime = T0, category: str = "repair") -> CloudEvent:
    return event("request.opened", rid, at, request_id=rid, tenant_ref=tenant, category=category)


def done(rid: str, at: datetime = T0 + timedelta(hours=1)) -> CloudEvent:
    return event("repair.done", rid, at, request_id=rid)


def closed(rid: str, resolution: str = "resolved", at: datetime = T0 + timedelta(hours=1, minutes=30)) -> CloudEvent:
    return event("request.closed", rid, at, request_id=rid, resolution=resolution)


async def prepare(deps: Deps) -> None:
    """Before the batch: a tenant without any channel; a survey of T-4 two days ago (capped in the
    batch); REQ-S surveyed already (the batch redelivers its events); REQ-P opened only."""
    await deps.store.set_contact(NORD, "T-NONE", TenantContact(preferred_none=True, has_phone=True, has_email=False))
    earlier = T0 - timedelta(days=2)
    week = Survey("SRV-EARLIER", NORD, "T-4", earlier, earlier + timedelta(days=14), request_id="REQ-0")
    assert await deps.store.create_survey(week, 1) is not None
    await apply(deps, [opened("REQ-S", "T-S"), done("REQ-S")])
    await apply(deps, [opened("REQ-P", "T-P", category="common_areas")])


def shuffled(seed: int) -> list[CloudEvent]:
    """The batch shuffled, with duplicates, and a tenant event in the middle (two runs)."""
    rng = random.Random(seed)
    events = batch()
    events += rng.sample(events, 6)  # duplicates (a redelivered part)
    rng.shuffle(events)
    events.insert(len(events) // 2, event("tenant.consent_changed", "T-X", T0, tenant_ref="T-X", channel="sms"))
    return events


def batch() -> list[CloudEvent]:
    return [
        # two requests of T-1, both complete in the batch: one survey, the other capped
        opened("REQ-1", "T-1"),
        done("REQ-1"),
        closed("REQ-1"),
        opened("REQ-2", "T-1"),
        closed("REQ-2"),
        # ended before the history horizon: recorded, counted once as history
        opened("REQ-H", "T-H", OLD),
        done("REQ-H", OLD + timedelta(hours=1)),
        # no tenant known (never opened): noted, no survey
        done("REQ-NT"),
        closed("REQ-NT", "withdrawn"),
        # a tenant with no channel: counted as no consent
        opened("REQ-N", "T-NONE"),
        done("REQ-N"),
        # capped by a survey made before the batch
        opened("REQ-4", "T-4"),
        done("REQ-4"),
        # closed without resolution after its repair: the survey comes from the repair
        opened("REQ-W", "T-W"),
        closed("REQ-W", "duplicate"),
        done("REQ-W"),
        # surveyed before the batch: its events again
        opened("REQ-S", "T-S"),
        done("REQ-S"),
        # opened before the batch, resolved now
        closed("REQ-P"),
        # closed as resolved only: surveyed
        opened("REQ-C", "T-C", category="heating_hot_water"),
        closed("REQ-C"),
    ]


@pytest.mark.parametrize("seed", range(12))
async def test_a_shuffled_batch_in_bulk_stores_publishes_and_counts_as_one_by_one(seed: int) -> None:
    events = shuffled(seed)
    bulk, single = World(), World()
    for world in (bulk, single):
        await prepare(world.deps)
    await apply(bulk.deps, events)
    await one_by_one(single.deps, events)
    assert bulk.state() == single.state()

    sent = {e.data.request_id for e in bulk.publisher.published if e.type == full_type("survey.requested")}  # type: ignore[attr-defined]
    assert sent == {"REQ-S", "REQ-W", "REQ-P", "REQ-C", "REQ-1"} or sent == {
        "REQ-S",
        "REQ-W",
        "REQ-P",
        "REQ-C",
        "REQ-2",
    }
    assert len([s for s in bulk.store.surveys.values() if s.tenant_ref == "T-1"]) == 1
    assert bulk.store.request_info[NORD, "REQ-NT"] == (None, True)
    assert bulk.store.request_info[NORD, "REQ-C"] == ("heating_hot_water", True)
    assert bulk.store.requests[NORD, "REQ-H"][0].ended_at == OLD + timedelta(hours=1)

    # the whole batch again (a redelivery after a crash): nothing changes, nothing goes out again
    mark = bulk.state()
    await apply(bulk.deps, events)
    assert bulk.state() == mark


async def test_a_run_of_request_events_is_noted_in_one_write_and_surveyed_in_a_few() -> None:
    world = World()
    calls: list[str] = []
    store = world.store
    for name in ("note_requests", "surveys_of", "tenant_states", "last_surveys_at", "create_surveys", "survey_context"):
        real = getattr(store, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            if _name == "create_surveys":
                planned.extend(survey.request_id for survey, _ in args[0])
            return _real(*args, **kwargs)

        setattr(store, name, spy)
    planned: list[str | None] = []
    events = [e for k in range(20) for e in (opened(f"REQ-{k}", f"T-{k}"), done(f"REQ-{k}"))]
    # a second request of T-0 in the run: capped by the first one's survey, never claimed
    events += [opened("REQ-20", "T-0"), done("REQ-20")]
    await apply(world.deps, events)
    assert calls == ["note_requests", "surveys_of", "tenant_states", "last_surveys_at", "create_surveys"]
    assert planned == [f"REQ-{k}" for k in range(20)]
    assert len(world.store.surveys) == 20 and len(world.publisher.published) == 20
    assert world.deps.metrics.surveys.labels(NORD, "capped")._value.get() == 1


async def test_a_survey_lost_to_a_racing_instance_is_counted_capped_and_not_sent() -> None:
    world = World()
    # another instance claimed T-1's week for another request between our reads and our claims
    rival = Survey("SRV-RIVAL", NORD, "T-1", T0, T0 + timedelta(days=14), request_id="REQ-R")
    real = world.store.create_surveys

    async def racing(planned: Sequence[tuple[Survey, int]]) -> dict[str, tuple[Survey, bool] | None]:
        for survey, week in planned:
            world.store.cap_claims.setdefault((survey.office, survey.tenant_ref, week), rival.id)
        return await real(planned)

    world.store.create_surveys = racing  # type: ignore[method-assign]
    await apply(world.deps, [opened("REQ-1", "T-1"), done("REQ-1"), opened("REQ-2", "T-2"), done("REQ-2")])
    assert set(world.store.surveys) == set()
    assert world.deps.metrics.surveys.labels(NORD, "capped")._value.get() == 2
    assert world.publisher.published == []
    # the notes are stored all the same
    assert (await world.store.note_requests([(NORD, "REQ-1", RequestNote())]))[0][0].wants_survey
    assert survey_id_for(NORD, "REQ-1") not in world.store.surveys
