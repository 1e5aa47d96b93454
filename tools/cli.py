"""The ``canopee`` command: ``run SERVICE`` (the services' apps) and the operator tools of this
package (events, topics, offices, import, simulate, dlq, mailcatcher, demo-tenants); see
docs/DEVELOPMENT.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from tools import chaos, dlq, events, feeding, forget, mailcatcher, report, tenants

SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")


def _topics_create(args: argparse.Namespace) -> int:
    from shared.bus import all_topics, create_topics
    from shared.kafka_security import client_options
    from shared.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings)

    async def create() -> list[str]:
        return await create_topics(
            settings.kafka_bootstrap,
            all_topics(settings.topic_prefix),
            args.partitions,
            args.replication_factor,
            min_insync_replicas=args.min_insync_replicas,
            retention_ms=int(args.retention_hours * 3_600_000) if args.retention_hours else None,
            dlq_retention_ms=int(args.dlq_retention_days * 86_400_000),
            options=client_options(settings),
        )

    created = asyncio.run(_waiting_for_kafka(create, args.wait))
    for name in all_topics(settings.topic_prefix):
        print(f"{name}\t{'created' if name in created else 'exists'}")
    return 0


async def _waiting_for_kafka(attempt: Any, wait: float) -> Any:
    """``attempt()``, tried again every 2 s while Kafka cannot be reached, for up to ``wait`` seconds
    (a topic-provisioning step started beside a broker that is still starting)."""
    from aiokafka.errors import KafkaConnectionError

    deadline = time.monotonic() + wait
    while True:
        try:
            return await attempt()
        except KafkaConnectionError as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"Kafka not reachable yet ({exc}); trying again", file=sys.stderr, flush=True)
            await asyncio.sleep(2)


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

    events.register(sub)

    topics = sub.add_parser("topics", help="provision Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = topics_sub.add_parser(
        "create", help="create the contract's topics and the services' dead-letter topics (idempotent)"
    )
    create.add_argument("--partitions", type=int, default=6, help="partitions per new topic (default 6)")
    create.add_argument(
        "--replication-factor", type=int, default=1, help="replicas of each new topic (default 1; 3 on a cluster)"
    )
    create.add_argument(
        "--min-insync-replicas",
        type=int,
        default=None,
        help="min.insync.replicas of each new topic (e.g. 2 with 3 replicas)",
    )
    create.add_argument(
        "--retention-hours", type=float, default=None, help="retention of the contract topics (default: the broker's)"
    )
    create.add_argument(
        "--dlq-retention-days", type=float, default=30, help="retention of the dead-letter topics (default 30 days)"
    )
    create.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="try again while Kafka cannot be reached, for up to SECONDS (default 0: fail at once)",
    )
    create.set_defaults(func=_topics_create)
    forget.register(topics_sub)

    offices = sub.add_parser("offices", help="offices file helpers")
    offices_sub = offices.add_subparsers(dest="offices_command", required=True, metavar="ACTION")
    hash_key = offices_sub.add_parser("hash-key", help="print the SHA-256 to store for an office key")
    hash_key.add_argument("key")
    hash_key.set_defaults(func=_offices_hash_key)

    feeding.register(sub)
    dlq.register(sub)
    mailcatcher.register(sub)
    tenants.register(sub)
    chaos.register(sub)
    report.register(sub)
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
