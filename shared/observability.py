"""JSON logs that carry the event id and correlation (and never personal data), and the
metrics every consumer reports."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)
correlation_var: ContextVar[str | None] = ContextVar("correlation", default=None)

# Defence in depth: whatever a log line says, phone numbers and e-mail addresses are masked.
# (the look-behind starts a match only where a run of address characters starts: without it a long
# run with no "@" is rescanned from each of its characters, quadratic time on a hostile record)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SEP = r"[ .\-\u00a0]?"  # French numbers are written spaced, dotted, dashed or run together
_PHONE = re.compile(
    # French, national or international: 06 12 34 56 78, 06.12.34.56.78, +33 6 12 34 56 78,
    # +33 (0)6 12 34 56 78, +33(0)612345678, 0033612345678, 00 33 6 12 34 56 78
    r"(?<![\w+])(?:(?:\+|00)"
    + _SEP
    + r"33"
    + _SEP
    + r"(?:\(0\)"
    + _SEP
    + r")?|0)[1-9](?:"
    + _SEP
    + r"\d{2}){4}(?![\w-])"
    r"|\+\d{8,15}\b"  # E.164 of any country
    r"|\+\d{2,3}(?:[ .]\d{1,3}){3,6}\b"  # international, spaced
)


def mask_personal_data(text: str) -> str:
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, event id, correlation."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": mask_personal_data(record.getMessage()),
        }
        event_id = event_id_var.get()
        if event_id:
            entry["event_id"] = event_id
        correlation = correlation_var.get()
        if correlation:
            entry["correlation"] = correlation
        for key in ("topic", "partition", "offset", "office", "type", "outcome", "count"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = mask_personal_data(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, FastStream's, uvicorn's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ConsumerMetrics:
    """What every consuming service reports about its transport (labels are bounded)."""

    events: Counter
    dead_letters: Counter
    retries: Counter
    handler_seconds: Histogram
    batch_size: Histogram
    ready: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ConsumerMetrics:
        return cls(
            events=Counter(
                "canopee_events_consumed_total",
                "Events consumed, by topic, event type and outcome (ok, invalid, failed).",
                ["topic", "type", "outcome"],
                registry=registry,
            ),
            dead_letters=Counter(
                "canopee_dead_letters_total",
                "Records sent to the dead-letter topic, by consumer group and error class.",
                ["group", "error"],
                registry=registry,
            ),
            retries=Counter(
                "canopee_transient_retries_total",
                "Handler attempts retried after a transient failure (store or broker unreachable).",
                ["group"],
                registry=registry,
            ),
            handler_seconds=Histogram(
                "canopee_handler_seconds",
                "Time to apply one batch of events, by consumer group.",
                ["group"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=registry,
            ),
            batch_size=Histogram(
                "canopee_batch_size",
                "Records per consumed batch, by consumer group.",
                ["group"],
                buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                registry=registry,
            ),
            ready=Gauge(
                "canopee_ready",
                "1 when the broker and the store answer, else 0.",
                registry=registry,
            ),
        )


class MetricFactory:
    """Declares a service's metrics in one registry, one line each: ``m.counter(name, help, *labels)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, list(labels), registry=self.registry)

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, list(labels), registry=self.registry)

    def histogram(self, name: str, documentation: str, *labels: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(name, documentation, list(labels), buckets=tuple(buckets), registry=self.registry)
