"""Fixtures shared by the whole suite.

Integration tests run against the real Kafka broker and MongoDB-wire store started by
``make infra-up`` (``CANOPEE_KAFKA_BOOTSTRAP`` / ``CANOPEE_MONGO_URL``). Each test gets its own
topic prefix and database names, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from shared.settings import CommonSettings, load_settings
from tests.support import kafka as kafka_support

KAFKA = os.environ.get("CANOPEE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MONGO = os.environ.get("CANOPEE_MONGO_URL", "mongodb://127.0.0.1:27017")
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"

S = TypeVar("S", bound=CommonSettings)


def _reachable(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """The real infrastructure; fails (never skips) when it is not running."""
    mongo_hostport = MONGO.removeprefix("mongodb://").split("/")[0]
    missing = [name for name, hp in (("Kafka", KAFKA), ("MongoDB-wire store", mongo_hostport)) if not _reachable(hp)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: start them with `make infra-up`")
    return {"kafka": KAFKA, "mongo": MONGO}


@pytest.fixture
def prefix() -> str:
    """A topic/group prefix unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def make_settings(infra: dict[str, str], prefix: str) -> Callable[..., Any]:
    """Build a service's settings for this test: real infra, own topics, own database."""

    def build(cls: type[S], **overrides: Any) -> S:
        base: dict[str, Any] = {
            "kafka_bootstrap": infra["kafka"],
            "mongo_url": infra["mongo"],
            "topic_prefix": prefix,
            "admin_token": ADMIN_TOKEN,
            "retry_base_seconds": 0.05,
        }
        if "mongo_db" in cls.model_fields:
            base["mongo_db"] = f"{prefix.rstrip('.')}_{cls.service or 'x'}"
        if "port" in cls.model_fields:
            base["port"] = free_port()
        base.update(overrides)
        return load_settings(cls, **base)

    return build


@pytest_asyncio.fixture
async def topics(infra: dict[str, str], prefix: str) -> AsyncIterator[str]:
    """Create every contract topic (3 partitions) and DLQ topic under this test's prefix."""
    await kafka_support.create_all_topics(infra["kafka"], prefix, partitions=3)
    yield prefix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # integration and e2e tests need the real infrastructure fixture
    for item in items:
        if item.get_closest_marker("integration") or item.get_closest_marker("e2e"):
            fixturenames = getattr(item, "fixturenames", [])
            if "infra" not in fixturenames:
                fixturenames.insert(0, "infra")


__all__ = ["ADMIN_TOKEN", "asyncio", "free_port"]
