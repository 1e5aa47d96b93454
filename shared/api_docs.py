"""What every service's OpenAPI document declares beyond FastAPI's defaults: the security scheme of
each route and its problem responses (RFC 9457, ``application/problem+json``).

``document_api(app)`` (called by ``shared.http.install_problem_handlers``, so every service and
every route added later gets it) post-processes the generated document:

- operator routes (``/v1/…``) require ``bearerAuth`` (an office or network token, shared/auth.py)
  unless they declare their own security; ``/v1/webhooks/…`` require ``webhookSignature``
  (Standard Webhooks headers, shared/webhooks.py);
- each of those routes declares 401, 403, 404, 409, 422 and 429 as problem responses;
- FastAPI's own 422 (a JSON ``HTTPValidationError``) becomes a problem response everywhere, as the
  problem handlers answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM = "application/problem+json"
METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["title", "status"],
}
PROBLEMS = {
    "401": "no credentials, unknown ones, or a bad webhook signature",
    "403": "credentials not allowed here (another office, a read-only token)",
    "404": "no such resource (or not visible to the caller)",
    "409": "conflicts with the current state (e.g. a replayed webhook call)",
    "422": "invalid request",
    "429": "too many requests (rate limit, failed authentications); see Retry-After",
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "an office token (office-read or office-operator) or a network-admin token",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature headers",
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _secured(path: str) -> str | None:
    if path.startswith("/v1/webhooks/"):
        return "webhookSignature"
    if path.startswith("/v1/"):
        return "bearerAuth"
    return None


def complete(document: dict[str, Any], secured: Callable[[str], str | None] = _secured) -> dict[str, Any]:
    """The document with security schemes and problem responses added (in place, returned)."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schemes = components.setdefault("securitySchemes", {})
    for path, item in document.get("paths", {}).items():
        scheme = secured(path)
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if scheme is not None:
                if "security" not in operation:
                    operation["security"] = [{scheme: []}]
                    schemes[scheme] = SECURITY_SCHEMES[scheme]
                for code, description in PROBLEMS.items():
                    existing = responses.get(code)
                    if existing is None:
                        responses[code] = _problem(description)
                    elif PROBLEM not in existing.get("content", {}):
                        responses[code] = _problem(existing.get("description") or description)
            elif "422" in responses and PROBLEM not in responses["422"].get("content", {PROBLEM: None}):
                responses["422"] = _problem(responses["422"].get("description") or PROBLEMS["422"])
    return document


def document_api(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (computed once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if getattr(app, "_documented", None) is None:
            app.openapi_schema = None
            app._documented = complete(generate())  # type: ignore[attr-defined]
            app.openapi_schema = app._documented  # type: ignore[attr-defined]
        documented: dict[str, Any] = app._documented  # type: ignore[attr-defined]
        return documented

    app.openapi = openapi  # type: ignore[method-assign]
