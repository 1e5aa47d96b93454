"""Monthly report benchmark, against the real MongoDB-wire store (``CANOPEE_MONGO_URL``): the time
to build the PDF report of one office-month and of the network-month (figures, then drawing) with
the network at 200,000 requests a year (4 offices × ~50,000; ``BENCH_REPORT_CLONES`` scales it:
20 → 200,000, 2 → 20,000; ``BENCH_REPORT_RUNS``: runs per case, 1).

The stored documents are built in Python with the service's own code (``fold`` of a generated
contractor history, cloned with suffixed ids and homes, then ``rollup`` of every office-day) and
bulk-inserted. The store holds the ~71 days around the month at that yearly rate (the month, its
neighbours and the 30 days after it that repeat repairs look at); other months would only add
their small per-day ``nets`` to what a report reads.

Baselines, same run: ``/v1/kpis`` of the same scope and month (the rollup query the report
repeats for its three months and its days), and the contractor figures computed the way they were
before the rollups kept them, by reading every fact of the month and of the 31 days after it
(``ContractorIndicators.scan_facts``; ``BENCH_REPORT_SCAN=0`` skips it,
``BENCH_REPORT_SCAN_TIMEOUT`` (1,800 s) bounds it). Memory: the peak of Python allocations
(``tracemalloc``) during one more call of each, and the process's maximum RSS at the end (the
prepared dataset included).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date

from bench.analytics import kept
from services.analytics.domain.facts import OfficeBook, fold
from services.analytics.domain.records import Fact, RequestFact, StoredEvent, SurveyFact, split_day_key
from services.analytics.domain.rollups import rollup
from services.analytics.handlers import Analytics
from services.analytics.handlers.reports import MonthlyReports
from services.analytics.report_pdf import render_pdf
from services.analytics.store import (
    DIRTY,
    FACT_DAYS,
    FACTS,
    INDEXES,
    NETS,
    ROLLUPS,
    MongoAnalyticsStore,
    fact_document,
    marker_document,
    member_document,
    net_document,
    rollup_document,
)
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.settings import CommonSettings, load_settings
from shared.store import ensure_indexes, make_client
from tests.support.contractor_dataset import generate

MONTH = date(2026, 3, 1)
#: base requests per office over the 71 generated days, × CLONES ≈ 50,000 a year per office
BASE_PER_OFFICE = 490
CLONES = int(os.environ.get("BENCH_REPORT_CLONES", "20"))
CHUNK = 2_000
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "1"))
SCAN = os.environ.get("BENCH_REPORT_SCAN", "1") != "0"
SCAN_TIMEOUT = float(os.environ.get("BENCH_REPORT_SCAN_TIMEOUT", "1800"))


async def _peak_mb(call: Callable[..., Awaitable[object]], *args: object) -> float:
    """The peak of Python allocations (MB) during ``call(*args)``."""
    tracemalloc.start()
    try:
        await call(*args)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


async def _timed(call: Callable[..., Awaitable[object]], *args: object) -> float:
    t0 = time.perf_counter()
    await call(*args)
    return time.perf_counter() - t0


def _clone(fact: Fact, n: int) -> Fact:
    suffix = f"~{n}"
    if isinstance(fact, RequestFact):
        return replace(
            fact,
            key=fact.key + suffix,
            opened_event=(fact.opened_event or "") + suffix,
            housing=(fact.housing + suffix) if fact.housing else None,
        )
    if isinstance(fact, SurveyFact):
        return replace(fact, key=fact.key + suffix, request_id=(fact.request_id or "") + suffix)
    return replace(fact, key=fact.key + suffix)


async def run() -> None:
    settings = load_settings(CommonSettings)
    offices = load_offices(DEMO_OFFICES_FILE)
    book = OfficeBook.of(offices)
    started = time.perf_counter()
    history = generate(tuple(offices.ids), MONTH, per_office=BASE_PER_OFFICE, seed=8, prefix="b", homes=2_000)
    by_key: dict[str, list[StoredEvent]] = {}
    for event in kept(history.cloud_events()):
        by_key.setdefault(event.key, []).append(event)
    base = [fold(key, evs, book.of_key(key)) for key, evs in by_key.items()]
    facts = [_clone(f, n) for f in base for n in range(CLONES)]
    per_day: dict[str, list[Fact]] = {}
    for fact in facts:
        for iso_day in fact.days:
            per_day.setdefault(f"{fact.office}|{iso_day}", []).append(fact)
    by_request = {f.key: f for f in facts if isinstance(f, RequestFact)}
    rollups = []
    for key, day_facts in per_day.items():
        office, day = split_day_key(key)
        rollups.append(replace(rollup(office, day, day_facts, set(), book.tz(office), by_request), gen="bench"))
    requests = sum(1 for f in facts if isinstance(f, RequestFact))
    prepared_s = time.perf_counter() - started
    client = make_client(settings.mongo_url, timeout_ms=120_000)
    db = client[f"bench_reports_{uuid.uuid4().hex[:8]}"]
    try:
        await ensure_indexes(db, INDEXES)
        started = time.perf_counter()
        docs = [fact_document(f) for f in facts]
        for i in range(0, len(docs), CHUNK):
            await db[FACTS].insert_many(docs[i : i + CHUNK])
        members = [member_document(day, f.key) for day, fs in per_day.items() for f in fs]
        for i in range(0, len(members), CHUNK):
            await db[FACT_DAYS].insert_many(members[i : i + CHUNK])
        for i in range(0, len(rollups), 200):
            chunk = rollups[i : i + 200]
            await db[ROLLUPS].insert_many([rollup_document(r) for r in chunk])
            await db[NETS].insert_many([net_document(r.as_net()) for r in chunk])
            await db[DIRTY].insert_many([marker_document(r.key, "bench") for r in chunk])
        load_s = time.perf_counter() - started
        svc = Analytics(offices, MongoAnalyticsStore(db))
        reports = MonthlyReports(offices, svc.office_indicators, svc.contractors, render_pdf)
        print(
            f"reports: {CLONES} clones, {requests:,} requests stored over 71 days "
            f"({requests * 365 // 71:,} a year at that rate), "
            f"{len(facts):,} facts, {len(members):,} memberships, {len(rollups)} office-days "
            f"(prepared in {prepared_s:.1f} s, loaded in {load_s:.1f} s)",
            flush=True,
        )
        end = date(2026, 3, 31)
        cases: list[tuple[str, str | None]] = [("one office-month (demo-est)", "demo-est"), ("network-month", None)]
        for label, scope in cases:
            ids = offices.ids if scope is None else [scope]
            kpis, rolled, totals, figures, drawing, size = [], [], [], [], [], 0
            for _ in range(RUNS):
                kpis.append(await _timed(svc.office_indicators.indicators, ids, MONTH, end, "month"))
                rolled.append(await _timed(svc.contractors.contractors, ids, MONTH, end))
                t0 = time.perf_counter()
                size = len(await reports.pdf(scope, MONTH))
                totals.append(time.perf_counter() - t0)
                figures.append(reports.last_seconds[0])
                drawing.append(reports.last_seconds[1])
            median = statistics.median
            contractors_mb = await _peak_mb(svc.contractors.contractors, ids, MONTH, end)
            report_mb = await _peak_mb(reports.pdf, scope, MONTH)
            print(
                f"  {label}: report {median(totals):.2f} s median (runs {', '.join(f'{t:.2f}' for t in totals)}; "
                f"figures {median(figures):.2f} s, drawing {median(drawing):.2f} s; {size / 1000:.0f} kB; "
                f"peak {report_mb:.0f} MB); /v1/kpis of the month {median(kpis):.2f} s; "
                f"by=contractor from rollups {median(rolled):.2f} s (peak {contractors_mb:.1f} MB)",
                flush=True,
            )
            if SCAN:
                t0 = time.perf_counter()
                try:
                    scanned = await asyncio.wait_for(svc.contractors.scan_facts(ids, MONTH, end), SCAN_TIMEOUT)
                except TimeoutError:
                    print(f"    by=contractor from the facts: not finished in {SCAN_TIMEOUT:.0f} s", flush=True)
                    continue
                scan_s = time.perf_counter() - t0
                same = scanned == await svc.contractors.contractors(ids, MONTH, end)
                scan_mb = await _peak_mb(svc.contractors.scan_facts, ids, MONTH, end) if scan_s < 120 else None
                print(
                    f"    by=contractor from the facts (before): {scan_s:.2f} s"
                    f"{f' (peak {scan_mb:.0f} MB)' if scan_mb is not None else ''} → "
                    f"rollups {scan_s / median(rolled):.0f}× faster; same document: {same}",
                    flush=True,
                )
        print(f"  max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000:.0f} MB")
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
