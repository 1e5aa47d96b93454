"""``canopee events validate|schemas``: check JSON Lines against the contract (docs/EVENTS.md),
write the JSON Schemas of every event type."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO


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


def register(sub: Any) -> None:
    """Add ``canopee events validate|schemas``."""
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
