"""The simulator: deterministic for a seed, valid events, plausible proportions."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.events import parse_event
from tools.cli import main
from tools.simulator import SimulatorConfig, generate

START = datetime.fromisoformat("2026-11-02T00:00:00+01:00")
OFFICES = ("demo-nord", "demo-sud", "demo-est", "demo-ouest")


def events(seed: int, n: int) -> list[dict[str, Any]]:
    return list(itertools.islice(generate(SimulatorConfig(seed=seed, offices=OFFICES, start=START)), n))


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert events(7, 1500) == events(7, 1500)
    assert events(7, 300) != events(8, 300)


def test_every_event_is_valid_and_an_office_event() -> None:
    for event in events(11, 3000):
        parsed = parse_event(json.dumps(event))
        assert parsed.office_source and parsed.officeid in OFFICES


def test_traffic_looks_like_a_network_of_offices() -> None:
    sample = events(5, 6000)
    types = Counter(e["type"].split(".", 2)[2].removesuffix(".v1") for e in sample)
    for kind in (
        "request.opened",
        "request.assigned",
        "appointment.scheduled",
        "appointment.missed",
        "request.on_hold",
        "request.resumed",
        "repair.done",
        "request.closed",
        "request.reopened",
        "satisfaction.rated",
        "tenant.contact_updated",
        "tenant.consent_changed",
    ):
        assert types[kind] > 0, kind
    opened = [e["data"] for e in sample if e["type"].endswith("request.opened.v1")]
    categories = Counter(d["category"] for d in opened)
    assert categories.most_common(1)[0][0] == "repair"
    urgencies = Counter(d.get("urgency") for d in opened)
    assert urgencies["U3"] > urgencies["U2"] > urgencies["U1"] > 0
    scores = Counter(e["data"]["score"] for e in sample if e["type"].endswith("satisfaction.rated.v1"))
    assert scores[5] + scores[4] > 2 * (scores[1] + scores[2] + scores[3])  # skewed like real surveys
    phones = [e["data"]["phone"] for e in sample if "phone" in e["data"]]
    assert phones and all(p.startswith(("+336", "+337")) for p in phones)
    emails = [e["data"]["email"] for e in sample if "email" in e["data"]]
    assert emails and all(m.endswith("@example.org") for m in emails)
    times = [datetime.fromisoformat(e["time"]) for e in sample]
    assert times[-1] > times[0]


def test_dry_run_writes_identical_files_for_the_same_seed(tmp_path: Path) -> None:
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        argv = ["simulate", "--seed", str(seed), "--count", "400", "--start", START.isoformat()]
        assert main([*argv, "--dry-run", "--out", str(path), "--quiet"]) == 0
    a, b, c = (p.read_text(encoding="utf-8") for p in paths)
    assert a == b != c
    assert len(a.splitlines()) == 400


def test_days_limit_stops_in_simulated_time(tmp_path: Path) -> None:
    out = tmp_path / "day.jsonl"
    argv = ["simulate", "--days", "1", "--start", START.isoformat(), "--dry-run", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    times = [datetime.fromisoformat(json.loads(line)["time"]) for line in out.read_text().splitlines()]
    assert times and max(times) <= datetime.fromisoformat("2026-11-03T00:00:00+01:00")
