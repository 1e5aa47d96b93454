"""Monthly report use case: the report of an office or the network for one month, from the same
indicator documents as ``/v1/kpis`` (the month, the month before, the same month a year before,
the month by day, and the contractors of the month), drawn by the renderer it is given
(docs/analytics.md, "Monthly report"). Tenants' words are read from feedback when the report is
built (when a source is given) and never kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Any

from services.analytics.domain.report import Report, build_report, month_range, previous_month, year_before
from services.analytics.domain.words import UNAVAILABLE, WORDS_FETCH_MAX, select_words
from services.analytics.handlers.contractors import ContractorIndicators
from services.analytics.handlers.queries import Indicators
from services.analytics.ports import WordsSource
from shared.offices import Offices

Renderer = Callable[[Report], bytes]


class UnknownOffice(LookupError):
    """The report of an office the offices file does not list."""


class MonthlyReports:
    """Builds monthly reports; ``last_seconds``: how long the last one took (figures, drawing)."""

    def __init__(
        self,
        offices: Offices,
        indicators: Indicators,
        contractors: ContractorIndicators,
        render: Renderer,
        *,
        words: WordsSource | None = None,
        word_excerpts: int = 5,
    ) -> None:
        self.offices = offices
        self.indicators = indicators
        self.contractors = contractors
        self.render = render
        self.words = words
        self.word_excerpts = word_excerpts
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
        report = build_report(office, name, month.replace(day=1), current, before, last_year, daily, contractors, names)
        return await self._with_words(report, office, month)

    async def _with_words(self, report: Report, office: str | None, month: date) -> Report:
        """The report with the month's words read from feedback, office by office and concurrently
        (so that a token that sees one office only cannot pass its words for the network's); kept
        nowhere but in the report. One list that cannot be read: the report says the words could
        not be read."""
        if self.words is None:
            return report
        first, last = month_range(month)
        scopes = [o for o in self.offices.office if office is None or o.id == office]
        found = await asyncio.gather(
            *(
                self.words.words(
                    o.id,
                    datetime.combine(first, day_time(0), o.tz),
                    datetime.combine(last + timedelta(days=1), day_time(0), o.tz),
                    WORDS_FETCH_MAX,
                )
                for o in scopes
            )
        )
        if any(f is None for f in found):
            return replace(report, words=UNAVAILABLE)
        lists: dict[str, list[dict[str, Any]]] = {o.id: f or [] for o, f in zip(scopes, found, strict=True)}
        chosen = select_words(lists, self.word_excerpts)
        return replace(report, words=chosen.summary, word_excerpts=tuple(chosen.excerpts))

    async def pdf(self, office: str | None, month: date) -> bytes:
        """The report as a PDF (drawn off the event loop)."""
        started = time.perf_counter()
        report = await self.report(office, month)
        figures = time.perf_counter() - started
        data = await asyncio.to_thread(self.render, report)
        self.last_seconds = (figures, time.perf_counter() - started - figures)
        return data
