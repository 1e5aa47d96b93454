"""Office indicators as ``/v1/kpis`` gives them: the rollup indicators (``queries.Indicators``)
with the complaints of each period and the figures per 1,000 homes (docs/analytics.md,
"Comparable offices")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.analytics.domain.comparable import add_per_1000_homes
from services.analytics.domain.complaints import add_complaints
from services.analytics.domain.facts import OfficeBook
from services.analytics.domain.indicators import Period, Query
from services.analytics.handlers.queries import Indicators
from services.analytics.handlers.refresh import RollupRefresh
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.ports import FactStore
from shared.offices import Offices


class OfficeIndicators(Indicators):
    """Indicators with complaints and per-1,000-homes figures."""

    def __init__(
        self,
        book: OfficeBook,
        rollups: RollupRefresh,
        metrics: AnalyticsMetrics | None,
        offices: Offices,
        facts: FactStore,
    ) -> None:
        super().__init__(book, rollups, metrics)
        self.offices = offices
        self.facts = facts

    async def indicators(self, offices: Sequence[str], start: date, end: date, period: Period) -> dict[str, Any]:
        result = await super().indicators(offices, start, end, period)
        query = Query(start=start, end=end, period=period, offices=list(offices), tz=self.book.zones())
        # complaints opened in the range: a day of margin each side for the offices' time zones
        lo = datetime.combine(start - timedelta(days=1), time(0), UTC)
        hi = datetime.combine(end + timedelta(days=2), time(0), UTC)
        add_complaints(result, query, await self.facts.complaints(list(offices), lo, hi))
        stock = {o: (office.housing_stock if (office := self.offices.get(o)) else None) for o in offices}
        return add_per_1000_homes(result, stock)
