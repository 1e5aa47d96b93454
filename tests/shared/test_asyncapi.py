"""The published event API: docs/asyncapi.json is generated from the contract, kept current, and
valid for the AsyncAPI CLI (installed by `make test` into .local/asyncapi)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shared.asyncapi import ASYNCAPI_FILE, asyncapi_text, render_asyncapi
from shared.events import EVENT_TYPES, Topics

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("CANOPEE_ASYNCAPI_CLI", ROOT / ".local" / "asyncapi" / "node_modules" / ".bin" / "asyncapi"))


def test_the_shipped_document_is_the_generated_one() -> None:
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == asyncapi_text(), "regenerate: canopee events schemas"


def test_every_type_is_a_message_of_its_topic_with_its_schema() -> None:
    doc = render_asyncapi()
    assert {c["address"] for c in doc["channels"].values()} == set(Topics.ALL)
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(EVENT_TYPES)
    for message in doc["components"]["messages"].values():
        schema = ASYNCAPI_FILE.parent / message["payload"]["$ref"]
        assert schema.is_file(), schema
        assert message["contentType"] == "application/cloudevents+json"
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            key = ref["$ref"].rsplit("/", 1)[1]
            assert EVENT_TYPES[doc["components"]["messages"][key]["name"]].topic == channel["address"]
    sends = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values() if op["action"] == "send"}
    assert sends == {"officeRequests", "officeTenants", "feedbackRatings"}


def _validate(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not CLI.exists():
        pytest.fail(f"the AsyncAPI CLI is missing ({CLI}): `make test` installs it (make asyncapi-cli)")
    config = tmp_path / "asyncapi-analytics.json"  # no usage metrics sent anywhere
    config.write_text(json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "tests"}))
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(config), "CI": "true", "SUPPRESS_NO_CONFIG_WARNING": "1"}
    return subprocess.run(
        [str(CLI), "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_asyncapi_cli_finds_the_document_valid(tmp_path: Path) -> None:
    result = _validate(ASYNCAPI_FILE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
    assert "0 errors" in result.stdout


def test_the_asyncapi_cli_refuses_a_broken_document(tmp_path: Path) -> None:
    doc = render_asyncapi()
    first = next(iter(doc["operations"].values()))
    first["channel"] = {"$ref": "#/channels/noSuchChannel"}
    broken = ASYNCAPI_FILE.parent / "asyncapi.broken-test.json"
    try:
        broken.write_text(json.dumps(doc), encoding="utf-8")  # beside the schemas it references
        result = _validate(broken, tmp_path)
    finally:
        broken.unlink(missing_ok=True)
    assert result.returncode != 0
