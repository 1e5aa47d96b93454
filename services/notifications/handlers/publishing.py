"""Outcome events go out through the shared outbox (``shared/outbox.py``): a message's outcome is
recorded with its final status (``published`` False in the same write), then the ``Relay``
publishes it and marks it published; the dispatcher's ``flush`` publishes what was left."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from shared.events import CloudEvent

from ..domain.outcomes import outcome_event
from ..domain.records import Message, Status
from ..ports import MessageStore


class RecordedOutcomes:
    """The outbox's ``RecordedEvents`` over the notifications log: the outcome events recorded in
    the messages themselves (status, ``outcome_at``, ``published``), in either store."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        #: outcome event id → its message and status, for the events built here until marked
        self._built: dict[str, tuple[str, Status]] = {}

    def event(self, message: Message) -> CloudEvent:
        """The outcome event of a message in a final state (its id derived from the message's)."""
        event = outcome_event(message)
        self._built[event.id] = (message.id, message.status)
        return event

    async def mark_published(self, ids: Sequence[str]) -> None:
        # a message whose status changed since (a receipt after ``sent``) keeps its new outcome unpublished
        built = [self._built.pop(i) for i in ids if i in self._built]
        await asyncio.gather(*(self.store.mark_published(nid, status) for nid, status in built))

    async def pending(self, before: datetime, limit: int) -> list[CloudEvent]:
        unpublished = await self.store.unpublished(limit)
        return [self.event(m) for m in unpublished if m.outcome_at is not None and m.outcome_at <= before]
