"""What the intake needs from outside: a producer of records (Kafka in production, the in-memory
twin ``shared.producer.MemoryProducer`` in unit tests)."""

from __future__ import annotations

from shared.producer import Producer as EventSink
from shared.producer import Record, Unavailable

__all__ = ["EventSink", "Record", "Unavailable"]
