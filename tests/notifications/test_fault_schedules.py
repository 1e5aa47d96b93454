"""Outages without re-sends, on real infrastructure: one notifications process on a private Kafka
and store (``deploy/local/infra.sh`` on free ports, data in a temporary folder, restarted on its
own data), a steady stream of U1 requests, a local SMS API and SMTP server counting the calls per
reference (``tests/support/faults.py``).

- the store killed (``kill -9``) and brought back three times: nothing lost, no extra send;
- the broker killed and brought back three times: nothing lost, no extra send;
- the instance killed five times: nothing lost, and the only extra sends are of messages whose
  provider had answered and whose outcome was not recorded at the kill (the sends in flight).

Short down-times by default; the issue's schedule (store 3 × 30 s, broker 3 × 10 s) with
``CANOPEE_FAULTS_FULL=1`` (or ``CANOPEE_FAULTS_STORE_DOWN`` / ``_BROKER_DOWN`` seconds), and as
figures per 1,000 messages in ``python -m bench outages``."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.faults import Outcome, PrivateInfra, Schedule, run_schedule

pytestmark = pytest.mark.integration

FULL = os.environ.get("CANOPEE_FAULTS_FULL") == "1"
STORE_DOWN = float(os.environ.get("CANOPEE_FAULTS_STORE_DOWN", "30" if FULL else "6"))
BROKER_DOWN = float(os.environ.get("CANOPEE_FAULTS_BROKER_DOWN", "10" if FULL else "4"))


@pytest_asyncio.fixture(scope="module")
async def private_infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateInfra]:
    infra = PrivateInfra(tmp_path_factory.mktemp("faults"))
    try:
        await infra.up()
        yield infra
    finally:
        await infra.reset()


def _report(outcome: Outcome) -> None:
    print("\n" + outcome.line())  # shown with -s


async def test_the_store_killed_three_times_loses_nothing_and_sends_nothing_twice(
    private_infra: PrivateInfra, tmp_path: Path
) -> None:
    outcome = await run_schedule(private_infra, tmp_path, Schedule("store", kills=3, down=STORE_DOWN, up=5))
    _report(outcome)
    assert outcome.produced > 0 and outcome.lost == 0
    assert outcome.extra == 0, f"re-sent: {sorted(outcome.duplicated)[:5]}"
    assert all(not math.isnan(s) for s in outcome.first_send)  # sending resumed after each return


async def test_the_broker_killed_three_times_loses_nothing_and_sends_nothing_twice(
    private_infra: PrivateInfra, tmp_path: Path
) -> None:
    outcome = await run_schedule(private_infra, tmp_path, Schedule("broker", kills=3, down=BROKER_DOWN, up=5))
    _report(outcome)
    assert outcome.produced > 0 and outcome.lost == 0
    assert outcome.extra == 0, f"re-sent: {sorted(outcome.duplicated)[:5]}"
    assert all(not math.isnan(s) for s in outcome.first_send)


async def test_the_instance_killed_five_times_re_sends_at_most_what_was_in_flight(
    private_infra: PrivateInfra, tmp_path: Path
) -> None:
    outcome = await run_schedule(private_infra, tmp_path, Schedule("instance", kills=5, down=1, up=3))
    _report(outcome)
    assert outcome.produced > 0 and outcome.lost == 0
    assert len(outcome.in_flight) == 5
    assert outcome.extra <= sum(outcome.in_flight)
    assert outcome.duplicated <= outcome.in_flight_refs  # only messages answered and not yet recorded
