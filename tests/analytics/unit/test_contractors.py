"""Contractor indicators on a generated history delivered shuffled and partly duplicated: every
figure equals what the generation plan says (computed in tests/support/contractor_dataset.py,
not by the service's code); the ranking needs the minimum count; the CSV carries the same."""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from typing import Any

import pytest

from services.analytics.export import contractors_csv
from services.analytics.handlers import Analytics, refresh
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from tests.support.contractor_dataset import check, expected, generate

OFFICES = load_offices(DEMO_OFFICES_FILE)
IDS = tuple(OFFICES.ids[:2])
MONTH = (date(2026, 3, 1), date(2026, 3, 31))


async def ingest(seed: int) -> tuple[Analytics, Any]:
    history = generate(IDS, MONTH[0], per_office=140, seed=11)
    events = history.cloud_events()
    rnd = random.Random(seed)
    delivered = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(delivered)
    svc = Analytics(OFFICES, MemoryAnalyticsStore(), contractor_min_repairs=8)
    for i in range(0, len(delivered), 97):
        await svc.apply(delivered[i : i + 97])
    return svc, history


async def test_contractor_indicators_equal_the_plan_under_shuffled_duplicated_delivery() -> None:
    svc, history = await ingest(seed=1)
    result = await svc.contractors.contractors(list(IDS), *MONTH)
    for office in IDS:
        check(result["offices"][office], expected(history, *MONTH, office))
    check(result["network"], expected(history, *MONTH, None))
    exp = expected(history, *MONTH, None)
    assert sum(e["repeats"] for e in exp.values()) > 0  # the history does exercise repeats
    assert any(e["missed"] for e in exp.values())
    # another delivery order gives the same document
    other, _ = await ingest(seed=2)
    assert await other.contractors.contractors(list(IDS), *MONTH) == result


@pytest.mark.parametrize("budget", [refresh.ROLLUP_FACTS, 5])
async def test_rollups_give_the_document_of_the_facts_for_any_range(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # budget 5: a chunk's days are computed in small groups, and a survey rated on one day about
    # a request of another group's day reads that request itself
    monkeypatch.setattr(refresh, "ROLLUP_FACTS", budget)
    svc, _ = await ingest(seed=4)
    ranges = [MONTH, (date(2026, 3, 2), date(2026, 3, 12)), (date(2026, 2, 20), date(2026, 4, 15))]
    for start, end in ranges:
        for offices in (list(IDS), [IDS[1]]):
            from_rollups = await svc.contractors.contractors(offices, start, end)
            assert from_rollups == await svc.contractors.scan_facts(offices, start, end), (start, end, offices)
    # the month's figures read rollups only: no fact is read once they are fresh
    await svc.contractors.contractors(list(IDS), *MONTH)
    reads: list[int] = []
    store = svc.contractors.store
    original = store.facts_by_key

    async def counted(keys):  # type: ignore[no-untyped-def]
        found = await original(keys)
        reads.append(len(found))
        return found

    store.facts_by_key = counted  # type: ignore[method-assign]
    await svc.contractors.contractors(list(IDS), *MONTH)
    assert reads == []


async def test_rollups_already_computed_follow_late_requests_and_assignments() -> None:
    """Ratings, repairs and misses first (their days rolled up while no request names a
    contractor), the openings and assignments last: the rating days, the repair days and the
    repeats' openings are computed again, and the figures are the plan's."""
    history = generate(IDS, MONTH[0], per_office=140, seed=11)
    events = history.cloud_events()
    late_types = ("fr.canopee.request.opened.v1", "fr.canopee.request.assigned.v1")
    early = [e for e in events if e.type not in late_types]
    late = [e for e in events if e.type in late_types]
    rnd = random.Random(5)
    rnd.shuffle(early)
    rnd.shuffle(late)
    svc = Analytics(OFFICES, MemoryAnalyticsStore(), contractor_min_repairs=8)
    for i in range(0, len(early), 97):
        await svc.apply(early[i : i + 97])
    await svc.contractors.contractors(list(IDS), *MONTH)
    await svc.refresh_rollups()
    for i in range(0, len(late), 61):
        await svc.apply(late[i : i + 61])
    result = await svc.contractors.contractors(list(IDS), *MONTH)
    for office in IDS:
        check(result["offices"][office], expected(history, *MONTH, office))
    check(result["network"], expected(history, *MONTH, None))
    assert sum(view["total"]["csat"]["ratings"] for view in result["offices"].values()) > 0


async def test_ranking_needs_the_minimum_count_and_the_csv_carries_the_figures() -> None:
    svc, _ = await ingest(seed=3)
    result = await svc.contractors.contractors(list(IDS), *MONTH)
    week = await svc.contractors.contractors(list(IDS), date(2026, 3, 2), date(2026, 3, 12))
    views = [result["network"], *result["offices"].values(), week["network"], *week["offices"].values()]
    ranks = [d["rank"] for v in views for d in v["contractors"].values()]
    assert None in ranks and 1 in ranks  # both cases happen
    for view in views:
        ranked = [c for c, d in view["contractors"].items() if d["rank"] is not None]
        assert all(view["contractors"][c]["repairs"] >= 8 for c in ranked)
        assert all(d["rank"] is None for d in view["contractors"].values() if d["repairs"] < 8)
        assert sorted(view["contractors"][c]["rank"] for c in ranked) == list(range(1, len(ranked) + 1))
        pcts = [
            view["contractors"][c]["within_target"]["all"]["pct"]
            for c in sorted(ranked, key=lambda c: view["contractors"][c]["rank"])
        ]
        assert pcts == sorted(pcts, reverse=True)
    rows = {(r["scope"], r["contractor"]): r for r in csv.DictReader(io.StringIO(contractors_csv(result)))}
    for cid, d in result["network"]["contractors"].items():
        assert int(rows[("network", cid)]["repairs"]) == d["repairs"]
        assert rows[("network", cid)]["name"] == d["name"]
    assert int(rows[(IDS[0], "total")]["repairs"]) == result["offices"][IDS[0]]["total"]["repairs"]
