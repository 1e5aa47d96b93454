"""``shared.store.upsert_bulk``: a bulk of upserts that lost a race on the local store (FerretDB
answers it without ``nModified``, which PyMongo cannot read) is written once more; a refused
duplicate stays the caller's ``BulkWriteError``. Used by ticketing's projections and analytics'
markers and rollups."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from shared.store import upsert_bulk


class Collection:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls: list[tuple[int, bool]] = []

    async def bulk_write(self, ops: list[Any], ordered: bool) -> None:
        self.calls.append((len(ops), ordered))
        if self.failures:
            raise self.failures.pop(0)


async def test_a_bulk_answered_without_nmodified_is_written_again_unordered() -> None:
    collection = Collection([KeyError("nModified")])
    await upsert_bulk(collection, ["a", "b"])  # type: ignore[arg-type]
    assert collection.calls == [(2, False), (2, False)]


async def test_the_second_failure_any_other_key_error_and_a_duplicate_are_raised() -> None:
    twice = Collection([KeyError("nModified"), KeyError("nModified")])
    with pytest.raises(KeyError):
        await upsert_bulk(twice, ["a"])  # type: ignore[arg-type]
    other = Collection([KeyError("n")])
    with pytest.raises(KeyError):
        await upsert_bulk(other, ["a"])  # type: ignore[arg-type]
    duplicate = Collection([BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}]})])
    with pytest.raises(BulkWriteError):
        await upsert_bulk(duplicate, ["a"])  # type: ignore[arg-type]
    assert (twice.calls, other.calls, duplicate.calls) == ([(1, False)] * 2, [(1, False)], [(1, False)])
