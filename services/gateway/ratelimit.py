"""Per-office token buckets (pure, clock injected)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """``rate`` tokens per second refill up to ``burst``; one token per event."""

    rate: float
    burst: int
    clock: Callable[[], float]
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, cost: int) -> float:
        """Take ``cost`` tokens for ``key``: 0.0 when allowed, else the seconds to wait before retrying.

        A request costing more than the burst is charged the whole burst, so a large batch is
        never refused forever.
        """
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        needed = float(min(cost, self.burst))
        if bucket.tokens >= needed:
            bucket.tokens -= needed
            return 0.0
        return (needed - bucket.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; never 0 (the client would retry at once)."""
    return str(max(1, math.ceil(seconds)))
