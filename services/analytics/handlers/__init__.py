"""The analytics use cases, one module each: ``ingest`` (consumed events → facts → dirty days,
with the event routing table), ``refresh`` (rollups of stale office-days), ``queries``
(indicators for the API, dashboard and export) and ``gauges`` (business gauges). ``Analytics``
wires them to one store, metrics and clock for the composition root and the tests."""

from __future__ import annotations

from datetime import UTC, datetime

from services.analytics.domain.facts import OfficeBook
from services.analytics.handlers.comparable import OfficeIndicators
from services.analytics.handlers.contractors import ContractorIndicators
from services.analytics.handlers.gauges import Gauges
from services.analytics.handlers.ingest import Ingest
from services.analytics.handlers.queries import Indicators
from services.analytics.handlers.refresh import RollupRefresh
from services.analytics.metrics import AnalyticsMetrics
from services.analytics.ports import AnalyticsStore, Clock
from shared.offices import Offices


def utc_now() -> datetime:
    return datetime.now(UTC)


class Analytics:
    """The use cases of one instance, sharing its store (the rollups its batches marked are
    computed by its refresh task)."""

    def __init__(
        self,
        offices: Offices,
        store: AnalyticsStore,
        metrics: AnalyticsMetrics | None = None,
        clock: Clock = utc_now,
        gauge_window_days: int = 30,
        contractor_min_repairs: int = 5,
    ) -> None:
        book = OfficeBook.of(offices)
        self.rollups = RollupRefresh(book, store, metrics)
        self.ingest = Ingest(book, store, store, metrics, self.rollups.mark)
        self.queries = Indicators(book, self.rollups, metrics)
        #: what /v1/kpis and the reports give: the indicators with complaints and per 1,000 homes
        self.office_indicators = OfficeIndicators(book, self.rollups, metrics, offices, store)
        self.contractors = ContractorIndicators(book, self.rollups, store, contractor_min_repairs)
        self.gauges = Gauges(offices, book, store, self.rollups, metrics, clock, gauge_window_days)
        self.apply = self.ingest.apply
        self.indicators = self.queries.indicators
        self.refresh_rollups = self.rollups.refresh_rollups
        self.refresh_gauges = self.gauges.refresh_gauges

    @property
    def pending(self) -> set[str]:
        """Office-days this instance marked dirty and has not computed since."""
        return self.rollups.pending


__all__ = ["Analytics", "Clock", "utc_now"]
