"""Consumer lag arithmetic (committed offsets vs end offsets)."""

from __future__ import annotations

from aiokafka import TopicPartition

from services.analytics.lag import lag_by_topic


def test_lag_sums_partitions_per_topic_without_prefix() -> None:
    a0, a1, b0 = (
        TopicPartition("p.office.requests", 0),
        TopicPartition("p.office.requests", 1),
        TopicPartition("p.x", 0),
    )
    committed = {a0: 10, a1: 4, b0: 7}
    end = {a0: 15, a1: 4, b0: 9}
    assert lag_by_topic(committed, end, "p.") == {"office.requests": 5, "x": 2}


def test_never_committed_or_unknown_partitions_are_not_counted() -> None:
    a0, a1 = TopicPartition("t", 0), TopicPartition("t", 1)
    assert lag_by_topic({a0: -1, a1: 3}, {a1: 8}) == {"t": 5}
    assert lag_by_topic({a0: 5}, {}) == {}
    # an end offset behind the committed one (topic recreated) is no negative lag
    assert lag_by_topic({a0: 9}, {a0: 2}) == {"t": 0}
