"""The published API documents, generated from the code and shipped in docs/: the event API
(AsyncAPI 3, ``docs/asyncapi.json``, with its payload schemas in ``docs/schemas/``) and each
service's HTTP API (OpenAPI 3.1, ``docs/openapi/<service>.json``). ``canopee events schemas`` writes
them all; a test keeps the shipped files equal to what the code generates."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "docs" / "openapi"
SERVICES = ("gateway", "ticketing", "notifications", "feedback", "analytics")

#: placeholders the apps need to be built (their documents do not depend on them)
_BUILD_ENV = {
    "CANOPEE_ADMIN_TOKEN": "apidocs-admin-token-0123456789abcdef",
    "CANOPEE_FEEDBACK_FORM_SECRET": "apidocs-form-secret-0123456789abcdef",
    "CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET": "apidocs-webhook-secret-0123456789ab",
}


@contextmanager
def _build_env() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in _BUILD_ENV}
    os.environ.update(_BUILD_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def openapi_text(service: str) -> str:
    """The service's OpenAPI document as shipped (stable: sorted keys)."""
    with _build_env():
        app = importlib.import_module(f"services.{service}.app").create_app()
        document = app.openapi()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_openapi(directory: Path = OPENAPI_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path = directory / f"{service}.json"
        path.write_text(openapi_text(service), encoding="utf-8")
        written.append(path)
    return written


def stale_openapi(directory: Path = OPENAPI_DIR) -> list[str]:
    """Names of the OpenAPI files that are missing or differ from what the code generates."""
    stale = []
    for service in SERVICES:
        path = directory / f"{service}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != openapi_text(service):
            stale.append(path.name)
    return stale
