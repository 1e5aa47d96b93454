"""Rollup refresh use case: compute the daily rollups of stale office-days from their facts.

An office-day is stale when its dirty marker's ``gen`` differs from the one its rollup (or net)
was computed under. The background task computes the days this instance's batches marked; a query
first computes the stale days it needs (``fresh``), so an answer reflects every stored fact
(docs/analytics.md, "Daily rollups")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.records import Net, RequestFact, split_day_key
from services.analytics.domain.rollups import Rollup, acknowledged_causes, rated_requests, rollup
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.ports import AnalyticsStore

#: office-days whose markers and fact lists are read at once
ROLLUP_CHUNK = 16
#: facts held in memory at once: the days of a chunk are computed in groups of about this many
#: facts (a day with more is computed alone); a busy office-day of a large office has over 10,000
ROLLUP_FACTS = 3000


class RollupRefresh:
    """Keeps the rollups fresh; ``pending``: office-days this instance marked dirty and has not
    computed since."""

    def __init__(self, book: OfficeBook, store: AnalyticsStore, metrics: AnalyticsMetrics | None) -> None:
        self.book = book
        self.store = store
        self.metrics = metrics
        self.pending: set[str] = set()
        # one rollup computation at a time in an instance (queries and the refresh task)
        self.lock = asyncio.Lock()

    def mark(self, days: Iterable[str]) -> None:
        """Office-days a batch of this instance marked dirty."""
        self.pending.update(days)

    async def refresh_rollups(self) -> None:
        """Compute the rollups of the days this instance's batches changed (queries would
        otherwise compute them on demand)."""
        pending, self.pending = self.pending, set()
        try:
            markers = await self.store.dirty_of(pending)
            gens = {r.key: r.gen for r in await self.store.rollups(pending)}
            await self.recompute([k for k in pending if k in markers and gens.get(k) != markers[k]])
        except BaseException:
            self.pending |= pending
            raise

    async def fresh(
        self, offices: Sequence[str], start: date, end: date
    ) -> tuple[dict[str, Rollup], dict[str, list[Net]]]:
        """Fresh rollups of the offices' days in ``start``..``end`` and, by office, the nets of
        their earlier days (stale ones are computed first)."""
        markers = await self.store.dirty(offices)
        in_range = [k for k in markers if start <= split_day_key(k)[1] <= end]
        rollups = {r.key: r for r in await self.store.rollups(in_range)}
        nets = {n.key: n for n in await self.store.nets(offices)}
        stale = [k for k in in_range if _gen(rollups.get(k)) != markers[k]]
        stale += [k for k, gen in markers.items() if split_day_key(k)[1] < start and _gen(nets.get(k)) != gen]
        for r in await self.recompute(stale):
            if r.key in markers and start <= r.day <= end:
                rollups[r.key] = r
            nets[r.key] = r.as_net()
        before: dict[str, list[Net]] = {}
        for k, n in nets.items():
            if k in markers and n.day < start:
                before.setdefault(n.office, []).append(n)
        return rollups, before

    async def fresh_days(self, days: Sequence[str]) -> list[Rollup]:
        """Fresh rollups of these office-days (those without a marker have no fact: none is
        returned for them); stale ones are computed first. Reads no net."""
        markers = await self.store.dirty_of(days)
        stored = {r.key: r for r in await self.store.rollups(list(markers))}
        for r in await self.recompute([k for k in markers if _gen(stored.get(k)) != markers[k]]):
            stored[r.key] = r
        return [stored[k] for k in markers if k in stored]

    async def recompute(self, days: Sequence[str]) -> list[Rollup]:
        """Compute and store the rollups of these office-days from their facts."""
        if not days:
            return []
        async with self.lock:
            started = time.perf_counter()
            written: list[Rollup] = []
            for i in range(0, len(days), ROLLUP_CHUNK):
                written += await self._recompute_chunk(days[i : i + ROLLUP_CHUNK])
            if self.metrics is not None:
                self.metrics.rollups_written.inc(len(written))
                self.metrics.rollup_seconds.observe(time.perf_counter() - started)
            return written

    async def _recompute_chunk(self, days: Sequence[str]) -> list[Rollup]:
        # the marker is read before the facts: a batch that changes a fact after this read
        # writes a new marker after it, so this rollup is seen as stale
        markers = await self.store.dirty_of(days)
        members = await self.store.members(days)
        written: list[Rollup] = []
        for group in fact_groups(days, members, ROLLUP_FACTS):
            written += await self._recompute_group(group, markers, members)
        return written

    async def _recompute_group(
        self, days: Sequence[str], markers: dict[str, str], members: dict[str, list[str]]
    ) -> list[Rollup]:
        facts = {f.key: f for f in await self.store.facts_by_key(k for d in days for k in members.get(d, ()))}
        opened = [f.opened_event for f in facts.values() if isinstance(f, RequestFact) and f.opened_event]
        acknowledged = acknowledged_causes(await self.store.acknowledging(opened))
        # the requests of the surveys rated these days (their contractor), unless already read
        zones = {f.office: self.book.tz(f.office) for f in facts.values()}
        rated = rated_requests(facts.values(), days, zones)
        requests = {k: f for k, f in facts.items() if k in rated and isinstance(f, RequestFact)}
        requests.update(
            (f.key, f) for f in await self.store.facts_by_key(sorted(rated - set(facts))) if isinstance(f, RequestFact)
        )
        written = []
        for key in days:
            office, day = split_day_key(key)
            day_facts = [facts[k] for k in members.get(key, ()) if k in facts]
            computed = rollup(office, day, day_facts, acknowledged, self.book.tz(office), requests)
            written.append(replace(computed, gen=markers.get(key)))
        await self.store.write_rollups(written)
        return written


def fact_groups(days: Sequence[str], members: Mapping[str, Sequence[str]], budget: int) -> list[list[str]]:
    """``days`` in order, in groups whose facts add up to at most ``budget`` (a day with more is
    a group of its own), so that a refresh holds about ``budget`` facts at a time."""
    groups: list[list[str]] = []
    held = 0
    for day in days:
        size = len(members.get(day, ()))
        if not groups or held + size > budget:
            groups.append([])
            held = 0
        groups[-1].append(day)
        held += size
    return groups


def _gen(stored: Rollup | Net | None) -> str | None:
    return stored.gen if stored is not None else None
