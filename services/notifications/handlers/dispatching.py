"""The periodic dispatcher: due messages (deferred, scheduled, retried, or left by a crashed
instance), office digests whose window ended, outcomes whose publication was interrupted, expired
claims, and messages whose tenant's first contact did not come in time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo.errors import PyMongoError

from ..domain.records import EPOCH
from .context import Context
from .deciding import Decider
from .digests import Digests
from .followups import Followups
from .sending import Sender

#: a send claim is forgotten this long after its lease ended, checked this often by the dispatcher
CLAIMS_KEPT = timedelta(days=1)
CLAIMS_PURGE_EVERY = timedelta(hours=1)
#: at most this many full batches of due messages per dispatcher tick
DISPATCH_ROUNDS = 10


@dataclass
class Dispatcher:
    ctx: Context
    sender: Sender
    decider: Decider
    digests: Digests
    followups: Followups | None = None
    _next_purge: datetime = field(default=EPOCH, init=False)
    _next_sweep: datetime = field(default=EPOCH, init=False)

    async def dispatch_due(self) -> int:
        """Send what is due (deferred, scheduled, retried, or left by a crashed instance) and
        re-emit outcomes whose publication was interrupted. Safe with several instances."""
        try:
            return await self._dispatch_due()
        except PyMongoError:  # claims of others wait until the store answered a while (``holding.py``)
            self.sender.holding.trouble()
            raise

    async def _dispatch_due(self) -> int:
        ctx = self.ctx
        store, settings = ctx.store, ctx.settings
        now = ctx.clock()
        dispatched = 0
        for _ in range(DISPATCH_ROUNDS):  # a full batch is followed by the next one at once
            ids = await store.due(now, settings.dispatch_batch)
            await self._dispatch_all(ids)
            dispatched += len(ids)
            if len(ids) < settings.dispatch_batch:
                break
        if now >= self._next_sweep:  # the recovery sweeps, less often than the due messages
            await self._sweep(now)
            self._next_sweep = now + timedelta(seconds=settings.sweep_seconds)
        return dispatched

    async def _sweep(self, now: datetime) -> None:
        """What only needs checking now and then: each of these queries filters the whole message
        log (with MongoDB an index answers it; the embedded store reads every document), so they
        run every ``sweep_seconds`` while due messages are looked for every ``dispatch_seconds``."""
        ctx = self.ctx
        store, settings = ctx.store, ctx.settings
        # office digests whose window has ended
        await self.digests.send_due()
        # outcomes recorded a lease ago and still unpublished (the broker was away, or a crash)
        await ctx.relay.flush(timedelta(seconds=settings.lease_seconds), settings.dispatch_batch)
        if self.followups is not None:  # followup.done events left unpublished likewise
            await self.followups.flush(timedelta(seconds=settings.lease_seconds), settings.dispatch_batch)
        if now >= self._next_purge:  # claims are kept a day after their lease, then forgotten
            await store.purge_claims(now - CLAIMS_KEPT)
            self._next_purge = now + CLAIMS_PURGE_EVERY
        # messages whose tenant's first contact did not come in time: no_contact
        await self.decider.decide_awaiting(await store.awaiting_due(now, settings.dispatch_batch))
        ctx.metrics.deferred_backlog.set(await store.deferred_backlog(now))

    async def _dispatch_all(self, ids: Sequence[str]) -> None:
        """Dispatch messages concurrently, so that their claims and outcomes go in bulk (a Monday
        morning sends the whole weekend's deferred SMS at once); every one is tried, then the
        first failure is raised (the failed ones are due again at the next tick)."""
        limit = asyncio.Semaphore(self.ctx.settings.concurrency)

        async def dispatch_one(nid: str) -> None:
            async with limit:
                await self.sender.dispatch(nid)

        results = await asyncio.gather(*(dispatch_one(nid) for nid in ids), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
