"""The resources every service runs on, created in the app's lifespan (never at import):
metrics registry, Kafka broker and publisher, MongoDB client; plus readiness and serving."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.bus import Consumer, EventHandler, Publisher, make_broker
from shared.http import health_router
from shared.listeners import ListenerSplit, bind
from shared.observability import ConsumerMetrics
from shared.offices import Offices
from shared.producer import BrokerProducer
from shared.settings import ServiceSettings, load_offices_from
from shared.store import Document, Index, ensure_indexes, make_client, ping

T = TypeVar("T")

log = logging.getLogger("canopee.runtime")

#: objects allocated before the collector's youngest generation is scanned (CPython's default: 700)
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Consumers allocate many short-lived objects (records, validated events) while Kafka's fetch
    buffers keep many long-lived ones: with CPython's default threshold the collector keeps
    rescanning those buffers. A larger young generation and freezing what start-up created
    removes most of that work (measured by bench/bus.py)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


@dataclass
class Runtime:
    settings: ServiceSettings
    offices: Offices
    registry: CollectorRegistry
    metrics: ConsumerMetrics
    broker: KafkaBroker
    publisher: Publisher
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    consumers: list[Consumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    @classmethod
    def create(cls, settings: ServiceSettings, offices: Offices | None = None) -> Runtime:
        registry = CollectorRegistry()
        broker = make_broker(settings, registry)
        mongo = make_client(settings.mongo_url)
        return cls(
            settings=settings,
            offices=offices or load_offices_from(settings),
            registry=registry,
            metrics=ConsumerMetrics.create(registry),
            broker=broker,
            publisher=Publisher(BrokerProducer(broker), settings.topic_prefix),
            mongo=mongo,
            db=mongo[settings.database],
        )

    def consume(
        self,
        name: str,
        topics: Sequence[str],
        handler: EventHandler,
        *,
        types: Iterable[str] | None = None,
        check_office: bool = True,
        max_records: int = 500,
    ) -> Consumer:
        consumer = Consumer(
            name=name,
            topics=topics,
            handler=handler,
            settings=self.settings,
            metrics=self.metrics,
            publisher=self.publisher,
            known_offices=frozenset(self.offices.ids) if check_office else None,
            types=frozenset(types) if types is not None else None,
            max_records=max_records,
        )
        consumer.register(self.broker)
        self.consumers.append(consumer)
        return consumer

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]], name: str) -> None:
        """Run ``job`` periodically in the background until the runtime stops; errors are logged."""

        async def loop() -> None:
            while not self._stopping:
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background job %s failed", name)
                await asyncio.sleep(seconds)

        self._tasks.append(asyncio.create_task(loop(), name=name))

    @contextlib.asynccontextmanager
    async def serving(
        self,
        app: FastAPI,
        *,
        indexes: Iterable[Index] = (),
        jobs: Iterable[tuple[float, Callable[[], Awaitable[Any]], str]] = (),
        before_stop: Callable[[], Awaitable[Any]] | None = None,
    ) -> AsyncIterator[None]:
        """A service's lifespan around its consumers (already registered with ``consume``): the
        health and metrics routes on ``app`` (the registry is born with the runtime), indexes,
        broker, then the periodic ``jobs`` (seconds, job, name); at exit ``before_stop`` (e.g. let
        work in progress finish), the runtime stopped, the routes removed (an app can restart)."""
        app.state.runtime = self  # for operators' tools and tests (partition assignment, metrics)
        before = len(app.router.routes)
        app.include_router(health_router(self.registry, self.readiness))
        health_routes = app.router.routes[before:]
        try:
            await self.start(indexes=indexes)
            for seconds, job, name in jobs:
                self.every(seconds, job, name=name)
            yield
        finally:
            try:
                if before_stop is not None:
                    await before_stop()
            finally:
                await self.stop()
                app.router.routes[:] = [r for r in app.router.routes if r not in health_routes]

    async def start(self, indexes: Iterable[Index] = ()) -> None:
        self._stopping = False
        await ensure_indexes(self.db, indexes)
        await self.broker.start()
        tune_gc()

    async def stop(self) -> None:
        self._stopping = True
        pending = set(self._tasks)
        while pending:
            # cancelled again while still running: Python 3.11's ``asyncio.wait_for`` (used by the
            # store's driver) can swallow a cancellation that meets a reply; the flag then ends
            # the loop after its current round at the latest
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.mongo.close()

    async def readiness(self) -> dict[str, bool]:
        broker_ok, store_ok = await asyncio.gather(self.broker.ping(1.5), ping(self.mongo, 1.5))
        checks = {"broker": bool(broker_ok), "store": store_ok}
        self.metrics.ready.set(1 if all(checks.values()) else 0)
        return checks


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the service (consumers and HTTP server) in the foreground until SIGINT/SIGTERM; with
    ``admin_port`` set, operator routes on that port only (shared/listeners.py)."""
    served: Any = app if not settings.admin_port else ListenerSplit(app, settings.admin_port)
    config = uvicorn.Config(
        served,
        host=settings.host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    if not settings.admin_port:
        asyncio.run(uvicorn.Server(config).serve())
        return
    sockets = [bind(settings.host, settings.http_port), bind(settings.host, settings.admin_port)]
    asyncio.run(uvicorn.Server(config).serve(sockets=sockets))


class Started(Generic[T]):
    """What a service's lifespan builds for its routes: set once started, cleared at stop; calling
    it before (or after) raises, so a route never runs on a service that is not there."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._value: T | None = None

    def set(self, value: T) -> None:
        self._value = value

    def clear(self) -> None:
        self._value = None

    def __call__(self) -> T:
        if self._value is None:
            raise RuntimeError(f"the {self.service} service is not started")
        return self._value
