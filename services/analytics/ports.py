"""What the analytics use cases need, as Protocols: the store of events and facts, the store of
daily rollups, and a clock. ``store.MongoAnalyticsStore`` and ``store_memory.MemoryAnalyticsStore``
implement both stores (a contract test suite runs against the two)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.analytics.domain.records import (
    AlertFact,
    Fact,
    Net,
    NotificationFact,
    RequestFact,
    StoredEvent,
    SurveyFact,
)
from services.analytics.domain.rollups import Rollup

Clock = Callable[[], datetime]


class FactStore(Protocol):
    """Kept events, the facts folded from them, and which facts touch which office-day."""

    async def add_events(self, events: Sequence[StoredEvent]) -> set[str]:
        """Store events not stored yet; return the ids of those already stored."""
        ...

    async def events_of(self, keys: Iterable[str]) -> dict[str, list[StoredEvent]]:
        """Every stored event of each key (a key without events maps to an empty list)."""
        ...

    async def write_facts(self, facts: Sequence[Fact]) -> None:
        """Replace (or create) these facts."""
        ...

    async def stale(self, keys: Iterable[str]) -> list[str]:
        """Keys whose stored fact counts fewer (or more) events than are stored."""
        ...

    async def facts(self, offices: Sequence[str]) -> list[Fact]:
        """Every fact of these offices."""
        ...

    async def days_of(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The ``days`` stored with each existing fact of these keys."""
        ...

    async def add_members(self, members: Sequence[tuple[str, str]]) -> None:
        """Record that fact ``key`` touches office-day ``day`` for each (day, key)."""
        ...

    async def members(self, days: Iterable[str]) -> dict[str, list[str]]:
        """The fact keys recorded for each office-day (a day without any maps to an empty list)."""
        ...

    async def facts_by_key(self, keys: Iterable[str]) -> list[Fact]:
        """The stored facts of these keys."""
        ...

    async def opened_by(self, event_ids: Iterable[str]) -> list[RequestFact]:
        """Request facts whose ``request.opened`` event is one of these ids."""
        ...

    async def acknowledging(self, event_ids: Iterable[str]) -> list[NotificationFact]:
        """Notification facts caused by one of these event ids."""
        ...

    async def surveys_about(self, requests: Iterable[tuple[str, str]]) -> list[SurveyFact]:
        """Survey facts about these requests, each given as (office, request id)."""
        ...

    async def complaints(self, offices: Sequence[str], start: datetime, end: datetime) -> list[RequestFact]:
        """Request facts of these offices opened as complaints in ``start`` (inclusive) .. ``end``."""
        ...

    async def alerts(self, offices: Sequence[str]) -> list[AlertFact]:
        """Every detractor-alert fact of these offices."""
        ...


class RollupStore(Protocol):
    """Dirty markers of office-days, their rollups and nets."""

    async def mark_dirty(self, days: Sequence[str], gen: str) -> None:
        """Give these office-days a dirty marker of generation ``gen`` (replacing any older one)."""
        ...

    async def dirty(self, offices: Sequence[str]) -> dict[str, str]:
        """``gen`` of every marker of these offices, by office-day."""
        ...

    async def dirty_of(self, days: Iterable[str]) -> dict[str, str]:
        """``gen`` of the markers of these office-days."""
        ...

    async def write_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Replace (or create) these rollups, then their nets."""
        ...

    async def rollups(self, days: Iterable[str]) -> list[Rollup]:
        """The stored rollups of these office-days."""
        ...

    async def nets(self, offices: Sequence[str]) -> list[Net]:
        """Every stored net of these offices."""
        ...


class AnalyticsStore(FactStore, RollupStore, Protocol):
    """Both stores of the service (one database)."""


class WordsSource(Protocol):
    """Where the monthly report reads tenants' words (feedback's API): read at report time, never kept."""

    async def words(
        self, office: str | None, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]] | None:
        """The entries of ``office`` (None: every office) over [since, until), newest first, at
        most ``limit``; None when they could not be read."""
        ...
