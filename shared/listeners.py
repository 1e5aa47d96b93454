"""Two listeners for one service: the public one (tenant pages, webhooks, the offices' event
intake) and, when ``CANOPEE_<SERVICE>_ADMIN_PORT`` is set, an operator one (``/metrics``, the
operator API under ``/v1/``, the dashboard, the API documents). Each listener answers 404 for the
other's routes, so a reverse proxy can publish the public port alone. Health routes answer on both.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: routes of the public listener under /v1/ (called from outside: providers, offices' systems)
PUBLIC_V1 = ("/v1/webhooks/", "/v1/events")
OPERATOR_PREFIXES = ("/metrics", "/docs", "/redoc", "/openapi.json", "/dashboard", "/static/analytics")


def is_operator_route(path: str) -> bool:
    if path.startswith("/health/"):
        return False
    if path.startswith("/v1/"):
        return not path.startswith(PUBLIC_V1)
    return path.startswith(OPERATOR_PREFIXES)


def is_health_route(path: str) -> bool:
    return path.startswith("/health/")


class ListenerSplit:
    """ASGI middleware: operator routes only on ``admin_port``, the others only elsewhere."""

    def __init__(self, app: ASGIApp, admin_port: int) -> None:
        self.app = app
        self.admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_health_route(scope["path"]):
            server = scope.get("server") or (None, None)
            on_admin = server[1] == self.admin_port
            if on_admin != is_operator_route(scope["path"]):
                body = b'{"type":"about:blank","title":"Not Found","status":404}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 404,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", b"%d" % len(body)),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (what uvicorn is given when it serves several ports)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock
