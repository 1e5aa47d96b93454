"""Contractor query use case: contractor indicators of some offices over a range of local dates
(``/v1/kpis?by=contractor``, its CSV, the contractors page and the monthly report), from the
facts touching the range's office-days (docs/analytics.md, "Contractors")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from services.analytics.domain.contractors import REPEAT_WINDOW, ContractorQuery, compute_contractors
from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.records import Fact, RequestFact, SurveyFact, day_key
from services.analytics.ports import FactStore

#: office-days whose facts are read at once
DAY_CHUNK = 16


class ContractorIndicators:
    """Answers contractor queries; ``min_repairs``: fewest repairs for a contractor to be ranked."""

    def __init__(self, book: OfficeBook, store: FactStore, min_repairs: int = 5) -> None:
        self.book = book
        self.store = store
        self.min_repairs = min_repairs

    async def contractors(self, offices: Sequence[str], start: date, end: date) -> dict[str, Any]:
        """Contractor indicators of ``offices`` (and the network) for local dates ``start``..``end``."""
        # repairs, misses and ratings of the range touch its days; a repeat is a request opened
        # up to REPEAT_WINDOW after a repair (one more day for the local date of that instant)
        horizon = end + REPEAT_WINDOW + timedelta(days=1)
        days = [day_key(o, start + timedelta(days=i)) for o in offices for i in range((horizon - start).days + 1)]
        in_range = {day_key(o, start + timedelta(days=i)) for o in offices for i in range((end - start).days + 1)}
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
        query = ContractorQuery(start, end, list(offices), self.book.zones(), self.min_repairs)
        return compute_contractors(query, requests.values(), surveys)
