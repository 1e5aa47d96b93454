"""Run an ASGI app (a whole service: lifespan, consumers, HTTP) on a real port inside the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def running(app: Any, port: int, host: str = "127.0.0.1") -> AsyncIterator[str]:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(600):
            if server.started:
                break
            if task.done():
                task.result()  # re-raise a start-up failure
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError("server did not start in 30 s")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=30)
        if not done:  # say where the stop hangs before failing
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                if other is not asyncio.current_task():
                    other.print_stack(limit=12, file=stacks)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise TimeoutError("the service did not stop in 30 s; tasks still running:\n" + stacks.getvalue())
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
