"""``canopee import`` and ``canopee simulate``: feed events to Kafka directly or through a running
gateway (``--via``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.events import CloudEvent
from shared.kafka_security import client_options
from shared.producer import Unavailable
from shared.settings import CommonSettings, load_offices_from, load_settings
from tools.progress import Progress
from tools.sending import GatewayError, GatewaySender, KafkaSender, Sender, demo_keys

DEFAULT_GATEWAY = "http://127.0.0.1:8000"


def _add_via(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--via", choices=("kafka", "gateway"), default="kafka", help="deliver to Kafka directly or through the gateway"
    )
    parser.add_argument(
        "--gateway-url",
        default=os.environ.get("CANOPEE_GATEWAY_URL", DEFAULT_GATEWAY),
        help=f"with --via gateway (default {DEFAULT_GATEWAY}, or CANOPEE_GATEWAY_URL)",
    )


def _sender(args: argparse.Namespace, settings: CommonSettings, keys: dict[str, str]) -> Sender:
    if args.via == "gateway":
        return GatewaySender(args.gateway_url, keys)
    return KafkaSender(settings.kafka_bootstrap, settings.topic_prefix, client_options(settings))


# --- import -----------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from tools.importer import Summary, describe_mapping_error, load_mapping, read_rows

    settings = load_settings(CommonSettings)
    offices = load_offices_from(settings)
    office = offices.get(args.office)
    if office is None:
        print(f"canopee import: unknown office {args.office!r} (offices: {', '.join(offices.ids)})", file=sys.stderr)
        return 2
    try:
        mapping = load_mapping(Path(args.mapping))
    except OSError as exc:
        print(f"canopee import: cannot read the mapping {args.mapping}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        reason = describe_mapping_error(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"canopee import: mapping {args.mapping}: {reason}", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding=mapping.csv.encoding, newline="") as handle:
            lines = handle.readlines()
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        print(f"canopee import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    summary = Summary()
    good: list[CloudEvent] = []
    for result in read_rows(lines, mapping, office.id, office.tz):
        summary.rows += 1
        if result.event is not None:
            good.append(result.event)
        else:
            summary.bad.append(result)
            print(f"line {result.line}: {result.reason}", file=sys.stderr)
    sent = 0
    refused: list[tuple[str, str]] = []
    if not args.dry_run and good:
        key = args.key or os.environ.get("CANOPEE_GATEWAY_KEY") or f"{office.id}-demo-key"
        try:
            sent, refused = asyncio.run(_deliver(_sender(args, settings, {office.id: key}), good, "import"))
        except Unavailable as exc:
            print(f"canopee import: {exc}", file=sys.stderr)
            return 1
        for event_id, reason in refused:
            print(f"event {event_id}: refused by the gateway: {reason}", file=sys.stderr)
    verb = "valid (dry run, nothing sent)" if args.dry_run else "imported"
    count = len(good) if args.dry_run else sent
    print(f"{summary.rows} rows: {count} {verb}, {len(summary.bad)} bad rows, {len(refused)} refused")
    return 1 if summary.bad or refused else 0


async def _deliver(
    sender: Sender, events: Sequence[CloudEvent], label: str, batch: int = 100
) -> tuple[int, list[tuple[str, str]]]:
    progress = Progress(label, len(events))
    accepted = 0
    refused: list[tuple[str, str]] = []
    try:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            report = await sender.send(chunk)
            accepted += report.accepted
            refused.extend(report.refused)
            progress.update(len(chunk))
    finally:
        progress.close()
        await sender.close()
    return accepted, refused


# --- simulate ---------------------------------------------------------------------------------


def _parse_start(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give an offset, e.g. 2026-11-02T08:00:00+01:00")
    return moment


def _simulate(args: argparse.Namespace) -> int:
    from tools.simulator import SimulatorConfig, run_simulation

    settings = load_settings(CommonSettings)
    offices = load_offices_from(settings)
    chosen = args.offices.split(",") if args.offices else offices.ids
    unknown = [o for o in chosen if o not in offices]
    if unknown:
        print(f"canopee simulate: unknown office(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.count is None and args.duration is None and args.days is None:
        print("canopee simulate: give --count, --duration or --days", file=sys.stderr)
        return 2
    if args.live and args.speed is not None:
        print("canopee simulate: --live paces on the wall clock; it does not take --speed", file=sys.stderr)
        return 2
    start = args.start
    if start is None:
        # the simulated period ends about now, so deadlines and the notification horizon make sense
        # (with --live it starts now)
        span = 0 if args.live else args.days * 86400 if args.days else (args.duration or 0) * (args.speed or 0)
        start = datetime.now(UTC) - timedelta(seconds=span)
    config = SimulatorConfig(
        seed=args.seed,
        offices=tuple(chosen),
        start=start,
        requests_per_day=args.requests_per_day,
        live_from=args.live_from,
        live_requests_per_day=args.live_requests_per_day,
    )
    if args.dry_run:
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
        try:
            count = run_simulation(config, None, args, out=out)
        finally:
            if out is not sys.stdout:
                out.close()
    else:
        sender = _sender(args, settings, demo_keys(chosen, args.key_template))
        try:
            count = run_simulation(config, sender, args)
        except (GatewayError, Unavailable) as exc:
            print(f"canopee simulate: {exc}", file=sys.stderr)
            return 1
    print(f"{count} events {'written' if args.dry_run else 'sent'}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``import`` and ``simulate`` to the ``canopee`` command."""
    imp = sub.add_parser(
        "import",
        help="import an office's CSV export (one row per request event) as events",
        description="Rows that fail are reported with their line number and reason; the others are imported. "
        "Event ids are a hash of the office and the row, so importing a file again changes nothing. "
        "Exit 0 when every row was imported, 1 when some were not, 2 when the input is unusable.",
    )
    imp.add_argument("file", help="the CSV file")
    imp.add_argument("--office", required=True, help="the office the rows belong to")
    imp.add_argument("--mapping", required=True, help="TOML mapping of columns to fields (deploy/import/)")
    imp.add_argument("--dry-run", action="store_true", help="check every row, send nothing")
    imp.add_argument("--key", help="the office's gateway key (default CANOPEE_GATEWAY_KEY, else the demo key)")
    _add_via(imp)
    imp.set_defaults(func=_import)

    sim = sub.add_parser(
        "simulate",
        help="generate realistic traffic for the demo offices",
        description="Requests, assignments, appointments (some missed), on-holds, repairs, closings, "
        "reopenings, contact updates, opt-outs and ratings, in simulated time. Stops after --count "
        "events, --duration wall seconds or --days simulated days, whichever comes first.",
    )
    sim.add_argument("--seed", type=int, default=1, help="same seed, same events (default 1)")
    sim.add_argument("--count", type=int, help="stop after this many events")
    sim.add_argument("--duration", type=float, help="stop after this many wall-clock seconds")
    sim.add_argument("--days", type=float, help="stop after this many simulated days")
    sim.add_argument("--rate", type=float, help="at most this many events per wall second")
    sim.add_argument(
        "--speed",
        type=float,
        help="simulated seconds per wall second (e.g. 43200: a month in a minute); default: as fast as allowed",
    )
    sim.add_argument("--start", type=_parse_start, help="simulated start time (default: the period ends now)")
    sim.add_argument("--offices", help="comma-separated office ids (default: every office of the offices file)")
    sim.add_argument("--requests-per-day", type=float, default=30.0, help="new requests per office per day")
    sim.add_argument(
        "--live",
        action="store_true",
        help="pace on the wall clock: events whose time has passed go at once (a history caught up), "
        "later ones when their time comes; with --start in the past, the history's requests go on live",
    )
    sim.add_argument(
        "--live-from",
        type=_parse_start,
        help="from this simulated time on, new requests arrive at --live-requests-per-day (same world)",
    )
    sim.add_argument("--live-requests-per-day", type=float, help="with --live-from: new requests per office per day")
    sim.add_argument(
        "--checkpoint",
        type=Path,
        help="file recording the simulated time sent so far; a later run of the same seed and start "
        "resumes from it (the hour before it is sent again: same ids, dropped as duplicates)",
    )
    sim.add_argument("--key-template", default="{office}-demo-key", help="gateway key of each office")
    sim.add_argument("--dry-run", action="store_true", help="write the events as JSON Lines instead of sending")
    sim.add_argument("--out", help="with --dry-run: the JSON Lines file (default standard output)")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_via(sim)
    sim.set_defaults(func=_simulate)
