"""``make down && make up`` keeps the data; ``make reset`` empties it: ``deploy/local/infra.sh`` on
free ports with a private data folder (never the user's ``.local/data``), driven as the Makefile
does (``up``, ``down``, ``reset``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from shared.producer import KafkaProducer, Record
from shared.store import make_client
from tests.support.faults import PrivateInfra
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateInfra]:
    infra = PrivateInfra(tmp_path_factory.mktemp("infra-data"))
    try:
        yield infra
    finally:
        await infra.reset()


async def _topics(infra: PrivateInfra) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka, client_id="canopee-tests")
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_data_survives_down_and_up_and_reset_empties_it(infra: PrivateInfra) -> None:
    first = await infra.up()
    assert "data formatted" in first
    tag = uuid.uuid4().hex[:8]
    topic = f"keep-{tag}"
    producer = KafkaProducer(infra.kafka, timeout=30.0, client_id="canopee-tests")
    try:
        await producer.send([Record(topic, b"REQ-1", f"request {n}".encode()) for n in range(3)])
    finally:
        await producer.close()
    client = make_client(infra.mongo)
    await client["canopee_ticketing"]["requests"].insert_one({"_id": f"REQ-{tag}", "status": "open"})
    await client.close()

    await infra.down()  # make down
    again = await infra.up()  # make up: on yesterday's data
    assert "data kept from the last run" in again and "data formatted" not in again
    client = make_client(infra.mongo)
    try:
        assert await client["canopee_ticketing"]["requests"].find_one({"_id": f"REQ-{tag}"}) is not None
    finally:
        await client.close()
    records = await read_topic(infra.kafka, topic, expect=3, timeout=60)
    assert sorted(r.value for r in records) == [b"request 0", b"request 1", b"request 2"]

    said = await infra.reset()  # make reset: says what it deletes
    assert "data deleted" in said
    fresh = await infra.up()
    assert "data formatted" in fresh
    client = make_client(infra.mongo)
    try:
        assert await client["canopee_ticketing"]["requests"].find_one({"_id": f"REQ-{tag}"}) is None
    finally:
        await client.close()
    assert topic not in await _topics(infra)
