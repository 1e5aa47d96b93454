"""Every service's OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator)."""

from __future__ import annotations

import importlib

import pytest
from openapi_spec_validator import validate

SERVICES = ["gateway", "ticketing", "notifications", "feedback", "analytics"]
SECRETS = {
    "CANOPEE_ADMIN_TOKEN": "test-admin-token-0123456789abcdef",
    "CANOPEE_FEEDBACK_FORM_SECRET": "test-form-secret-0123456789abcdef",
    "CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET": "test-webhook-secret-0123456789abcd",
}


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_document_is_valid(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    app = importlib.import_module(f"services.{service}.app").create_app()
    document = app.openapi()
    validate(document)  # raises, naming the place, on an invalid document
    assert document["paths"], "no route documented"
