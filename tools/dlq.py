"""``canopee dlq list|show|replay``: dead letters per consumer group, their reasons, replay after a fix.

A dead letter (shared/bus.py) is the original record value and key with headers naming the original
topic, partition, offset, the error class and a reason. Replaying produces the value and key again to
the original topic; consumers are idempotent on event ids, so replaying twice is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.bus import DLQ_ERROR, DLQ_GROUP, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC, SERVICE_GROUPS
from shared.events import CONTENT_TYPE, Topics
from shared.kafka_security import client_options
from shared.producer import KafkaProducer, Record
from shared.settings import CommonSettings, load_settings
from tools.sending import TOOL_TIMEOUT_SECONDS

#: header added to a replayed record: where it was replayed from (dlq topic:partition:offset)
REPLAYED_FROM = "dlq-replayed-from"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers.get(DLQ_TOPIC, "")

    @property
    def reason(self) -> str:
        return self.headers.get(DLQ_REASON, "")

    @property
    def error(self) -> str:
        return self.headers.get(DLQ_ERROR, "")

    def summary(self) -> dict[str, Any]:
        """What ``list`` shows: no value (it may hold personal data), the reason is already masked."""
        where = f"{self.headers.get(DLQ_PARTITION, '?')}:{self.headers.get(DLQ_OFFSET, '?')}"
        return {
            "partition": self.partition,
            "offset": self.offset,
            "original": f"{self.original_topic}:{where}",
            "error": self.error,
            "reason": self.reason,
        }


async def read_dead_letters(
    bootstrap: str, topic: str, timeout: float = 10.0, options: Mapping[str, Any] | None = None
) -> list[DeadLetter]:
    """Every record of a DLQ topic, from the beginning to its current end (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **(options or {}))
    await consumer.start()
    try:
        # the consumer's public topics() discards the partitions: read them from a metadata fetch
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        wanted = {tp: end for tp, end in ends.items() if end > 0}
        out: list[DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while wanted and loop.time() < deadline:
            batch = await consumer.getmany(*wanted, timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < wanted.get(tp, 0):
                        out.append(
                            DeadLetter(
                                topic=record.topic,
                                partition=record.partition,
                                offset=record.offset,
                                timestamp=record.timestamp,
                                key=record.key,
                                value=record.value,
                                headers={k: bytes(v).decode("utf-8", "replace") for k, v in record.headers or ()},
                            )
                        )
                if records and records[-1].offset + 1 >= wanted.get(tp, 0):
                    wanted.pop(tp, None)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def replay(bootstrap: str, letters: Sequence[DeadLetter], options: Mapping[str, Any] | None = None) -> int:
    """Produce each dead letter's key and value to its original topic; returns how many."""
    producer = KafkaProducer(bootstrap, timeout=TOOL_TIMEOUT_SECONDS, client_id="canopee-dlq", options=options or {})
    try:
        await producer.send(
            [
                Record(
                    letter.original_topic,
                    letter.key,
                    letter.value,
                    [
                        ("content-type", letter.headers.get("content-type", CONTENT_TYPE).encode()),
                        (REPLAYED_FROM, f"{letter.topic}:{letter.partition}:{letter.offset}".encode()),
                    ],
                )
                for letter in letters
            ]
        )
    finally:
        await producer.close()
    return len(letters)


def _dlq_topic(settings: CommonSettings, group: str) -> str:
    return Topics.dlq(f"{settings.topic_prefix}{group}")


def _select(letters: Sequence[DeadLetter], args: argparse.Namespace) -> list[DeadLetter]:
    chosen = [d for d in letters if args.partition is None or d.partition == args.partition]
    if getattr(args, "all", False):
        return chosen
    offsets = set(args.offset or [])
    return [d for d in chosen if d.offset in offsets]


def command(args: argparse.Namespace) -> int:
    """Run ``canopee dlq <action>``; see ``register``."""
    settings = load_settings(CommonSettings)
    bootstrap = settings.kafka_bootstrap
    options = client_options(settings)
    if args.dlq_command == "list":
        groups = [args.group] if args.group else list(SERVICE_GROUPS)
        total = 0
        for group in groups:
            letters = asyncio.run(read_dead_letters(bootstrap, _dlq_topic(settings, group), args.timeout, options))
            total += len(letters)
            print(f"{group}\t{len(letters)} dead letter(s)")
            reasons: dict[str, int] = {}
            for letter in letters:
                reasons[f"{letter.error}: {letter.reason}"] = reasons.get(f"{letter.error}: {letter.reason}", 0) + 1
                if args.verbose:
                    s = letter.summary()
                    print(f"  {s['partition']}:{s['offset']}\t{s['original']}\t{s['error']}\t{s['reason']}")
            if not args.verbose:
                for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
                    print(f"  {n}\t{reason}")
        return 0
    letters = asyncio.run(read_dead_letters(bootstrap, _dlq_topic(settings, args.group), args.timeout, options))
    if args.dlq_command == "show":
        chosen = _select(letters, args)
        if not chosen:
            print(f"canopee dlq show: no dead letter at that offset in {args.group}", file=sys.stderr)
            return 1
        for letter in chosen:
            try:
                value: Any = json.loads(letter.value or b"")
            except ValueError:
                value = (letter.value or b"").decode("utf-8", "replace")
            print(
                json.dumps(
                    {
                        **letter.summary(),
                        "group": letter.headers.get(DLQ_GROUP, args.group),
                        "key": (letter.key or b"").decode("utf-8", "replace"),
                        "headers": letter.headers,
                        "value": value,
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        return 0
    chosen = _select(letters, args)
    if not chosen:
        print("canopee dlq replay: nothing selected (give --offset N… or --all)", file=sys.stderr)
        return 1
    if args.dry_run:
        for letter in chosen:
            print(f"would replay {letter.partition}:{letter.offset} to {letter.original_topic}")
        return 0
    count = asyncio.run(replay(bootstrap, chosen, options))
    print(f"replayed {count} dead letter(s) of {args.group}")
    return 0


def register(sub: Any) -> None:
    """Add ``canopee dlq list|show|replay``."""
    dlq = sub.add_parser("dlq", help="inspect and replay dead letters (dlq.{group} topics)")
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters per consumer group, counted by reason")
    listing.add_argument("--group", choices=SERVICE_GROUPS, help="one group (default: every service's)")
    listing.add_argument("-v", "--verbose", action="store_true", help="one line per dead letter")
    show = actions.add_parser("show", help="one dead letter: headers, key and value")
    replay_parser = actions.add_parser("replay", help="produce dead letters again to their original topic")
    for parser in (show, replay_parser):
        parser.add_argument("group", choices=SERVICE_GROUPS)
        parser.add_argument("--offset", type=int, action="append", help="offset of a dead letter (repeatable)")
        parser.add_argument("--partition", type=int, help="only this partition of the DLQ topic")
    replay_parser.add_argument("--all", action="store_true", help="every dead letter of the group")
    replay_parser.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    for parser in (listing, show, replay_parser):
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to read the topic (default 10)")
        parser.set_defaults(func=command)
