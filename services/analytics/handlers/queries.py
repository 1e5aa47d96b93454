"""Query use case: the indicators of some offices over a range of local dates (for the API, the
dashboard and the CSV export), from fresh daily rollups (docs/analytics.md, "Indicators")."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from typing import Any

from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.indicators import Period, Query
from services.analytics.domain.rollups import compute_from_rollups
from services.analytics.handlers.refresh import RollupRefresh
from services.analytics.metrics import AnalyticsMetrics


class Indicators:
    """Answers indicator queries."""

    def __init__(self, book: OfficeBook, rollups: RollupRefresh, metrics: AnalyticsMetrics | None) -> None:
        self.book = book
        self.rollups = rollups
        self.metrics = metrics

    async def indicators(self, offices: Sequence[str], start: date, end: date, period: Period) -> dict[str, Any]:
        """Every indicator of ``offices`` (and their sum, the network) for local dates ``start``..``end``,
        from the daily rollups (those a batch changed since they were computed are computed first)."""
        started = time.perf_counter()
        query = Query(start=start, end=end, period=period, offices=list(offices), tz=self.book.zones())
        rollups, nets = await self.rollups.fresh(list(offices), start, end)
        result = compute_from_rollups(query, rollups.values(), nets)
        if self.metrics is not None:
            self.metrics.query_seconds.observe(time.perf_counter() - started)
        return result
