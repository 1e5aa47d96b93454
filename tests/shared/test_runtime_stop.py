"""A runtime's stop ends its periodic jobs even when one swallows its cancellation (Python 3.11's
``asyncio.wait_for``, used by the store's driver, can lose a cancellation that meets a reply)."""

from __future__ import annotations

import asyncio

from shared.runtime import Runtime
from shared.settings import ServiceSettings


class JobSettings(ServiceSettings):
    service = "jobtest"
    default_port = 0


async def test_stop_ends_a_job_that_swallowed_its_cancellation() -> None:
    rt = Runtime.create(JobSettings(kafka_bootstrap="127.0.0.1:1", mongo_url="mongodb://127.0.0.1:1"))
    rounds = 0
    swallowed = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        if not swallowed.is_set():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:  # what the driver's race does: the reply wins
                swallowed.set()

    rt.every(0.05, job, name="swallower")
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(rt.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert done, "the stop waits for a loop that never ends"
    assert swallowed.is_set()
    after = rounds
    await asyncio.sleep(0.2)
    assert rounds == after  # the loop is over, not merely waited for
