"""How the command-line tools deliver events: straight to Kafka, or through a running gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shared.events import CloudEvent
from shared.producer import KafkaProducer, record_of

#: how long the tools wait for Kafka to connect or acknowledge one call
TOOL_TIMEOUT_SECONDS = 60.0


@dataclass
class SendReport:
    """What a sender did: events acknowledged, and refused ones with their reason."""

    accepted: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason)


class Sender(Protocol):
    async def send(self, events: Sequence[CloudEvent]) -> SendReport: ...

    async def close(self) -> None: ...


class KafkaSender:
    """Produces to the events' topics (with the topic prefix) through the one producer path
    (``shared.producer``: idempotent, ``acks=all``)."""

    def __init__(self, bootstrap: str, prefix: str = "", options: Mapping[str, Any] | None = None) -> None:
        self.prefix = prefix
        self._producer = KafkaProducer(
            bootstrap, timeout=TOOL_TIMEOUT_SECONDS, client_id="canopee-tools", options=options or {}
        )

    async def send(self, events: Sequence[CloudEvent]) -> SendReport:
        await self._producer.send([record_of(e, self.prefix) for e in events])
        return SendReport(accepted=len(events))

    async def close(self) -> None:
        await self._producer.close()


class GatewayError(Exception):
    """The gateway refused a whole request for a reason retrying will not fix (401, 413, 415…)."""


class GatewaySender:
    """Posts batches to ``POST /v1/events`` with each office's key; waits out 429 (Retry-After) and
    retries 503 with backoff, so a rate-limited or briefly unavailable gateway loses nothing."""

    def __init__(
        self,
        url: str,
        keys: dict[str, str],
        batch: int = 100,
        retries: int = 8,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.keys = keys
        self.batch = batch
        self.retries = retries
        self._client = client or httpx.AsyncClient(timeout=30)

    async def send(self, events: Sequence[CloudEvent]) -> SendReport:
        report = SendReport()
        by_office: dict[str, list[CloudEvent]] = {}
        for event in events:
            by_office.setdefault(event.officeid, []).append(event)
        for office, items in by_office.items():
            key = self.keys.get(office)
            if key is None:
                raise GatewayError(f"no key for office {office}")
            for start in range(0, len(items), self.batch):
                await self._post(items[start : start + self.batch], key, report)
        return report

    async def _post(self, events: Sequence[CloudEvent], key: str, report: SendReport) -> None:
        body = b"[" + b",".join(e.to_json() for e in events) + b"]"
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"}
        delay = 0.2
        for _ in range(self.retries + 1):
            try:
                response = await self._client.post(f"{self.url}/v1/events", content=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code == 503:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if response.status_code in (202, 403, 422) and "items" in response.json():
                for item in response.json()["items"]:
                    if item["status"] == 202:
                        report.accepted += 1
                    else:
                        reason = "; ".join(f"{e['field']}: {e['message']}" for e in item.get("errors", []))
                        report.refused.append((str(item.get("id")), reason or str(item["status"])))
                return
            raise GatewayError(f"gateway answered {response.status_code}: {_detail(response)}")
        raise GatewayError("gateway unavailable after retries")

    async def close(self) -> None:
        await self._client.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.content).get("detail", ""))[:200]
    except ValueError:
        return response.text[:200]


def demo_keys(offices: Sequence[str], template: str = "{office}-demo-key") -> dict[str, str]:
    """The demo offices' public keys (``<office>-demo-key``), or another template of the office id."""
    return {office: template.format(office=office) for office in offices}
