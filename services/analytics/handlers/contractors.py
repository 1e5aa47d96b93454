"""Contractor query use case: contractor indicators of some offices over a range of local dates
(``/v1/kpis?by=contractor``, its CSV, the contractors page and the monthly report), from the
daily rollups of the range and of the 31 days after it (docs/analytics.md, "Contractors").
``scan_facts`` computes the same document from the facts (the benchmark's baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from services.analytics.domain.contractors import (
    REPEAT_WINDOW,
    ContractorQuery,
    compute_contractors,
    compute_from_days,
)
from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.records import Fact, RequestFact, SurveyFact, day_key
from services.analytics.handlers.refresh import RollupRefresh
from services.analytics.ports import FactStore

#: office-days whose facts are read at once (``scan_facts``)
DAY_CHUNK = 16


def _days(offices: Sequence[str], start: date, end: date) -> list[str]:
    return [day_key(o, start + timedelta(days=i)) for o in offices for i in range((end - start).days + 1)]


class ContractorIndicators:
    """Answers contractor queries; ``min_repairs``: fewest repairs for a contractor to be ranked."""

    def __init__(self, book: OfficeBook, rollups: RollupRefresh, store: FactStore, min_repairs: int = 5) -> None:
        self.book = book
        self.rollups = rollups
        self.store = store
        self.min_repairs = min_repairs

    def _query(self, offices: Sequence[str], start: date, end: date) -> ContractorQuery:
        return ContractorQuery(start, end, list(offices), self.book.zones(), self.min_repairs)

    async def contractors(self, offices: Sequence[str], start: date, end: date) -> dict[str, Any]:
        """Contractor indicators of ``offices`` (and the network) for local dates ``start``..``end``,
        from the fresh rollups of the range and, for the repeats, of the days after it (a repeat
        is a request opened up to REPEAT_WINDOW after a repair: one more day for its local date)."""
        horizon = end + REPEAT_WINDOW + timedelta(days=1)
        rollups = await self.rollups.fresh_days(_days(offices, start, horizon))
        return compute_from_days(self._query(offices, start, end), ((r.office, r.day, r.contractors) for r in rollups))

    async def scan_facts(self, offices: Sequence[str], start: date, end: date) -> dict[str, Any]:
        """The same document computed from every fact touching the range's office-days and the
        days after it (read through the day memberships): the reference the rollups are checked
        against, and the benchmark's baseline."""
        horizon = end + REPEAT_WINDOW + timedelta(days=1)
        days = _days(offices, start, horizon)
        in_range = set(_days(offices, start, end))
        facts: list[Fact] = []
        seen: set[str] = set()
        # read as the rollups do, a few office-days at a time (a store answers small $in reads best)
        for i in range(0, len(days), DAY_CHUNK):
            members = await self.store.members(days[i : i + DAY_CHUNK])
            keys: set[str] = set()
            for day, found in members.items():
                keys.update(k for k in found if k.startswith("r|") or (day in in_range and k.startswith("s|")))
            keys -= seen
            seen |= keys
            facts += await self.store.facts_by_key(sorted(keys))
        requests = {f.key: f for f in facts if isinstance(f, RequestFact)}
        surveys = [f for f in facts if isinstance(f, SurveyFact) and f.rating is not None and f.request_id]
        missing = {f"r|{s.office}|{s.request_id}" for s in surveys} - set(requests)
        if missing:
            requests.update(
                (f.key, f) for f in await self.store.facts_by_key(sorted(missing)) if isinstance(f, RequestFact)
            )
        return compute_contractors(self._query(offices, start, end), requests.values(), surveys)
