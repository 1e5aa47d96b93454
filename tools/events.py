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

    from shared.apidocs import OPENAPI_DIR, stale_openapi, write_openapi
    from shared.asyncapi import ASYNCAPI_FILE, asyncapi_text, write_asyncapi
    from shared.schemas import SCHEMA_DIR, stale_schemas, write_schemas

    directory = Path(args.out) if args.out else SCHEMA_DIR
    # the AsyncAPI document references its payloads as schemas/<type>.json: it goes beside them
    asyncapi = directory.parent / ASYNCAPI_FILE.name
    openapi = directory.parent / OPENAPI_DIR.name
    if args.check:
        stale = stale_schemas(directory) + [f"{openapi.name}/{name}" for name in stale_openapi(openapi)]
        if not asyncapi.is_file() or asyncapi.read_text(encoding="utf-8") != asyncapi_text():
            stale.append(asyncapi.name)
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0
    for path in write_schemas(directory):
        print(path.name)
    print(write_asyncapi(asyncapi).name)
    for path in write_openapi(openapi):
        print(f"{openapi.name}/{path.name}")
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
    schemas = events_sub.add_parser(
        "schemas",
        help="write the JSON Schemas of every event type (docs/schemas/), the AsyncAPI document beside them "
        "(docs/asyncapi.json) and each service's OpenAPI document (docs/openapi/)",
    )
    schemas.add_argument("--out", help="directory (default: docs/schemas of the project)")
    schemas.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    schemas.set_defaults(func=_events_schemas)
