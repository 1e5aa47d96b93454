"""Recompute projections until they are no longer stale.

A projection (a request's state, an analytics fact) is a whole document computed from every
stored event of its key and replaced, never patched: stores such as FerretDB 1.24 do not re-check
a filter atomically with the update it guards. Two instances handling events of one key at once
may therefore write in the wrong order, the one computed from fewer events landing last. After
writing, the store is asked which keys are stale (their stored projection was computed from fewer
events than are stored now); those are computed again, for a bounded number of rounds.

``refresh`` runs that loop over a ``Projection`` port: ``load`` the events of some keys, ``compute``
one key's projection (pure), ``write`` one round's projections (with whatever must be recorded
before them), and find the ``stale`` keys. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

K = TypeVar("K")
F = TypeVar("F")
R = TypeVar("R")


class Projection(Protocol[K, F, R]):
    """What ``refresh`` needs: keys ``K``, stored events (facts) ``F``, computed projections ``R``."""

    async def load(self, keys: Sequence[K]) -> Mapping[K, Sequence[F]]:
        """The stored events of ``keys`` (a key with none may be missing or map to an empty list)."""
        ...

    def compute(self, key: K, facts: Sequence[F]) -> R | None:
        """The projection of ``key`` from all its events; None: nothing to write for it."""
        ...

    async def write(self, projections: Mapping[K, R]) -> None:
        """Write one round's projections (and what must be recorded before them)."""
        ...

    async def stale(self, keys: Sequence[K]) -> Sequence[K]:
        """The keys among ``keys`` whose stored projection is older than their stored events."""
        ...


@dataclass(frozen=True)
class Refreshed(Generic[K, R]):
    """What ``refresh`` did."""

    #: the last projection computed for each key (keys whose ``compute`` gave None are absent)
    projections: dict[K, R] = field(default_factory=dict)
    #: keys still stale after the last round (empty unless every round found some)
    stale: list[K] = field(default_factory=list)
    #: rounds run (one load, compute and write each)
    rounds: int = 0


async def refresh(
    projection: Projection[K, F, R],
    keys: Sequence[K],
    *,
    rounds: int,
    recheck_all: bool = False,
    check_last: bool = True,
) -> Refreshed[K, R]:
    """Compute and write the projections of ``keys``, then again those found stale, for at most
    ``rounds`` rounds (``rounds`` >= 1). Duplicate keys are computed once per round.

    After each round's ``write``, ``stale`` is asked about the keys of that round, or about every
    key of the call with ``recheck_all``. With ``check_last=False`` the last round is not followed
    by a ``stale`` check (``Refreshed.stale`` is then always empty). The caller decides what keys
    still stale mean (retry the batch later, or accept them: their concurrent writer checks too).
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    every = list(dict.fromkeys(keys))
    pending = every
    done: dict[K, R] = {}
    for n in range(1, rounds + 1):
        loaded = await projection.load(pending)
        computed: dict[K, R] = {}
        for key in pending:
            result = projection.compute(key, loaded.get(key, ()))
            if result is not None:
                computed[key] = result
        await projection.write(computed)
        done.update(computed)
        if n == rounds and not check_last:
            return Refreshed(done, [], n)
        pending = list(dict.fromkeys(await projection.stale(every if recheck_all else pending)))
        if not pending:
            return Refreshed(done, [], n)
    return Refreshed(done, pending, rounds)
