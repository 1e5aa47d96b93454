"""A consumed batch's request events in bulk (``handlers.apply`` → ``surveys.on_request_events``) on
the real MongoDB-wire store and outbox: the same documents (requests with their category and
closing, surveys, claims, outbox), metrics and events as the same batch applied event by event,
shuffled, with duplicates; a redelivery changes nothing. (The twins: tests/feedback/unit/test_bulk_requests.py.)"""

from __future__ import annotations

import pytest

from services.feedback.handlers import apply
from tests.feedback.test_bulk_ratings import World, contents, counted, one_by_one, published, worlds
from tests.feedback.unit.test_bulk_requests import prepare, shuffled

pytestmark = pytest.mark.integration

__all__ = ["worlds"]  # the fixture


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_request_events_in_bulk_write_and_publish_what_they_would_event_by_event(
    worlds: tuple[World, World], seed: int
) -> None:
    bulk, single = worlds
    events = shuffled(seed)
    for world, run in ((bulk, apply), (single, one_by_one)):
        await prepare(world.deps)
        await run(world.deps, events)
    stored = await contents(bulk.db)
    assert stored == await contents(single.db)
    assert counted(bulk.registry) == counted(single.registry)
    assert published(bulk.publisher) == published(single.publisher)
    requests = {d["_id"]: d for d in stored["requests"]}
    assert requests["demo-nord|REQ-C"]["closed"] and requests["demo-nord|REQ-C"]["category"] == "heating_hot_water"
    assert requests["demo-nord|REQ-NT"]["closed"] and "tenant_ref" not in requests["demo-nord|REQ-NT"]
    assert len([s for s in stored["surveys"] if s["tenant_ref"] == "T-1"]) == 1
    # the batch again (a redelivery): nothing changes, nothing is counted or published again
    mark = (len(bulk.publisher.published), counted(bulk.registry), stored)
    await apply(bulk.deps, events)
    assert (len(bulk.publisher.published), counted(bulk.registry), await contents(bulk.db)) == mark
