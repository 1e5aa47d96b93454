"""The ``canopee`` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    return enumerate(handle, start=1)


def validate_lines(lines: Iterator[tuple[int, str]], out: TextIO) -> bool:
    """Write ``<n>\\tok`` or ``<n>\\tinvalid\\t<reason>`` per non-blank line; True when all are valid."""
    from shared.events import InvalidEvent, parse_event

    all_ok = True
    for number, line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = (
                f"not JSON: {exc.msg} at column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else "not JSON: too deeply nested"
            )
            out.write(f"{number}\tinvalid\t{reason}\n")
            all_ok = False
            continue
        if not isinstance(parsed, dict):
            out.write(f"{number}\tinvalid\tnot a JSON object (got {type(parsed).__name__})\n")
            all_ok = False
            continue
        try:
            parse_event(text)
        except InvalidEvent as exc:
            out.write(f"{number}\tinvalid\t{exc.reason}\n")
            all_ok = False
        else:
            out.write(f"{number}\tok\n")
    return all_ok


def _events_validate(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            handle: TextIO = sys.stdin
            return 0 if validate_lines(_lines(handle), sys.stdout) else 1
        with open(args.file, encoding="utf-8", errors="strict") as handle:
            return 0 if validate_lines(_lines(handle), sys.stdout) else 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"canopee events validate: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2


def _events_schemas(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shared.schemas import SCHEMA_DIR, stale_schemas, write_schemas

    directory = Path(args.out) if args.out else SCHEMA_DIR
    if args.check:
        stale = stale_schemas(directory)
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    for path in write_schemas(directory):
        print(path.name)
    return 0


def _topics_create(args: argparse.Namespace) -> int:
    from shared.bus import all_topics, create_topics
    from shared.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings)
    created = asyncio.run(create_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix), args.partitions))
    for name in all_topics(settings.topic_prefix):
        print(f"{name}\t{'created' if name in created else 'exists'}")
    return 0


def _offices_hash_key(args: argparse.Namespace) -> int:
    from shared.offices import hash_key

    print(hash_key(args.key))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(f"services.{args.service}.app")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"services.{args.service}"):
            print(f"canopee run: the {args.service} service is not part of this build", file=sys.stderr)
            return 2
        raise
    module.main()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canopee",
        description="Canopée Esprit Client: tenant-relationship services for social-housing offices.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one service (its consumers and HTTP server) in the foreground")
    run.add_argument("service", choices=SERVICES)
    run.set_defaults(func=_run)

    events = sub.add_parser("events", help="check events against the contract, export its JSON Schemas")
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    validate = events_sub.add_parser(
        "validate",
        help="validate CloudEvents in JSON Lines",
        description="Prints '<line>\\tok' or '<line>\\tinvalid\\t<reason>' per non-blank line. "
        "Exit 0 when all are valid, 1 when any is invalid, 2 when the file cannot be read.",
    )
    validate.add_argument("file", help="JSON Lines file, or - for standard input")
    validate.set_defaults(func=_events_validate)
    schemas = events_sub.add_parser("schemas", help="write the JSON Schemas of every event type (docs/schemas/)")
    schemas.add_argument("--out", help="directory (default: docs/schemas of the project)")
    schemas.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    schemas.set_defaults(func=_events_schemas)

    topics = sub.add_parser("topics", help="provision Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = topics_sub.add_parser(
        "create", help="create the contract's topics and the services' dead-letter topics (idempotent)"
    )
    create.add_argument("--partitions", type=int, default=6, help="partitions per new topic (default 6)")
    create.set_defaults(func=_topics_create)

    offices = sub.add_parser("offices", help="offices file helpers")
    offices_sub = offices.add_subparsers(dest="offices_command", required=True, metavar="ACTION")
    hash_key = offices_sub.add_parser("hash-key", help="print the SHA-256 to store for an office key")
    hash_key.add_argument("key")
    hash_key.set_defaults(func=_offices_hash_key)

    # each service may add its own commands (e.g. gateway: import, simulate, dlq)
    for service in SERVICES:
        try:
            module = importlib.import_module(f"services.{service}.cli")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"services.{service}"):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except SystemExit as exc:  # ConfigError and friends carry their message
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    return result


if __name__ == "__main__":
    sys.exit(main())
