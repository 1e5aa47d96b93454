"""``shared.store.find_in``: long ``$in`` lists are read in chunks an index answers.

The local store pushes an ``$in`` down to its index only up to 2,000 values and reads the whole
collection beyond (deploy/local/ferretdb/README.md): a rollup of a busy day asked for 11,000 facts
at once and took 45 s. The integration test explains, on the real store, every read ``find_in``
makes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.store import IN_CHUNK, Document, find_in, make_client


@dataclass
class Recording:
    """A collection that answers ``find`` from a list and records each filter asked."""

    docs: list[Document]
    filters: list[Document] = field(default_factory=list)

    def find(self, query: Document, projection: Document | None = None) -> AsyncIterator[Document]:
        self.filters.append(query)
        [(name, condition)] = query.items()
        wanted = set(condition["$in"])

        async def matching() -> AsyncIterator[Document]:
            for doc in self.docs:
                if doc[name] in wanted:
                    yield doc if projection is None else {k: doc[k] for k in ("_id", *projection)}

        return matching()


async def test_a_long_list_is_read_in_chunks_each_value_once() -> None:
    collection = Recording([{"_id": f"k{i}", "day": f"d{i % 7}"} for i in range(3000)])
    values = [f"k{i}" for i in range(2500)] + ["k0", "k1", "absent"]
    found = await find_in(collection, "_id", values)  # type: ignore[arg-type]
    assert sorted(d["_id"] for d in found) == sorted(f"k{i}" for i in range(2500))
    assert [len(f["_id"]["$in"]) for f in collection.filters] == [IN_CHUNK, IN_CHUNK, 501]
    asked = [v for f in collection.filters for v in f["_id"]["$in"]]
    assert len(asked) == len(set(asked)) == 2501


async def test_nothing_asked_reads_nothing() -> None:
    collection = Recording([{"_id": "k"}])
    assert await find_in(collection, "_id", []) == []  # type: ignore[arg-type]
    assert collection.filters == []


@pytest.mark.integration
async def test_every_read_is_answered_by_an_index_on_the_real_store(infra: dict[str, Any]) -> None:
    client = make_client(infra["mongo"])
    name = f"t{uuid.uuid4().hex[:10]}_find_in"
    try:
        db = client[name]
        collection = db["facts"]
        await collection.create_index("day")
        await collection.insert_many([{"_id": f"k{i:05d}", "day": f"d{i:05d}", "n": i} for i in range(4500)])
        filters: list[Document] = []

        class Watched:
            def find(self, query: Document, projection: Document | None = None) -> Any:
                filters.append(query)
                return collection.find(query, projection)

        keys = [f"k{i:05d}" for i in range(0, 4500, 1)]
        found = await find_in(Watched(), "_id", keys, {"n": 1})  # type: ignore[arg-type]
        assert sorted(d["n"] for d in found) == list(range(4500))
        found = await find_in(Watched(), "day", [f"d{i:05d}" for i in range(2100)])  # type: ignore[arg-type]
        assert len(found) == 2100
        assert len(filters) == 5 + 3

        async def pushed_down(query: Document) -> bool:
            plan = await db.command("explain", {"find": "facts", "filter": query})
            # MongoDB names no such field: there an index answers an $in of any length
            return bool(plan.get("filterPushdown", True))

        assert all([await pushed_down(f) for f in filters])
        # the same read in one $in: the local store scans (what the chunks avoid)
        if "filterPushdown" in await db.command("explain", {"find": "facts", "filter": filters[0]}):
            assert not await pushed_down({"_id": {"$in": keys}})
    finally:
        await client.drop_database(name)
        await client.close()
