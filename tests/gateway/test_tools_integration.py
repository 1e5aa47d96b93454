"""The command-line tools against the real Kafka: import, simulate (direct and through the gateway), dlq."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.bus import DLQ_ERROR, DLQ_GROUP, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC
from shared.events import parse_event
from tests.support.http import running
from tests.support.kafka import produce, read_topic
from tests.support.samples import dumps, sample
from tools.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAPPING = str(ROOT / "deploy" / "import" / "mapping.example.toml")
CSV = str(ROOT / "deploy" / "import" / "demandes.example.csv")
START = "2026-11-02T00:00:00+01:00"
TOPICS = ("office.requests", "office.tenants", "feedback.ratings")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, infra: dict[str, str], topics: str) -> str:
    monkeypatch.setenv("CANOPEE_KAFKA_BOOTSTRAP", infra["kafka"])
    monkeypatch.setenv("CANOPEE_TOPIC_PREFIX", topics)
    return topics


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_import_good_rows_and_reimport_gives_the_same_ids(
    env: str, infra: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("import", CSV, "--office", "demo-nord", "--mapping", MAPPING) == 1  # 3 bad rows
    out, err = capsys.readouterr()
    assert "14 rows: 11 imported, 3 bad rows" in out
    assert "line 11:" in err and "line 12:" in err and "line 15:" in err
    first = await read_topic(infra["kafka"], f"{env}office.requests", expect=11, settle=0.5)
    assert await cli("import", CSV, "--office", "demo-nord", "--mapping", MAPPING) == 1
    both = await read_topic(infra["kafka"], f"{env}office.requests", expect=22, settle=0.5)
    ids_first = sorted(json.loads(r.value)["id"] for r in first)
    ids_both = sorted(json.loads(r.value)["id"] for r in both)
    assert len(ids_first) == 11 and ids_both == sorted(ids_first * 2)


async def test_import_dry_run_sends_nothing(
    env: str, infra: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("import", CSV, "--office", "demo-sud", "--mapping", MAPPING, "--dry-run") == 1
    assert "11 valid (dry run, nothing sent)" in capsys.readouterr().out
    assert await read_topic(infra["kafka"], f"{env}office.requests", timeout=1.0) == []


async def test_import_through_the_gateway(
    env: str, infra: dict[str, str], make_settings: Callable[..., GatewaySettings]
) -> None:
    settings = make_settings(GatewaySettings)
    async with running(create_app(settings), settings.http_port) as url:
        code = await cli(
            "import", CSV, "--office", "demo-est", "--mapping", MAPPING, "--via", "gateway", "--gateway-url", url
        )
    assert code == 1
    records = await read_topic(infra["kafka"], f"{env}office.requests", expect=11, settle=0.5)
    assert len(records) == 11
    assert {json.loads(r.value)["officeid"] for r in records} == {"demo-est"}


async def test_simulate_through_the_gateway_sends_what_dry_run_writes(
    env: str, infra: dict[str, str], make_settings: Callable[..., GatewaySettings], tmp_path: Path
) -> None:
    out = tmp_path / "sim.jsonl"
    common = ["simulate", "--seed", "9", "--count", "300", "--start", START, "--quiet"]
    assert await cli(*common, "--dry-run", "--out", str(out)) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    expected = sorted(e["id"] for e in written)
    per_topic = {t: sum(1 for e in written if parse_event(json.dumps(e)).topic == t) for t in TOPICS}
    settings = make_settings(GatewaySettings)
    async with running(create_app(settings), settings.http_port) as url:
        assert await cli(*common, "--via", "gateway", "--gateway-url", url) == 0
    got: list[str] = []
    for topic, count in per_topic.items():
        records = await read_topic(infra["kafka"], f"{env}{topic}", expect=count, timeout=10.0)
        got.extend(json.loads(r.value)["id"] for r in records)
    assert sorted(got) == expected


async def test_simulate_paces_in_simulated_time(env: str, infra: dict[str, str]) -> None:
    # one simulated hour at 3600x: about a wall second; events still carry simulated times
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (
        await cli("simulate", "--seed", "2", "--days", str(1 / 24), "--speed", "3600", "--start", START, "--quiet") == 0
    )
    assert 0.5 < loop.time() - started < 8


async def test_dlq_list_show_and_replay(env: str, infra: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    event = sample("request.opened")
    original = f"{env}office.requests"
    headers = [
        (DLQ_TOPIC, original.encode()),
        (DLQ_PARTITION, b"0"),
        (DLQ_OFFSET, b"41"),
        (DLQ_ERROR, b"Rejected"),
        (DLQ_REASON, b"data.category: unknown"),
        (DLQ_GROUP, f"{env}ticketing".encode()),
        ("content-type", b"application/cloudevents+json"),
    ]
    dlq = f"dlq.{env}ticketing"
    await produce(infra["kafka"], dlq, [(b"k1", dumps(event).encode(), headers), (b"k2", b"{broken", headers)])
    assert await cli("dlq", "list", "--group", "ticketing", "--timeout", "5") == 0
    listing = capsys.readouterr().out
    assert "ticketing\t2 dead letter(s)" in listing and "2\tRejected: data.category: unknown" in listing
    letters = await read_topic(infra["kafka"], dlq, expect=2)
    target = next(r for r in letters if r.key == b"k1")
    assert (
        await cli("dlq", "show", "ticketing", "--offset", str(target.offset), "--partition", str(target.partition)) == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["value"]["id"] == event["id"] and shown["reason"] == "data.category: unknown"
    assert (
        await cli("dlq", "replay", "ticketing", "--offset", str(target.offset), "--partition", str(target.partition))
        == 0
    )
    replayed = await read_topic(infra["kafka"], original, expect=1, settle=0.5)
    assert [r.value for r in replayed] == [dumps(event).encode()]
    assert replayed[0].key == b"k1"
    assert ("dlq-replayed-from", f"{dlq}:{target.partition}:{target.offset}".encode()) in list(replayed[0].headers)
    assert await cli("dlq", "replay", "ticketing", "--timeout", "5") == 1  # nothing selected
