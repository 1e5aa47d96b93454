"""What an instance holds between a claim and the record of its outcome (docs/notifications.md,
"Outages and re-sends"):

- the messages it has claimed (waiting for a send slot, being sent, or waiting for their outcome
  to be recorded): their leases are renewed while they are held, and neither this instance's
  dispatcher nor a redelivered batch ever hands one of them to a provider again;
- the outcomes its providers answered: kept until the store took them (``until_done`` retries
  with backoff for as long as the store is away), the consumer waiting meanwhile
  (``wait_settled``);
- when the store last failed it: a claim left by another instance is taken over only once this
  instance has seen the store answer for a while (``may_take_over``), so that an instance that
  lived through the same outage has renewed its leases first;
- which message's outcome is being written: its lease is not renewed meanwhile, and the write
  waits for a renewal under way. The local store (FerretDB) applies an update as a read, then a
  replace of the whole document: a renewal meeting the record of "sent" could put "sending" back,
  and the message would go out again once its lease ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from shared.bus import TransientError, is_transient

from ..domain.records import Message, Status
from .context import Context

log = logging.getLogger("canopee.notifications")

T = TypeVar("T")

#: backoff of a write retried until the store takes it: first and longest wait (seconds)
RETRY_FIRST, RETRY_MAX = 0.2, 5.0
#: how often held leases are looked at (``app.py``'s job); each is renewed once half its time ran
RENEW_EVERY = 1.0
#: the consumer waits this long for held outcomes to be recorded before it gives its batch back
SETTLE_WAIT = 10.0


@dataclass
class Holding:
    ctx: Context
    perf: Callable[[], float] = field(default=time.monotonic)
    #: held messages: id → (claim attempt, lease end as last written)
    _held: dict[str, tuple[int, datetime]] = field(default_factory=dict, init=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False)
    #: writes of outcomes (or releases) waiting for the store
    _waiting: int = field(default=0, init=False)
    _settled: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    #: when the store last failed this instance (monotonic seconds), None: never
    _trouble_at: float | None = field(default=None, init=False)
    #: messages whose outcome (or release) is being written: their leases are left alone meanwhile
    _writing: set[str] = field(default_factory=set, init=False)
    #: the messages of the renewal under way, and whether none is
    _renewing: frozenset[str] = field(default=frozenset(), init=False)
    _renewed: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        self._settled.set()
        self._renewed.set()

    # --- held messages ----------------------------------------------------------------------------

    def hold(self, message: Message) -> None:
        """This instance holds ``message`` (claimed, attempt ``message.attempts``) until ``let_go``."""
        self._counts[message.id] = self._counts.get(message.id, 0) + 1
        known = self._held.get(message.id)
        if known is None or known[0] != message.attempts:  # a renewed lease is kept
            self._held[message.id] = (message.attempts, message.lease_until)

    def let_go(self, message: Message) -> None:
        left = self._counts.get(message.id, 0) - 1
        if left > 0:
            self._counts[message.id] = left
            return
        self._counts.pop(message.id, None)
        self._held.pop(message.id, None)

    def holds(self, notification_id: str) -> bool:
        return notification_id in self._held

    @property
    def held(self) -> int:
        return len(self._held)

    async def renew(self) -> int:
        """Renew the leases of held messages whose lease has run half its time (or ended during an
        outage of the store); the number renewed. A failure is logged: the next call tries again."""
        now = self.ctx.clock()
        lease = self.ctx.lease
        due = [
            (nid, attempt)
            for nid, (attempt, until) in self._held.items()
            if until - now < lease / 2 and nid not in self._writing
        ]
        if not due:
            return 0
        until = now + lease
        self._renewing = frozenset(nid for nid, _ in due)
        self._renewed.clear()
        try:
            await self.ctx.store.renew_leases(due, until)
        except Exception as exc:
            self.trouble()
            log.warning("leases of sends in progress not renewed yet: %s", type(exc).__name__)
            return 0
        finally:
            self._renewing = frozenset()
            self._renewed.set()
        for nid, attempt in due:
            if nid in self._held and self._held[nid][0] == attempt:
                self._held[nid] = (attempt, until)
        return len(due)

    # --- the store's health as this instance sees it ---------------------------------------------

    def trouble(self) -> None:
        """The store failed this instance just now."""
        self._trouble_at = self.perf()

    @property
    def quiet_seconds(self) -> float:
        """How long the store must have answered before claims of others may be taken over: long
        enough for their holders to renew (they try every second)."""
        return max(2.0, self.ctx.settings.lease_seconds / 4)

    def may_take_over(self, message: Message, now: datetime) -> bool:
        """Whether a claimed message may be claimed again: not held here, its lease over, and the
        store answering this instance for ``quiet_seconds`` (its holder would have renewed)."""
        if self.holds(message.id):
            return False
        if message.status is not Status.SENDING:
            return True
        if message.lease_until > now:
            return False
        return self._trouble_at is None or self.perf() - self._trouble_at >= self.quiet_seconds

    # --- outcomes kept until recorded -------------------------------------------------------------

    async def until_done(
        self, write: Callable[[], Awaitable[T]], what: str, office: str, *, message_id: str | None = None
    ) -> T:
        """Run ``write`` until the store takes it: a transient failure (the store away) is retried
        with backoff for as long as it lasts, the consumer waiting meanwhile; another error is raised.
        ``message_id``: the write changes that held message (never at the same time as its renewal)."""
        wait = RETRY_FIRST
        failed = False
        try:
            while True:
                try:
                    if message_id is not None:
                        while message_id in self._renewing:
                            await self._renewed.wait()
                        self._writing.add(message_id)  # no await since the check: no renewal between
                    return await write()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    self.trouble()
                    if not failed:
                        failed = True
                        self._waiting += 1
                        self._settled.clear()
                        log.warning(
                            "%s kept until the store is back (%s)", what, type(exc).__name__, extra={"office": office}
                        )
                finally:
                    if message_id is not None:
                        self._writing.discard(message_id)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_MAX)
        finally:
            if failed:
                self._waiting -= 1
                if self._waiting == 0:
                    self._settled.set()

    @property
    def unrecorded(self) -> int:
        """Writes of outcomes waiting for the store."""
        return self._waiting

    async def wait_settled(self, timeout: float = SETTLE_WAIT) -> None:
        """Before new work: wait until no outcome waits for the store; raise ``TransientError``
        after ``timeout`` (the consumer gives its batch back and comes again)."""
        if self._settled.is_set():
            return
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            raise TransientError(f"{self._waiting} outcomes wait for the store") from None
