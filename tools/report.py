"""``canopee report``: the monthly report of an office or the network as a French PDF, built from
analytics' store (the same figures as ``/v1/kpis``; the analytics service need not run); tenants'
words are read from feedback as the service reads them (``CANOPEE_ANALYTICS_FEEDBACK_URL``/``_TOKEN``)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from services.analytics.feedback_words import words_source
from services.analytics.handlers import Analytics
from services.analytics.handlers.reports import MonthlyReports
from services.analytics.report_pdf import render_pdf
from services.analytics.settings import AnalyticsSettings
from services.analytics.store import MongoAnalyticsStore
from shared.settings import load_offices_from, load_settings
from shared.store import make_client

MONTH = re.compile(r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$")


class ReportSettings(AnalyticsSettings):
    """Analytics' settings (``CANOPEE_ANALYTICS_*``, ``CANOPEE_MONGO_URL`` …) without its admin token."""

    needs_admin_token: ClassVar[bool] = False


async def build(office: str | None, month: date, settings: ReportSettings) -> tuple[bytes, tuple[float, float]]:
    offices = load_offices_from(settings)
    client = make_client(settings.mongo_url, timeout_ms=10_000)
    try:
        svc = Analytics(
            offices,
            MongoAnalyticsStore(client[settings.database]),
            contractor_min_repairs=settings.contractor_min_repairs,
        )
        reports = MonthlyReports(
            offices,
            svc.office_indicators,
            svc.contractors,
            lambda r: render_pdf(r, Path(settings.report_font_dir)),
            words=words_source(settings),
            word_excerpts=settings.report_word_excerpts,
        )
        data = await reports.pdf(office, month)
        return data, reports.last_seconds
    finally:
        await client.close()


def command(args: argparse.Namespace) -> int:
    if not MONTH.match(args.month):
        print(f"--month: {args.month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    if (args.office is None) == (not args.network):
        print("give --office ID or --network", file=sys.stderr)
        return 2
    settings = load_settings(ReportSettings)
    offices = load_offices_from(settings)
    if args.office is not None and args.office not in offices:
        print(f"--office: unknown office {args.office!r} (known: {', '.join(offices.ids)})", file=sys.stderr)
        return 2
    month = date.fromisoformat(f"{args.month}-01")
    output = Path(args.output or f"rapport-{args.office or 'reseau'}-{args.month}.pdf")
    data, (figures, drawing) = asyncio.run(build(args.office, month, settings))
    output.write_bytes(data)
    print(f"{output}: {len(data)} bytes (figures {figures:.2f} s, drawing {drawing:.2f} s)")
    return 0


def register(sub: Any) -> None:
    """Add ``canopee report``."""
    parser = sub.add_parser(
        "report",
        help="the monthly report of an office or the network as a French PDF (from analytics' store)",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--office", help="the office's id (offices file)")
    scope.add_argument("--network", action="store_true", help="the whole network")
    parser.add_argument("--month", required=True, help="the month, YYYY-MM")
    parser.add_argument("--output", "-o", help="the PDF to write (default rapport-<office|reseau>-<month>.pdf)")
    parser.set_defaults(func=command)
