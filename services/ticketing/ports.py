"""What the ticketing use cases need, as Protocols: the request and alert stores, the publisher,
the clock. ``store.py`` implements the stores on MongoDB/FerretDB, ``store_memory.py`` in memory;
one contract test suite holds both to the same behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.ticketing.domain.requests import Fact
from services.ticketing.domain.tracker import TrackerLink
from services.ticketing.domain.views import AlertRecord, RequestFilter, RequestSummary
from shared.events import CloudEvent

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DueBatch:
    """Requests due now, and the slot the sweeper may record as swept once they are handled."""

    #: request keys, earliest ``next_check_at`` first
    keys: list[str]
    #: the current slot, to record once ``keys`` are handled; None while more is due than one
    #: batch takes (the next tick reads the same slots again)
    swept_slot: str | None


class RequestStore(Protocol):
    """Request events (insert-only, once per request and event id) and request summaries."""

    async def add_events(self, facts: Mapping[str, Sequence[Fact]]) -> set[tuple[str, str]]:
        """Store new facts by request key; return the (key, event id) pairs already stored."""
        ...

    async def facts_of(self, keys: Iterable[str]) -> dict[str, list[Fact]]:
        """Every stored fact of the requests ``keys`` (an empty list for a key with none)."""
        ...

    async def write(self, summaries: Sequence[RequestSummary]) -> None:
        """Replace (or create) the summaries, each in place."""
        ...

    async def stale(self, keys: Iterable[str]) -> list[str]:
        """Keys whose stored summary was computed from another number of events than are stored."""
        ...

    async def get(self, office: str, request_id: str) -> list[Fact] | None:
        """The stored facts of a request, or None when none is known."""
        ...

    async def erase_tenant(self, office: str, tenant_ref: str, at: datetime) -> int:
        """Erasure: remember the tenant as erased (by ``shared.privacy.erasure_key``, never the
        reference) and remove its tenant and housing references from the stored facts of the
        office's requests (marked ``tenant_erased``); return how many requests were touched."""
        ...

    async def erased_among(self, tenants: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these (office, tenant_ref), those erased."""
        ...

    async def due(self, now: datetime, limit: int) -> DueBatch:
        """Requests whose next SLA threshold is at or before ``now``, earliest first."""
        ...

    async def swept(self, batch: DueBatch) -> None:
        """Record that everything due up to the batch's slot was handled."""
        ...

    async def page(self, where: RequestFilter, limit: int, after: str | None) -> tuple[list[RequestSummary], bool]:
        """Summaries ordered by key, after the key ``after``; whether more follow."""
        ...

    async def count_open(self) -> dict[tuple[str, str], int]:
        """Requests not closed, by (office, state)."""
        ...


class AlertStore(Protocol):
    """SLA alerts recorded once under their key, then published under a lease."""

    async def record(self, alerts: Sequence[AlertRecord], now: datetime) -> list[AlertRecord]:
        """Insert the alerts not recorded yet; return those this call recorded."""
        ...

    async def recorded(self, keys: Iterable[str]) -> dict[str, bool]:
        """Of these alert keys, those recorded, each with whether it was recorded as historical
        (found after the office's horizon)."""
        ...

    async def of_request(self, office: str, request_id: str) -> list[AlertRecord]:
        """Every alert recorded for a request, ordered by key."""
        ...

    async def claim(self, now: datetime, lease: timedelta) -> tuple[str, list[AlertRecord]]:
        """Take unpublished alerts nobody holds; return the claim owner and the alerts it won."""
        ...

    async def mark_published(self, owner: str, keys: Sequence[str]) -> None: ...

    async def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give claims back after a failed publish, so the next attempt retries at once."""
        ...


class TrackerStore(Protocol):
    """Tracker links ticketing answers (by token digest), revoked with their tenant."""

    async def record(self, links: Sequence[TrackerLink]) -> int:
        """Keep the links not kept yet, except those of a tenant erased in their office; return
        how many this call added."""
        ...

    async def find(self, digest: str) -> TrackerLink | None:
        """The link of this token digest, or None (never recorded, or revoked)."""
        ...

    async def erase(self, office: str, tenant_ref: str) -> int:
        """Revoke every link of the tenant and refuse its later ones; return how many went."""
        ...


class EventPublisher(Protocol):
    async def publish(self, events: Iterable[CloudEvent]) -> None: ...
