"""The projection write when two upserts of a new request race on the local store (FerretDB answers
the losing bulk without ``nModified``, which PyMongo cannot read): the chunk is written again once."""

from __future__ import annotations

from typing import Any

import pytest

from services.ticketing import store as store_module
from services.ticketing.store import MongoRequestRepository


class Collection:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls: list[int] = []

    async def bulk_write(self, ops: list[Any], ordered: bool) -> None:
        self.calls.append(len(ops))
        if self.failures:
            raise self.failures.pop(0)


def repository(collection: Collection, monkeypatch: pytest.MonkeyPatch) -> MongoRequestRepository:
    monkeypatch.setattr(store_module, "summary_doc", lambda summary: summary)
    repo = MongoRequestRepository.__new__(MongoRequestRepository)
    repo.collection = collection  # type: ignore[assignment]
    return repo


async def test_a_raced_upsert_answered_without_nmodified_is_written_again(monkeypatch: pytest.MonkeyPatch) -> None:
    collection = Collection([KeyError("nModified")])
    await repository(collection, monkeypatch).write([{"_id": "demo-nord|REQ-1"}])  # type: ignore[list-item]
    assert collection.calls == [1, 1]


async def test_the_second_failure_and_any_other_key_error_are_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    twice = Collection([KeyError("nModified"), KeyError("nModified")])
    with pytest.raises(KeyError):
        await repository(twice, monkeypatch).write([{"_id": "demo-nord|REQ-1"}])  # type: ignore[list-item]
    other = Collection([KeyError("n")])
    with pytest.raises(KeyError):
        await repository(other, monkeypatch).write([{"_id": "demo-nord|REQ-1"}])  # type: ignore[list-item]
    assert (twice.calls, other.calls) == ([1, 1], [1])
