"""``canopee topics forget-consumed``: the right to erasure on the bus.

The contract's records carry tenants' references, phones, e-mails and words, and a Kafka log is
append-only: a record cannot be rewritten. What can go is the beginning of a partition. Once every
service's consumer group has read past a record (its committed offset is beyond it), the services
hold their own copy, erased on ``tenant.erased``; the record itself is of no further use to them.
This command deletes, in every partition of the contract's topics, the records that every group
consuming that topic has committed past (Kafka's ``DeleteRecords``: the partition's start moves
forward). By default it acts only when a ``tenant.erased`` is among the records so read (an
erasure that every service has applied); ``--always`` acts in any case.

What it costs: the deleted records cannot be read again (a new consumer group, or a replay from
the beginning, starts at the new start). Dead-letter topics are left as they are: their personal
fields are replaced at write time (``shared/privacy.py``). The groups are the services' own
(``shared/bus.py``, ``CONSUMED_TOPICS``); a group that has committed nothing on a partition holds
it whole.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from shared.bus import CONSUMED_TOPICS
from shared.events import Topics, full_type

ERASED = full_type("tenant.erased")


@dataclass(frozen=True)
class Cut:
    """One partition: its first offset, the offset every group has committed past, its end."""

    topic: str
    partition: int
    start: int
    safe: int
    end: int

    @property
    def forgettable(self) -> int:
        return max(0, self.safe - self.start)


def consuming_groups(topic: str, prefix: str) -> list[str]:
    return [f"{prefix}{service}" for service, topics in CONSUMED_TOPICS.items() if topic in topics]


async def plan(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, prefix: str, topics: Sequence[str] = Topics.ALL
) -> list[Cut]:
    """Per partition of ``topics``: how far every consuming group has committed."""
    committed: dict[str, dict[TopicPartition, int]] = {}
    for service in CONSUMED_TOPICS:
        group = f"{prefix}{service}"
        offsets = await admin.list_consumer_group_offsets(group)
        committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}
    cuts: list[Cut] = []
    for topic in topics:
        name = f"{prefix}{topic}"
        partitions = consumer.partitions_for_topic(name)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        if not tps:
            continue
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        groups = consuming_groups(topic, prefix)
        for tp in tps:
            start, end = starts[tp], ends[tp]
            # a group with nothing committed here has read nothing of it: the partition is kept whole
            safe = min((committed[g].get(tp, start) for g in groups), default=start)
            cuts.append(Cut(topic, tp.partition, start, max(start, min(safe, end)), end))
    return cuts


async def erasures_read(consumer: AIOKafkaConsumer, prefix: str, cuts: Sequence[Cut]) -> int:
    """How many ``tenant.erased`` records lie in the forgettable part of ``office.tenants``."""
    ranges = {
        TopicPartition(f"{prefix}{c.topic}", c.partition): (c.start, c.safe)
        for c in cuts
        if c.topic == Topics.OFFICE_TENANTS and c.forgettable
    }
    if not ranges:
        return 0
    consumer.assign(list(ranges))
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    left = set(ranges)
    found = 0
    while left:
        batch = await consumer.getmany(*left, timeout_ms=2000, max_records=1000)
        if not batch:
            break
        for tp, records in batch.items():
            stop = ranges[tp][1]
            for record in records:
                if record.offset >= stop:
                    left.discard(tp)
                    break
                found += _is_erasure(record)
            if records and records[-1].offset + 1 >= stop:
                left.discard(tp)
    return found


def _is_erasure(record: Any) -> bool:
    headers = dict(record.headers or ())
    kind = headers.get("ce_type")
    if kind is not None:
        return bytes(kind).decode("utf-8", "replace") == ERASED
    try:
        return bool(json.loads(record.value or b"null").get("type") == ERASED)
    except (ValueError, AttributeError):
        return False


async def forget_consumed(
    bootstrap: str, prefix: str, options: dict[str, Any], *, always: bool = False, dry_run: bool = False
) -> tuple[list[Cut], int, bool]:
    """(the plan, the erasures among the records read by every service, whether it deleted)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="canopee-forget", **options)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, client_id="canopee-forget", **options
    )
    await admin.start()
    await consumer.start()
    try:
        cuts = await plan(admin, consumer, prefix)
        erasures = await erasures_read(consumer, prefix, cuts)
        act = (always or erasures > 0) and not dry_run
        wanted = {
            TopicPartition(f"{prefix}{c.topic}", c.partition): RecordsToDelete(c.safe) for c in cuts if c.forgettable
        }
        if act and wanted:
            await admin.delete_records(wanted, timeout_ms=30_000)
        return cuts, erasures, act and bool(wanted)
    finally:
        await consumer.stop()
        await admin.close()


def _command(args: argparse.Namespace) -> int:
    from shared.kafka_security import client_options
    from shared.settings import CommonSettings, load_settings

    settings = load_settings(CommonSettings)
    cuts, erasures, deleted = asyncio.run(
        forget_consumed(
            settings.kafka_bootstrap,
            settings.topic_prefix,
            client_options(settings),
            always=args.always,
            dry_run=args.dry_run,
        )
    )
    print("topic\tpartition\tstart\tread by every service\tend\trecords to forget")
    for c in cuts:
        print(f"{c.topic}\t{c.partition}\t{c.start}\t{c.safe}\t{c.end}\t{c.forgettable}")
    total = sum(c.forgettable for c in cuts)
    if deleted:
        print(f"forgot {total} records read by every service ({erasures} erasures among them)")
    elif args.dry_run:
        print(f"dry run: {total} records could be forgotten ({erasures} erasures among them)")
    else:
        print("nothing forgotten: no tenant.erased among the records every service has read (--always to act anyway)")
    return 0


def register(topics_sub: Any) -> None:
    forget = topics_sub.add_parser(
        "forget-consumed",
        help="delete the records every service has read, once a tenant's erasure is among them (erasure on the bus)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forget.add_argument("--dry-run", action="store_true", help="print what would be forgotten, delete nothing")
    forget.add_argument(
        "--always", action="store_true", help="forget what every service has read even without an erasure among it"
    )
    forget.set_defaults(func=_command)
