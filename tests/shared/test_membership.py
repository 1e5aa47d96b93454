"""Static group membership (``CANOPEE_KAFKA_GROUP_INSTANCE_ID``) on the real broker: a named
instance that stops keeps its place (and its partitions) in the group for the session timeout, so a
rolling restart moves no partition; an unnamed one leaves the group at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.bus import make_broker, membership
from shared.events import CloudEvent, Topics
from shared.runtime import Runtime
from shared.settings import ConfigError, ServiceSettings, load_settings
from tests.support.cluster import assignments

pytestmark = pytest.mark.integration


class MemberSettings(ServiceSettings):
    service = "membertest"
    default_port = 0


async def _noop(events: Sequence[CloudEvent]) -> None:
    return None


async def _members(admin: AIOKafkaAdminClient, group: str, want: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state, owned = "", {}
    while time.monotonic() < deadline:
        state, owned = await assignments(admin, group)
        if state == "Stable" and len(owned) == want and all(owned.values()):
            return owned
        await asyncio.sleep(0.3)
    raise AssertionError(f"{group}: {state}, {len(owned)} members (wanted {want})")


async def _run_once(settings: MemberSettings) -> None:
    rt = Runtime.create(settings)
    rt.consume("requests", [Topics.OFFICE_REQUESTS], _noop)
    await rt.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            await _members(admin, settings.group, 1)
        finally:
            await admin.close()
    finally:
        await rt.stop()


async def test_a_named_instance_keeps_its_place_across_a_restart(make_settings: Any, topics: str) -> None:
    settings = make_settings(MemberSettings, kafka_group_instance_id="pod-1", kafka_session_timeout_seconds=60)
    await _run_once(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        # stopped, yet still the group's member with its partitions: nothing was rebalanced
        state, owned = await assignments(admin, settings.group)
        assert state == "Stable" and len(owned) == 1 and next(iter(owned.values())), (state, owned)
        await _run_once(settings)  # the same name comes back in its own place
        state, owned = await assignments(admin, settings.group)
        assert len(owned) == 1, (state, owned)
    finally:
        await admin.close()


async def test_an_unnamed_instance_leaves_the_group_when_it_stops(make_settings: Any, topics: str) -> None:
    settings = make_settings(MemberSettings)
    await _run_once(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        state, owned = await assignments(admin, settings.group)
        assert state == "Empty" and not owned, (state, owned)
    finally:
        await admin.close()


def test_membership_arguments_and_a_bad_name_stops_the_start() -> None:
    named = load_settings(MemberSettings, topic_prefix="x.", kafka_group_instance_id="pod-2")
    assert membership(named) == {
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_333,
        "group_instance_id": "x.membertest-pod-2",
    }
    assert "group_instance_id" not in membership(load_settings(MemberSettings))
    with pytest.raises(ConfigError, match="CANOPEE_KAFKA_GROUP_INSTANCE_ID"):
        load_settings(MemberSettings, kafka_group_instance_id="pod 1/a")
    with pytest.raises(ConfigError, match="CANOPEE_KAFKA_SESSION_TIMEOUT_SECONDS"):
        load_settings(MemberSettings, kafka_session_timeout_seconds=1)


def test_every_bootstrap_server_reaches_the_services_broker() -> None:
    """FastStream passes a string to aiokafka as one server: the list is split first."""
    broker = make_broker(load_settings(MemberSettings, kafka_bootstrap="h1:9092, h2:9192,h3:9292"))
    assert broker._connection_kwargs["bootstrap_servers"] == ["h1:9092", "h2:9192", "h3:9292"]
