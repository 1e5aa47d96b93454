"""The chaos run's local providers: an SMS API that can be told to answer 500, and an SMTP server that
can be taken down and brought back. Both record what they accepted (the notification's reference)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from email import message_from_bytes
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class SmsApi:
    """``POST /messages`` as notifications' HTTP provider expects it; ``failing`` answers 500."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.failing = False
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def _messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        if self.failing:
            self.refused += 1
            return JSONResponse({"error": "provider unavailable"}, status_code=500)
        self.received.append({"reference": body.get("reference"), "at": time.time()})
        return JSONResponse({"id": f"sms-{len(self.received)}"}, status_code=201)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/messages", self._messages, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)


class _Mailbox:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        message = message_from_bytes(content)
        self.received.append({"reference": message.get("X-Canopee-Reference"), "at": time.time()})
        return "250 OK"


class SmtpServer:
    """A local SMTP server (its own thread, aiosmtpd) that ``down()`` stops and ``up()`` restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = _Mailbox()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.mailbox.received

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
