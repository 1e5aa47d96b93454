"""MongoDB plumbing: the async client from settings, index provisioning, ping.

Only what runs on MongoDB and on FerretDB 1.24 is used: no transactions, change streams, TTL or
partial indexes (docs/ARCHITECTURE.md, rules every service follows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

Document = dict[str, Any]

#: the server's code for a write refused by a unique index
DUPLICATE_KEY = 11000


def duplicate_positions(exc: BulkWriteError) -> set[int]:
    """The positions, in the bulk, of the writes refused by a unique key; ``exc`` is raised again
    when it holds any other error (a bulk whose only errors are duplicates did what it had to)."""
    errors = exc.details.get("writeErrors", ())
    if any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return {int(e["index"]) for e in errors}


async def insert_many_once(collection: AsyncCollection[Document], docs: Sequence[Document]) -> set[int]:
    """Insert ``docs`` unordered; returns the positions whose unique key already existed."""
    if not docs:
        return set()
    try:
        await collection.insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        return duplicate_positions(exc)
    return set()


#: values of one ``$in`` read (``find_in``): the local store answers a longer list by reading the
#: whole collection (deploy/local/ferretdb/README.md: its pushdown stops at 2,000 values), and a
#: list of tens of thousands of keys would near MongoDB's 16 MB command limit
IN_CHUNK = 1000


async def find_in(
    collection: AsyncCollection[Document],
    field: str,
    values: Iterable[Any],
    projection: Document | None = None,
    *,
    chunk: int = IN_CHUNK,
) -> list[Document]:
    """Every document whose ``field`` is one of ``values`` (duplicates asked once; none asked: no
    read), read ``chunk`` values at a time so that an index answers each read."""
    wanted = list(dict.fromkeys(values))
    found: list[Document] = []
    for i in range(0, len(wanted), chunk):
        found += [doc async for doc in collection.find({field: {"$in": wanted[i : i + chunk]}}, projection)]
    return found


async def upsert_bulk(collection: AsyncCollection[Document], ops: Sequence[Any]) -> None:
    """``bulk_write`` of upserts, unordered, where two instances may upsert the same new document
    at once. The loser's write is refused by the unique ``_id`` and raised as ``BulkWriteError``
    (the caller decides what to do with it). FerretDB answers that losing bulk without
    ``nModified``, and PyMongo fails on reading the reply with ``KeyError``: the document now
    exists, so the bulk is written once more."""
    try:
        await collection.bulk_write(list(ops), ordered=False)
    except KeyError as exc:
        if exc.args != ("nModified",):
            raise
        await collection.bulk_write(list(ops), ordered=False)


def make_client(
    url: str, timeout_ms: int = 3000, *, socket_timeout_ms: int | None = None
) -> AsyncMongoClient[Document]:
    """An async client that returns timezone-aware UTC datetimes and fails fast when unreachable;
    ``socket_timeout_ms``: how long a request may wait for its reply (None: for ever) — after a
    store's crash a request may otherwise wait for a reply that never comes."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=socket_timeout_ms,
        uuidRepresentation="standard",
        appname="canopee",
    )


async def ping(client: AsyncMongoClient[Document], timeout: float = 2.0) -> bool:
    """True when the store answers ``ping``."""
    try:
        await client.admin.command("ping", maxTimeMS=int(timeout * 1000))
    except PyMongoError:
        return False
    return True


@dataclass(frozen=True)
class Index:
    """One index of a collection; ``keys`` as (field, direction) pairs."""

    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    name: str | None = None

    def model(self) -> IndexModel:
        options: dict[str, Any] = {"unique": self.unique}
        options["name"] = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(list(self.keys), **options)


async def ensure_indexes(db: AsyncDatabase[Document], indexes: Iterable[Index]) -> None:
    """Create the indexes a service needs (creating an existing index is a no-op).

    One index per command: FerretDB 1.24 drops the connection when one ``createIndexes`` names
    several already existing indexes of a non-empty collection (a service restart)."""
    for index in indexes:
        await db[index.collection].create_indexes([index.model()])
