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


@pytest.mark.parametrize("service", SERVICES)
def test_every_operator_route_declares_its_security_and_problem_responses(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    document = importlib.import_module(f"services.{service}.app").create_app().openapi()
    schemes = document["components"]["securitySchemes"]
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith("/v1/")
    ]
    assert operations, "no operator route"
    for path, method, op in operations:
        assert op.get("security"), f"{method} {path}: no security"
        for requirement in op["security"]:
            assert set(requirement) <= set(schemes), f"{method} {path}: undefined scheme"
        for code in ("401", "403", "404", "409", "422", "429"):
            content = op["responses"].get(code, {}).get("content", {})
            assert "application/problem+json" in content, f"{method} {path}: {code} not a problem response"
    # no JSON validation error left anywhere: every 422 is a problem
    for path, item in document["paths"].items():
        for method, op in item.items():
            if "422" in op.get("responses", {}):
                assert "application/problem+json" in op["responses"]["422"]["content"], f"{method} {path}"
