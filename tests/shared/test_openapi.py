"""Every service's OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator), and the
copies shipped in docs/openapi/ are the ones the code generates (with docs/asyncapi.json, written by
``canopee events schemas``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from shared.apidocs import OPENAPI_DIR, openapi_text
from shared.asyncapi import asyncapi_text
from tools.cli import main

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
def test_the_shipped_openapi_document_is_current(service: str) -> None:
    shipped = OPENAPI_DIR / f"{service}.json"
    assert shipped.is_file() and shipped.read_text(encoding="utf-8") == openapi_text(service), (
        "regenerate: canopee events schemas"
    )


def test_canopee_events_schemas_writes_every_published_document(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    assert main(["events", "schemas", "--out", str(out)]) == 0
    assert (tmp_path / "asyncapi.json").read_text(encoding="utf-8") == asyncapi_text()
    assert sorted(p.name for p in (tmp_path / "openapi").iterdir()) == sorted(f"{s}.json" for s in SERVICES)
    assert main(["events", "schemas", "--out", str(out), "--check"]) == 0
    (tmp_path / "openapi" / "gateway.json").write_text("{}", encoding="utf-8")
    (tmp_path / "asyncapi.json").unlink()
    assert main(["events", "schemas", "--out", str(out), "--check"]) == 1


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
