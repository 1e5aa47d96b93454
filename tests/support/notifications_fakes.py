"""Local stand-ins of the notifications providers for tests and the benchmark: a real SMTP server
(aiosmtpd) on loopback and a small HTTP SMS API (Starlette) that records requests and can be
told to answer errors first."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class SmsApi:
    """``POST /messages``: answers the scripted statuses first, then 201; records every attempt."""

    script: list[int] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    #: when set, each request waits for this event before being answered (a slow provider)
    hold: asyncio.Event | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.attempts.append(body)
        if self.hold is not None:
            await self.hold.wait()
        status = self.script.pop(0) if self.script else 201
        if status >= 300:
            headers = {"Retry-After": "0"} if status == 429 else None
            return JSONResponse({"error": status}, status_code=status, headers=headers)
        self.received.append(body)
        self.arrivals.append(asyncio.get_running_loop().time())
        return JSONResponse({"id": f"sms-{next(self._ids)}"}, status_code=status)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        #: the client's address and port (its connection) of each message
        self.peers: list[Any] = []
        #: the connections that said goodbye (QUIT)
        self.quits: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.peers.append(session.peer)
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits.append(session.peer)
        return "221 Bye"

    @property
    def connections(self) -> int:
        """How many connections carried the messages."""
        return len(set(self.peers))


class SmtpCatcher:
    """A real SMTP server on 127.0.0.1:``port`` (its own thread), collecting parsed messages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.collector = _Collector()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.collector.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
