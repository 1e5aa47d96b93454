"""Monthly report use case: the report of an office or the network for one month, from the same
indicator documents as ``/v1/kpis`` (the month, the month before, the same month a year before,
the month by day, and the contractors of the month), drawn by the renderer it is given
(docs/analytics.md, "Monthly report")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date

from services.analytics.domain.report import Report, build_report, month_range, previous_month, year_before
from services.analytics.handlers.contractors import ContractorIndicators
from services.analytics.handlers.queries import Indicators
from shared.offices import Offices

Renderer = Callable[[Report], bytes]


class UnknownOffice(LookupError):
    """The report of an office the offices file does not list."""


class MonthlyReports:
    """Builds monthly reports; ``last_seconds``: how long the last one took (figures, drawing)."""

    def __init__(
        self, offices: Offices, indicators: Indicators, contractors: ContractorIndicators, render: Renderer
    ) -> None:
        self.offices = offices
        self.indicators = indicators
        self.contractors = contractors
        self.render = render
        self.last_seconds: tuple[float, float] = (0.0, 0.0)

    async def report(self, office: str | None, month: date) -> Report:
        """The report's content: ``office`` None is the network."""
        if office is not None and office not in self.offices:
            raise UnknownOffice(office)
        ids = self.offices.ids
        documents = []
        for first in (month, previous_month(month), year_before(month)):
            start, end = month_range(first)
            documents.append(await self.indicators.indicators(ids, start, end, "month"))
        start, end = month_range(month)
        daily = await self.indicators.indicators(ids, start, end, "day")
        contractors = await self.contractors.contractors(ids, start, end)
        names = {o.id: o.name for o in self.offices.office}
        name = names[office] if office is not None else "Réseau"
        current, before, last_year = documents
        return build_report(office, name, month.replace(day=1), current, before, last_year, daily, contractors, names)

    async def pdf(self, office: str | None, month: date) -> bytes:
        """The report as a PDF (drawn off the event loop)."""
        started = time.perf_counter()
        report = await self.report(office, month)
        figures = time.perf_counter() - started
        data = await asyncio.to_thread(self.render, report)
        self.last_seconds = (figures, time.perf_counter() - started - figures)
        return data
