"""Group commit for store round trips: calls made by concurrent tasks are gathered and run as one
batch (one ``$in`` read, one ``insert_many``, one ``bulk_write``) instead of one round trip each.

A call never waits for company: when no batch of its kind is running, the calls gathered so far
go at the next turn of the event loop. While one runs, new calls queue for the next, so batches
grow with the load by themselves and a lone call costs what it did before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: FerretDB 1.24 stalls on update commands of 100 statements or more; 50 is well below
DEFAULT_MAX_BATCH = 50


class Coalescer(Generic[T, R]):
    """``await coalescer(item)`` returns what ``run`` gave for that item.

    ``run`` receives the items of one batch and returns one result per item, in order; a result
    that is an exception is raised to that item's caller only, and an exception raised by
    ``run`` itself goes to every caller of the batch.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._run = run
        self._max = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._scheduled or self._running or not self._queue:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if self._running or not self._queue:
            return
        batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        self._running = True
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} items gave {len(results)} results")
        except BaseException as exc:  # every caller of the batch learns it (incl. cancellation)
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller was cancelled meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._running = False
            self._schedule()
