"""The records analytics keeps, as the handlers and the store exchange them (docs/analytics.md).

``StoredEvent``: what is kept of one consumed event. ``Fact``: one request, survey, detractor
alert or notification folded from all its events (``services.analytics.domain.facts``).
``Net``: an office-day's open-interval balance (its ``Rollup`` is in
``services.analytics.domain.rollups``). How they are stored is the store's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

FactKind = Literal["request", "survey", "alert", "notification"]


def day_key(office: str, day: date) -> str:
    """``office|YYYY-MM-DD``: the key of an office-day (its rollup, net and dirty marker)."""
    return f"{office}|{day.isoformat()}"


def split_day_key(key: str) -> tuple[str, date]:
    """``office|YYYY-MM-DD`` → (office, day)."""
    office, day = key.rsplit("|", 1)
    return office, date.fromisoformat(day)


@dataclass(frozen=True)
class StoredEvent:
    """An event analytics keeps: its id, the key of its fact and only the fields indicators need
    (``data``: enums as their values, absent fields left out)."""

    id: str
    key: str
    office: str
    type: str
    time: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> Any:
        """The channel the event names, if any."""
        return self.data.get("channel")


@dataclass(frozen=True)
class Fact:
    """One fact (key ``r|``, ``s|``, ``a|`` or ``n|`` + office + id), computed from ``n_events``
    events; ``values`` are the folded fields the indicators read; ``days`` the office-local days
    (ISO dates) it contributes to."""

    key: str
    office: str
    kind: FactKind
    n_events: int
    values: Mapping[str, Any]
    days: tuple[str, ...] = ()

    @property
    def cause_id(self) -> str | None:
        """A notification's cause (the id of the event it was sent for)."""
        cause = self.values.get("cause_id")
        return str(cause) if cause else None

    @property
    def opened_event(self) -> str | None:
        """A request's ``request.opened`` event id."""
        opened = self.values.get("opened_event")
        return str(opened) if opened else None

    @property
    def opened_at(self) -> datetime | None:
        """When a request was opened (None for a placeholder)."""
        opened: datetime | None = self.values.get("opened_at")
        return opened

    @property
    def raised_at(self) -> datetime | None:
        """When a detractor alert was raised."""
        raised: datetime | None = self.values.get("raised_at")
        return raised

    @property
    def due_at(self) -> datetime | None:
        """A detractor alert's follow-up deadline."""
        due: datetime | None = self.values.get("due_at")
        return due


@dataclass(frozen=True)
class Net:
    """An office-day's balance of open intervals (starts − ends), with its rollup's ``gen``."""

    office: str
    day: date
    net: int
    gen: str | None = None

    @property
    def key(self) -> str:
        return day_key(self.office, self.day)
