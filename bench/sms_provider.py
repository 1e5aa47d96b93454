"""The local SMS API of the benchmarks in a process of its own, as a provider is: the service's
event loop then does not also serve the provider's side of every send.

``python -m bench.sms_provider PORT`` serves ``POST /messages`` (``SmsApi``) and, for the
benchmark, ``GET /received?count=N&timeout=S`` (waits until N messages were received, then answers
them with their arrival times on the machine's monotonic clock, shared by every process) and
``DELETE /received``. ``SmsProcess`` starts it and reads it from the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.http import running
from tests.support.notifications_fakes import SmsApi

ROOT = Path(__file__).resolve().parent.parent


def app(sms: SmsApi) -> Any:
    served, view = sms.app(), InlineSms(sms)

    async def received(request: Request) -> Response:
        # polled often: this process has nothing else to do, and the arrival is what is timed
        count, timeout = int(request.query_params.get("count", "0")), float(request.query_params.get("timeout", "0"))
        await view.wait(count, timeout, poll=0.002)
        return JSONResponse({"received": sms.received, "arrivals": sms.arrivals})

    async def clear(_: Request) -> Response:
        await view.clear()
        return Response(status_code=204)

    served.router.routes.append(Route("/received", received, methods=["GET"]))
    served.router.routes.append(Route("/received", clear, methods=["DELETE"]))
    return served


class SmsProcess:
    """The benchmark's view of the provider process: what it received, and when."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.AsyncClient(base_url=self.url, timeout=None)
        self.received: list[dict[str, Any]] = []
        self.arrivals: list[float] = []

    async def wait(self, count: int, timeout: float) -> int:
        """Wait until ``count`` messages were received (or ``timeout``); keep them with their
        arrival times; answer how many there are."""
        answer = (await self.client.get("/received", params={"count": count, "timeout": timeout})).json()
        self.received, self.arrivals = answer["received"], answer["arrivals"]
        return len(self.received)

    async def clear(self) -> None:
        await self.client.delete("/received")
        self.received, self.arrivals = [], []


class InlineSms:
    """The same view of an ``SmsApi`` served in the benchmark's own process."""

    def __init__(self, api: SmsApi) -> None:
        self.api = api

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.api.received

    @property
    def arrivals(self) -> list[float]:
        return self.api.arrivals

    async def wait(self, count: int, timeout: float, poll: float = 0.01) -> int:
        deadline = time.monotonic() + timeout
        while len(self.api.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(poll)
        return len(self.api.received)

    async def clear(self) -> None:
        self.api.received.clear()
        self.api.arrivals.clear()


@contextlib.asynccontextmanager
async def sms_provider(port: int, *, inline: bool) -> AsyncIterator[SmsProcess | InlineSms]:
    """The local SMS API on ``port``: in a process of its own, or ``inline`` in this one."""
    if inline:
        api = SmsApi()
        async with running(api.app(), port):
            yield InlineSms(api)
        return
    proc = subprocess.Popen([sys.executable, "-m", "bench.sms_provider", str(port)], cwd=ROOT)
    sms = SmsProcess(port)
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                await sms.client.delete("/received")
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the SMS API process stopped (exit {proc.returncode})")
            await asyncio.sleep(0.1)
        else:
            raise TimeoutError("the SMS API process did not answer in 30 s")
        yield sms
    finally:
        await sms.client.aclose()
        proc.terminate()
        proc.wait(10)


def main() -> None:
    port = int(sys.argv[1])
    # the asyncio loop: its time() is the monotonic clock the benchmark reads (uvloop's is cached)
    uvicorn.run(app(SmsApi()), host="127.0.0.1", port=port, loop="asyncio", log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
