"""``canopee mailcatcher``: a tiny SMTP server for the local demo that writes each mail to a .eml file."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from pathlib import Path
from typing import Any


class _EmlWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self.counter):06d}.eml"
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        await asyncio.to_thread((self.directory / name).write_bytes, content)
        return "250 Message accepted"


def _mailcatcher(args: argparse.Namespace) -> int:
    from aiosmtpd.controller import Controller

    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_EmlWriter(directory), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail catcher listening on {args.host}:{args.port}, writing to {directory}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


def register(subparsers: Any) -> None:
    """Add ``canopee mailcatcher`` to the ``canopee`` command."""
    parser = subparsers.add_parser("mailcatcher", help="a local SMTP server writing each mail to a .eml file (demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", default=".local/run/mail", help="directory of the .eml files")
    parser.set_defaults(func=_mailcatcher)
