"""Unit tests of the group-commit helper (no store: a recording batch function)."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import Coalescer


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        return [ValueError(f"odd {i}") if i % 2 and i > 100 else i * 10 for i in items]


async def test_concurrent_calls_go_as_one_batch_and_each_gets_its_result() -> None:
    run = Recorder()
    coalesce = Coalescer(run)
    results = await asyncio.gather(*(coalesce(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert run.batches == [[0, 1, 2, 3, 4]]


async def test_a_lone_call_does_not_wait_for_company() -> None:
    run = Recorder()
    coalesce = Coalescer(run)
    assert await asyncio.wait_for(coalesce(7), 0.5) == 70
    assert await coalesce(8) == 80
    assert run.batches == [[7], [8]]


async def test_calls_made_while_a_batch_runs_form_the_next_batch() -> None:
    run = Recorder(delay=0.05)
    coalesce = Coalescer(run)
    first = asyncio.ensure_future(coalesce(1))
    await asyncio.sleep(0.01)  # the first batch is running now
    later = [asyncio.ensure_future(coalesce(i)) for i in (2, 3, 4)]
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert run.batches == [[1], [2, 3, 4]]


async def test_batches_are_cut_at_the_maximum_size() -> None:
    run = Recorder()
    coalesce = Coalescer(run, max_batch=3)
    assert await asyncio.gather(*(coalesce(i) for i in range(7))) == [i * 10 for i in range(7)]
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_an_item_error_reaches_its_caller_only() -> None:
    coalesce = Coalescer(Recorder())
    results = await asyncio.gather(coalesce(101), coalesce(102), return_exceptions=True)
    assert isinstance(results[0], ValueError) and str(results[0]) == "odd 101"
    assert results[1] == 1020


async def test_a_batch_failure_reaches_every_caller_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def flaky(items: list[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store away")
        return items

    coalesce = Coalescer(flaky)
    results = await asyncio.gather(coalesce(1), coalesce(2), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await coalesce(3) == 3


async def test_a_wrong_number_of_results_is_an_error_not_a_silent_mismatch() -> None:
    async def short(items: list[int]) -> list[int | BaseException]:
        return items[:-1]

    coalesce = Coalescer(short)
    with pytest.raises(RuntimeError, match="2 items gave 1 results"):
        await asyncio.gather(coalesce(1), coalesce(2))


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    run = Recorder(delay=0.05)
    coalesce = Coalescer(run)
    gone = asyncio.ensure_future(coalesce(1))
    kept = asyncio.ensure_future(coalesce(2))
    await asyncio.sleep(0.01)
    gone.cancel()
    assert await kept == 20
    assert gone.cancelled()
