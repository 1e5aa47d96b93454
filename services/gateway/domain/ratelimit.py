"""Per-office rate limit: a token bucket per office, counted in events (a batch of 100 costs 100)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """``rate`` events per second sustained, ``burst`` at once, per office (in this process)."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, office: str, cost: int) -> float:
        """Take ``cost`` tokens from ``office``'s bucket: 0.0 when allowed, else the seconds to wait
        before the same request would be allowed (nothing is taken then)."""
        now = self.clock()
        bucket = self._buckets.get(office)
        if bucket is None:
            bucket = self._buckets[office] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
