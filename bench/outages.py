"""Outages benchmark: extra sends per 1,000 messages under each fault, and the time from the
store's or broker's return to the first message sent — one notifications process on a private
Kafka and store (``deploy/local/infra.sh`` on free ports, data in a temporary folder), a steady
stream of U1 requests, a local SMS API and SMTP server counting calls per reference
(``tests/support/faults.py``). The baseline is the same stream without a fault, in the same run.

The issue's schedule by default: the store killed (``kill -9``) 3 × 30 s, the broker 3 × 10 s,
the instance 5 ×, each brought back on its own data. Sizes: ``CANOPEE_BENCH_OUTAGES_RATE``
(requests/s, default 30), ``_TENANTS`` (default 1500), ``_STORE_DOWN`` (30), ``_BROKER_DOWN``
(10), ``_UP`` (seconds between two faults, 15), ``_LEASE`` (the service's lease, 60),
``_FAULTS`` (which ones, default ``none,store,broker,instance``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from tests.support.faults import Outcome, PrivateInfra, Schedule, run_schedule


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CANOPEE_BENCH_OUTAGES_{name}", default)


async def run() -> None:
    rate = float(_env("RATE", "30"))
    tenants = int(_env("TENANTS", "1500"))
    up = float(_env("UP", "15"))
    lease = float(_env("LEASE", "60"))
    schedules = {
        "none": Schedule("none", kills=0, down=0, up=3 * up),
        "store": Schedule("store", kills=3, down=float(_env("STORE_DOWN", "30")), up=up),
        "broker": Schedule("broker", kills=3, down=float(_env("BROKER_DOWN", "10")), up=up),
        "instance": Schedule("instance", kills=5, down=1, up=up / 2),
    }
    wanted = _env("FAULTS", "none,store,broker,instance").split(",")
    root = Path(tempfile.mkdtemp(prefix="canopee-outages-"))
    infra = PrivateInfra(root)
    print(f"private Kafka {infra.kafka} and store {infra.mongo}, data under {root}", flush=True)
    await infra.up()
    outcomes: list[Outcome] = []
    try:
        for name in wanted:
            schedule = schedules[name]
            schedule.rate, schedule.tenants, schedule.lease = rate, tenants, lease
            schedule.finish = 300 + 3 * lease
            outcome = await run_schedule(infra, root, schedule)
            outcomes.append(outcome)
            print(outcome.line(), flush=True)
    finally:
        await infra.reset()
    print("\nfault      messages  lost  extra  extra/1,000  first send after return (s)  in flight at kills")
    for o in outcomes:
        returns = ", ".join(f"{s:.2f}" for s in o.first_send) or "—"
        flight = f"{sum(o.in_flight)} ({', '.join(map(str, o.in_flight))})" if o.in_flight else "—"
        print(f"{o.fault:<9} {o.produced:>9} {o.lost:>5} {o.extra:>6} {o.per_thousand:>12.1f}  {returns:<27}  {flight}")
    print("(targets: 0 extra for the store and the broker; the instance's extra ≤ its sends in flight)")


def main() -> None:
    asyncio.run(run())
